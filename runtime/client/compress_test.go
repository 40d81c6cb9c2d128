package client_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

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
