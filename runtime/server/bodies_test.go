package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
)

// rawRequest writes head (and body) on a fresh connection to the fixture's
// server and reads the answer, failing when none comes within 5 seconds.
// It reports the response and whether the server then closed the
// connection.
func rawRequest(t *testing.T, f *fixture, head, body string) (*http.Response, string, bool) {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimSuffix(f.url, "/api/sync"), "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within 5 s: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, string(b), err == io.EOF
}

// TestUnreadBodies: a request refused before its body is read answers at
// once and closes the connection (no waiting for a body that never comes),
// and a body shorter than its Content-Length is a 400 unreadable_body, not
// a 413.
func TestUnreadBodies(t *testing.T) {
	b := storetest.Backends(t)[0]
	f := newFixture(t, b, server.Config{})
	// No credentials, a body announced but never sent.
	resp, body, closed := rawRequest(t, f, "POST /api/sync/push HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nContent-Type: application/json\r\n", "")
	if resp.StatusCode != 401 || !strings.Contains(body, `"unauthenticated"`) || !closed {
		t.Fatalf("push without credentials and without its body: %d %s (closed %v), want 401 at once and the connection closed", resp.StatusCode, body, closed)
	}
	// A handshake body that ends before its Content-Length.
	short := `{"schemaVersion": 1}`
	head := fmt.Sprintf("POST /api/sync/handshake HTTP/1.1\r\nHost: x\r\nX-Ssync-User: alice\r\nContent-Length: %d\r\nConnection: close\r\n", len(short)+50)
	addr := strings.TrimPrefix(strings.TrimSuffix(f.url, "/api/sync"), "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, head+"\r\n"+short)
	c.(*net.TCPConn).CloseWrite() // the body ends early
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(got), `"unreadable_body"`) {
		t.Fatalf("short handshake body: %d %s, want 400 unreadable_body", resp.StatusCode, got)
	}
}

// TestStoreTextNeverAnswered pushes a value one database refuses (an owner
// longer than MariaDB's indexed VARCHAR(255) sync-id column; NUL, which
// PostgreSQL refuses, no longer reaches the store): the answer names the
// row, with the stable code, and none of the database's own text, on
// every store.
func TestStoreTextNeverAnswered(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		id := newID()
		r := f.do("POST", "/push?collections=ss_tb_note", strings.Repeat("u", 300), "", pushBody([]string{note(id, "long owner", false)}, nil, nil))
		for _, leak := range []string{"SQLSTATE", "too long", "Data", "Error 1", "ss_tb_note_", "ss_sync_id", "constraint", "ssync_test_"} {
			if strings.Contains(r.body, leak) {
				t.Fatalf("push answered %d %s: it carries the database's text (%q)", r.status, r.body, leak)
			}
		}
		if r.status != 200 && (r.status != 422 || !strings.Contains(r.body, `"row_refused"`) || !strings.Contains(r.body, id)) {
			t.Fatalf("push answered %d %s, want 200 or 422 row_refused naming the row", r.status, r.body)
		}
		t.Logf("%s: %d %s", b.Name, r.status, r.body)
	})
}
