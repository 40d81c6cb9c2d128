package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// send sends a request with exactly the given headers (net/http adds no
// Accept-Encoding of its own, and decodes nothing) and returns the answer
// with its raw body.
func send(t *testing.T, f *fixture, method, path string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(wire.HeaderUser, "alice")
	req.Header.Set("Accept-Encoding", "identity")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got
}

func encode(t *testing.T, enc string, data string) []byte {
	t.Helper()
	b, err := contentenc.Encode(enc, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, enc string, data []byte) string {
	t.Helper()
	r, err := contentenc.NewReader(enc, bytes.NewReader(data), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return string(b)
}

// TestCompressedBodies: pushes are taken in zstd and gzip and answers
// are given in the coding asked for; a compressed push whose content would
// expand past MaxBodyBytes gets 413 and applies nothing, however small it
// is on the wire; a coding the server does not take gets 415.
func TestCompressedBodies(t *testing.T) {
	b := storetest.Backends(t)[0]
	const limit = 1 << 20
	f := newFixture(t, b, server.Config{MaxBodyBytes: limit})
	pushPath := "/push?collections=ss_tb_note"
	for _, enc := range []string{"zstd", "gzip"} {
		id := newID()
		resp, got := send(t, f, "POST", pushPath, map[string]string{"Content-Encoding": enc, "Content-Type": wire.ContentTypeJSON},
			encode(t, enc, pushBody([]string{note(id, "sent in "+enc, false)}, nil, nil)))
		if resp.StatusCode != 200 {
			t.Fatalf("push in %s: %d %s", enc, resp.StatusCode, got)
		}
		// A bomb: one valid row, then 16 MiB of JSON white space, some
		// kilobytes on the wire.
		bomb := newID()
		body := pushBody([]string{note(bomb, "bomb", false)}, nil, nil)
		packed := encode(t, enc, body[:len(body)-1]+strings.Repeat(" ", 16<<20)+"]")
		if len(packed) > limit/8 {
			t.Fatalf("the %s bomb is %d bytes on the wire", enc, len(packed))
		}
		resp, got = send(t, f, "POST", pushPath, map[string]string{"Content-Encoding": enc}, packed)
		if resp.StatusCode != 413 || !strings.Contains(string(got), `"body_too_large"`) {
			t.Fatalf("%s push expanding past the limit: %d %s, want 413 body_too_large", enc, resp.StatusCode, got)
		}
		var n int
		if err := f.db.QueryRow(`SELECT COUNT(*) FROM ss_tb_note WHERE id = ?`, bomb).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the refused %s push left %d rows (%v)", enc, n, err)
		}
	}
	// Not a coding the server takes, or not the coding it claims.
	resp, got := send(t, f, "POST", pushPath, map[string]string{"Content-Encoding": "br"}, []byte("xx"))
	if resp.StatusCode != 415 || !strings.Contains(string(got), `"unsupported_encoding"`) {
		t.Fatalf("push in br: %d %s, want 415 unsupported_encoding", resp.StatusCode, got)
	}
	resp, got = send(t, f, "POST", pushPath, map[string]string{"Content-Encoding": "zstd"}, []byte(pushBody(nil, nil, nil)))
	if resp.StatusCode != 400 || !strings.Contains(string(got), `"unreadable_body"`) {
		t.Fatalf("push claiming zstd in plain JSON: %d %s, want 400 unreadable_body", resp.StatusCode, got)
	}

	// Answers: the same content in every coding, each named by
	// Content-Encoding and Vary.
	_, plain := send(t, f, "GET", "/pull", nil, nil)
	_, plainStream := send(t, f, "GET", "/pull-stream?batch=1", nil, nil)
	for _, c := range []struct{ accept, want string }{{"zstd", "zstd"}, {"gzip", "gzip"}, {"gzip, zstd", "zstd"}, {"zstd;q=0, gzip", "gzip"}, {"br", ""}} {
		for path, want := range map[string]string{"/pull": string(plain), "/pull-stream?batch=1": string(plainStream)} {
			resp, got := send(t, f, "GET", path, map[string]string{"Accept-Encoding": c.accept}, nil)
			if enc := resp.Header.Get("Content-Encoding"); enc != c.want || resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s with Accept-Encoding %q: Content-Encoding %q, Vary %q; want %q", path, c.accept, enc, resp.Header.Get("Vary"), c.want)
			}
			if c.want != "" {
				got = []byte(decode(t, c.want, got))
			}
			if string(got) != want {
				t.Fatalf("%s in %q decodes to %s, want %s", path, c.want, got, want)
			}
		}
	}
	// Errors go as they are.
	resp, got = send(t, f, "GET", "/pull?timestamp=x", map[string]string{"Accept-Encoding": "zstd"}, nil)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(got), "invalid_checkpoint") {
		t.Fatalf("error answer to a client accepting zstd: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Encoding"), got)
	}
}

// TestCompressionOff: a server with DisableCompression answers as it is,
// announces no encodings, and refuses compressed pushes with 415.
func TestCompressionOff(t *testing.T) {
	b := storetest.Backends(t)[0]
	f := newFixture(t, b, server.Config{DisableCompression: true})
	resp, got := send(t, f, "POST", "/handshake", nil, []byte(`{"schemaVersion": 0}`))
	if resp.StatusCode != 200 || strings.Contains(string(got), "encodings") {
		t.Fatalf("handshake: %d %s, want no encodings", resp.StatusCode, got)
	}
	resp, got = send(t, f, "GET", "/pull-stream", map[string]string{"Accept-Encoding": "zstd, gzip"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(got), `"done"`) {
		t.Fatalf("pull-stream: %d %q %s, want it as it is", resp.StatusCode, resp.Header.Get("Content-Encoding"), got)
	}
	resp, got = send(t, f, "POST", "/push?collections=ss_tb_note", map[string]string{"Content-Encoding": "zstd"},
		encode(t, "zstd", pushBody([]string{note(newID(), "x", false)}, nil, nil)))
	if resp.StatusCode != 415 || !strings.Contains(string(got), `"unsupported_encoding"`) {
		t.Fatalf("compressed push: %d %s, want 415 unsupported_encoding", resp.StatusCode, got)
	}
}

// TestCompressedUploads: the handshake lists the codings attachment
// uploads may use; an upload in zstd or gzip stores the decoded content,
// its offsets in decoded bytes (a plain start resumed compressed); a body
// that decodes past Upload-Length gets 413 and its upload is discarded,
// however small it is on the wire; with compression off, 415.
func TestCompressedUploads(t *testing.T) {
	b := storetest.Backends(t)[0]
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, b, server.Config{}, store.WithBlobStore(dir))
	resp, got := send(t, f, "POST", "/handshake", nil, []byte(`{"schemaVersion": 0}`))
	var hs wire.HandshakeResponse
	if err := json.Unmarshal(got, &hs); resp.StatusCode != 200 || err != nil || strings.Join(hs.UploadEncodings, ",") != "zstd,gzip" {
		t.Fatalf("handshake: %d %s, want uploadEncodings zstd, gzip", resp.StatusCode, got)
	}
	put := func(hash string, length, offset int, enc string, body []byte) (*http.Response, []byte) {
		t.Helper()
		hdr := map[string]string{wire.HeaderUploadLength: strconv.Itoa(length), wire.HeaderUploadOffset: strconv.Itoa(offset)}
		if enc != "" {
			hdr["Content-Encoding"] = enc
		}
		return send(t, f, "PUT", "/blobs/"+hash, hdr, body)
	}
	for _, enc := range []string{"zstd", "gzip"} {
		content := strings.Repeat("a line of text sent in "+enc+"\n", 5000)
		h := hashOf(content)
		packed := encode(t, enc, content)
		if resp, got := put(h, len(content), 0, enc, packed); resp.StatusCode != 201 {
			t.Fatalf("upload in %s: %d %s", enc, resp.StatusCode, got)
		}
		if resp, got := send(t, f, "GET", "/blobs/"+h, nil, nil); resp.StatusCode != 200 || string(got) != content {
			t.Fatalf("download of the %s upload: %d, %d bytes, want the %d uploaded", enc, resp.StatusCode, len(got), len(content))
		}

		// Half sent as it is, the rest compressed from that offset.
		content = strings.Repeat("another line, resumed in "+enc+"\n", 5000)
		h = hashOf(content)
		half := len(content) / 2
		if resp, got := put(h, len(content), 0, "", []byte(content[:half])); resp.StatusCode != 204 {
			t.Fatalf("first half: %d %s, want 204", resp.StatusCode, got)
		}
		if resp, got := put(h, len(content), half, enc, encode(t, enc, content[half:])); resp.StatusCode != 201 {
			t.Fatalf("second half in %s: %d %s, want 201", enc, resp.StatusCode, got)
		}
		if resp, got := send(t, f, "GET", "/blobs/"+h, nil, nil); string(got) != content {
			t.Fatalf("download of the resumed %s upload: %d, %d bytes, want %d", enc, resp.StatusCode, len(got), len(content))
		}

		// A bomb: 100,000 bytes announced, 16 MiB inside some kilobytes.
		bomb := strings.Repeat("x", 16<<20)
		bh := hashOf(bomb[:100_000])
		packed = encode(t, enc, bomb)
		if len(packed) > 64<<10 {
			t.Fatalf("the %s bomb is %d bytes on the wire", enc, len(packed))
		}
		resp, got := put(bh, 100_000, 0, enc, packed)
		if resp.StatusCode != 413 || !strings.Contains(string(got), `"blob_too_large"`) || resp.Header.Get(wire.HeaderUploadOffset) != "0" {
			t.Fatalf("%s upload decoding past Upload-Length: %d %q %s, want 413 blob_too_large, Upload-Offset 0", enc, resp.StatusCode, resp.Header.Get(wire.HeaderUploadOffset), got)
		}
		resp, _ = send(t, f, "HEAD", "/blobs/"+bh, map[string]string{wire.HeaderUploadOffset: "0"}, nil)
		if resp.StatusCode != 404 || resp.Header.Get(wire.HeaderUploadOffset) != "0" {
			t.Fatalf("after the refused %s bomb: HEAD %d, Upload-Offset %q; want 404 holding 0 bytes", enc, resp.StatusCode, resp.Header.Get(wire.HeaderUploadOffset))
		}
		if _, err := dir.Stat(t.Context(), bh); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("after the refused %s bomb the blob store has it: %v", enc, err)
		}
	}
	if resp, got := put(hashOf("xx"), 2, 0, "br", []byte("xx")); resp.StatusCode != 415 || !strings.Contains(string(got), `"unsupported_encoding"`) {
		t.Fatalf("upload in br: %d %s, want 415 unsupported_encoding", resp.StatusCode, got)
	}

	off := newFixture(t, b, server.Config{DisableCompression: true}, store.WithBlobStore(dir))
	content := strings.Repeat("text for a server without compression\n", 1000)
	resp, got = send(t, off, "PUT", "/blobs/"+hashOf(content), map[string]string{wire.HeaderUploadLength: strconv.Itoa(len(content)), "Content-Encoding": "zstd"},
		encode(t, "zstd", content))
	if resp.StatusCode != 415 || !strings.Contains(string(got), `"unsupported_encoding"`) {
		t.Fatalf("compressed upload to a server without compression: %d %s, want 415 unsupported_encoding", resp.StatusCode, got)
	}
}
