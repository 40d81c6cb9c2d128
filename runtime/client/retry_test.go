package client_test

import (
	"bytes"
	"context"
	"net/http"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestSyncHonoursRetryAfter: the steps of a sync, rows and attachment
// content alike, each meet a 503 or a 429 with Retry-After first; the sync
// waits each out and completes.
func TestSyncHonoursRetryAfter(t *testing.T) {
	be := storetest.Backends(t)[0] // the exchange is the same on every store
	h, _ := blobHarness(t, be, server.Config{})
	type refusal struct {
		status int
		at     time.Time
		waited time.Duration
	}
	var mu sync.Mutex
	refuse := map[string]*refusal{}
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		step := path.Base(r.URL.Path)
		if path.Base(path.Dir(r.URL.Path)) == wire.PathBlobs {
			step = wire.PathBlobs
		}
		key := r.Method + " " + step
		mu.Lock()
		f := refuse[key]
		first := f != nil && f.at.IsZero()
		if first {
			f.at = time.Now()
		} else if f != nil && f.waited == 0 {
			f.waited = time.Since(f.at)
		}
		mu.Unlock()
		if !first {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", wire.ContentTypeJSON)
		w.WriteHeader(f.status)
		w.Write(wire.EncodeErrorBody(wire.CodeStoreUnavailable, "busy, come back in a second"))
	}
	h.wrap.Store(&wrap)

	a := h.device("a", "alice")
	data := content(50_000, 7)
	n := noteWithFile(t, a, "with a file", data, "f.bin")
	refuse["HEAD blobs"] = &refusal{status: http.StatusServiceUnavailable}
	refuse["POST push"] = &refusal{status: http.StatusTooManyRequests}
	res, err := a.Synchronize(context.Background(), h.opts(a))
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 1 || len(res.Pushed) == 0 {
		t.Fatalf("uploaded %d attachments, pushed %v", res.Uploaded, res.Pushed)
	}

	b := h.device("b", "alice")
	refuse["GET pull-stream"] = &refusal{status: http.StatusServiceUnavailable}
	refuse["GET blobs"] = &refusal{status: http.StatusTooManyRequests}
	res, err = b.Synchronize(context.Background(), h.opts(b))
	if err != nil {
		t.Fatal(err)
	}
	if res.Downloaded != 1 || len(res.AttachmentFailures) != 0 {
		t.Fatalf("downloaded %d attachments, failures %v", res.Downloaded, res.AttachmentFailures)
	}
	got, _, err := openBytes(t, b, n.ID)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("device B reads %d bytes (%v), want the %d attached on A", len(got), err, len(data))
	}
	for key, f := range refuse {
		if f.at.IsZero() {
			t.Errorf("%s was never refused", key)
		} else if f.waited < time.Second {
			t.Errorf("%s came back after %v, before its Retry-After of 1s", key, f.waited)
		}
	}
}
