// Package docs_test checks docs/protocol.md against a real server: every
// http example is sent, in order, and the answer must match.
package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// asWritten sends requests with exactly their documented headers: its
// transport asks for no gzip of its own.
var asWritten = &http.Client{Transport: &http.Transport{DisableCompression: true}}

type example struct {
	line     int
	request  string
	response string
}

// examples reads the ```http blocks of the document and pairs each request
// with the response block after it.
func examples(t *testing.T, path string) []example {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []struct {
		line int
		text string
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	in, start, n := false, 0, 0
	var cur []string
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case !in && line == "```http":
			in, start, cur = true, n, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, struct {
				line int
				text string
			}{start, strings.Join(cur, "\n")})
		case in:
			cur = append(cur, line)
		}
	}
	var out []example
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		if strings.HasPrefix(b.text, "HTTP/") {
			t.Fatalf("%s:%d: a response without a request before it", path, b.line)
		}
		if i+1 >= len(blocks) || !strings.HasPrefix(blocks[i+1].text, "HTTP/") {
			t.Fatalf("%s:%d: a request without a response after it", path, b.line)
		}
		out = append(out, example{line: b.line, request: b.text, response: blocks[i+1].text})
		i++
	}
	return out
}

// split parses a message: first line, headers, body.
func split(msg string) (first string, hdr http.Header, body string) {
	head, body, _ := strings.Cut(msg, "\n\n")
	lines := strings.Split(head, "\n")
	hdr = http.Header{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return lines[0], hdr, body
}

func TestProtocolExamples(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		// The examples' deletion times are the server's present: the
		// server takes a device's deletedAt only near its own clock.
		clock := store.WithClock(func() time.Time { return time.Date(2024, 12, 22, 9, 0, 0, 0, time.UTC) })
		st, _ := b.Store(t, generated.Registry(), blobStore(t), clock)
		url := storetest.Serve(t, st, server.Config{
			SchemaVersion: 1,
			OnHandshake: func(ctx context.Context, h server.Handshake) error {
				if h.SchemaVersion < 1 {
					return fmt.Errorf("schema version %d is no longer supported: update the app", h.SchemaVersion)
				}
				return nil
			},
		})

		exs := examples(t, "protocol.md")
		if len(exs) < 10 {
			t.Fatalf("only %d examples found", len(exs))
		}
		for _, ex := range exs {
			first, hdr, body := split(ex.request)
			parts := strings.Fields(first)
			if len(parts) != 3 {
				t.Fatalf("protocol.md:%d: request line %q", ex.line, first)
			}
			// A body documented with a Content-Encoding is shown decoded:
			// it is sent encoded (but in a coding the server does not
			// take, as it is).
			sent := []byte(body)
			if enc := hdr.Get("Content-Encoding"); contentenc.Known(enc) {
				var err error
				if sent, err = contentenc.Encode(enc, sent); err != nil {
					t.Fatalf("protocol.md:%d: %v", ex.line, err)
				}
			}
			req, err := http.NewRequest(parts[0], url+parts[1], bytes.NewReader(sent))
			if err != nil {
				t.Fatalf("protocol.md:%d: %v", ex.line, err)
			}
			req.Header = hdr
			// Sent as written: no Accept-Encoding but the documented one.
			resp, err := asWritten.Do(req)
			if err != nil {
				t.Fatalf("protocol.md:%d: %v", ex.line, err)
			}
			wantFirst, wantHdr, wantBody := split(ex.response)
			var got []byte
			if strings.HasPrefix(wantHdr.Get("Content-Type"), wire.ContentTypeEvents) {
				// An event stream stays open: read what is documented.
				got = readEvents(t, resp.Body, len(wantBody))
			} else {
				got, _ = io.ReadAll(resp.Body)
			}
			resp.Body.Close()
			// A compressed answer is documented decoded.
			if enc := resp.Header.Get("Content-Encoding"); enc != "" {
				rd, err := contentenc.NewReader(enc, bytes.NewReader(got), -1)
				if err != nil {
					t.Fatalf("protocol.md:%d: %v", ex.line, err)
				}
				if got, err = io.ReadAll(rd); err != nil {
					t.Fatalf("protocol.md:%d: answer in %s: %v", ex.line, enc, err)
				}
			}

			wf := strings.Fields(wantFirst)
			status, _ := strconv.Atoi(wf[1])
			if resp.StatusCode != status {
				t.Fatalf("protocol.md:%d: %s: status %d %s, documented %s", ex.line, first, resp.StatusCode, got, wantFirst)
			}
			for k := range wantHdr {
				if g, w := resp.Header.Get(k), wantHdr.Get(k); !strings.HasPrefix(g, w) {
					t.Fatalf("protocol.md:%d: header %s = %q, documented %q", ex.line, k, g, w)
				}
			}
			if rawAnswer(wantHdr, wantBody) {
				if string(got) != wantBody {
					t.Fatalf("protocol.md:%d: %s: answer %q, documented %q", ex.line, first, got, wantBody)
				}
				continue
			}
			if err := sameJSON(string(got), wantBody, strings.Contains(wantHdr.Get("Content-Type"), "ndjson")); err != nil {
				t.Fatalf("protocol.md:%d: %s: %v\ngot:  %s\ndocumented: %s", ex.line, first, err, got, wantBody)
			}
		}
	})
}

// readEvents reads n bytes of an event stream, or what comes in ten
// seconds (a stream that says less than documented fails the comparison).
func readEvents(t *testing.T, body io.Reader, n int) []byte {
	t.Helper()
	got := make([]byte, n)
	done := make(chan int, 1)
	go func() {
		k, _ := io.ReadFull(body, got)
		done <- k
	}()
	select {
	case k := <-done:
		return got[:k]
	case <-time.After(10 * time.Second):
		return nil
	}
}

// sameJSON compares two JSON documents (or NDJSON streams) by value.
func sameJSON(got, want string, ndjson bool) error {
	if ndjson {
		g := strings.Split(strings.TrimSpace(got), "\n")
		w := strings.Split(strings.TrimSpace(want), "\n")
		if len(g) != len(w) {
			return fmt.Errorf("%d lines, documented %d", len(g), len(w))
		}
		for i := range g {
			if err := sameJSON(g[i], w[i], false); err != nil {
				return fmt.Errorf("line %d: %w", i+1, err)
			}
		}
		return nil
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		return fmt.Errorf("documented answer is not JSON: %w", err)
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("answers differ")
	}
	return nil
}
