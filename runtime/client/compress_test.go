package client_test

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
)

// TestCompressionInterop: clients with and without compression sync with
// servers with and without it, in every combination; requests and answers
// are compressed exactly when both sides take it.
func TestCompressionInterop(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	for _, serverOff := range []bool{false, true} {
		for _, clientOff := range []bool{false, true} {
			t.Run(fmt.Sprintf("server-compression-%v/client-compression-%v", !serverOff, !clientOff), func(t *testing.T) {
				h := newHarnessWith(t, be, server.Config{DisableCompression: serverOff})
				var mu sync.Mutex
				seen := map[string]string{} // "push" → request coding, "pull-stream" → answer coding
				wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					next.ServeHTTP(w, r)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case strings.HasSuffix(r.URL.Path, "/push"):
						seen["push"] = r.Header.Get("Content-Encoding")
					case strings.HasSuffix(r.URL.Path, "/pull-stream"):
						seen["pull-stream"] = w.Header().Get("Content-Encoding")
					}
				}
				h.wrap.Store(&wrap)
				sync := func(name string) {
					dev := h.device(name, "alice")
					if name == "writer" {
						insertNotes(t, dev, 300, "note")
					}
					opts := h.opts(dev)
					opts.DisableCompression = clientOff
					res, err := dev.Synchronize(t.Context(), opts)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if name == "reader" && (len(res.Pulled) != 1 || res.Pulled[0].Created != 300) {
						t.Fatalf("reader pulled %+v, want 300 notes", res.Pulled)
					}
				}
				sync("writer")
				sync("reader")
				want := "zstd"
				if serverOff || clientOff {
					want = ""
				}
				if seen["push"] != want || seen["pull-stream"] != want {
					t.Fatalf("push sent in %q, pull-stream answered in %q; want %q both", seen["push"], seen["pull-stream"], want)
				}
			})
		}
	}
}

// TestAttachmentCompression: attachment content that compresses (text) is
// downloaded compressed, content that does not (random bytes, like a
// photo) as it is; both arrive intact and count their own bytes.
func TestAttachmentCompression(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h, _ := blobHarness(t, be, server.Config{})
	var mu sync.Mutex
	codings := map[string]string{} // hash → Content-Encoding of its GET
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(w, r)
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			codings[path.Base(r.URL.Path)] = w.Header().Get("Content-Encoding")
			mu.Unlock()
		}
	}
	h.wrap.Store(&wrap)
	a := h.device("a", "alice")
	text := []byte(strings.Repeat("a line of text that repeats, as text does\n", 20_000))
	random := content(300_000, 7)
	tn := noteWithFile(t, a, "text", text, "notes.txt")
	rn := noteWithFile(t, a, "photo", random, "photo.jpg")
	h.sync(a)
	b := h.device("b", "alice")
	res := h.sync(b)
	if res.Downloaded != 2 || res.DownloadedBytes != int64(len(text)+len(random)) {
		t.Fatalf("downloaded %d attachments, %d bytes", res.Downloaded, res.DownloadedBytes)
	}
	if c := codings[tn.File.Hash]; c != "zstd" {
		t.Errorf("text attachment sent in Content-Encoding %q, want zstd", c)
	}
	if c := codings[rn.File.Hash]; c != "" {
		t.Errorf("random attachment sent in Content-Encoding %q, want none", c)
	}
	for id, want := range map[uuid.UUID][]byte{tn.ID: text, rn.ID: random} {
		got, _, err := openBytes(t, b, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("device B reads %d bytes (%v), want the %d attached", len(got), err, len(want))
		}
	}
}
