package client_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestPushPipelined: a push in parts overlaps the device's work with the
// server's: the second part is saved to the outbox while the server still
// holds the first. A part the server refuses stops the sync with the parts
// after it kept in the outbox, in order, and the parts before it
// acknowledged; the next sync sends what was kept, and every row arrives
// once.
func TestPushPipelined(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h := newHarness(t, be)
	dev := h.device("writer", "alice")
	insertNotes(t, dev, 15, "note")

	var pushes atomic.Int32
	var overlapped, refuse atomic.Bool
	refuse.Store(true)
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if !strings.HasSuffix(r.URL.Path, "/push") {
			next.ServeHTTP(w, r)
			return
		}
		switch pushes.Add(1) {
		case 1:
			// Hold the first part until the device saved the second (an
			// upper bound, not a measurement: a device that waits for
			// the answer never saves it, and the test fails).
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if n, err := dev.PendingPushes(r.Context()); err == nil && n == 2 {
					overlapped.Store(true)
					break
				}
			}
		case 2:
			if refuse.Load() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error": {"code": "invalid_change_set", "message": "refused by the test"}}`))
				return
			}
		}
		next.ServeHTTP(w, r)
	}
	h.wrap.Store(&wrap)
	opts := h.opts(dev)
	opts.PushBatchRows = 5
	if _, err := dev.Synchronize(t.Context(), opts); err == nil {
		t.Fatal("the sync whose second part was refused succeeded")
	}
	if !overlapped.Load() {
		t.Fatal("the device did not save the second part while the server held the first")
	}
	if n, err := dev.PendingPushes(t.Context()); err != nil || n != 2 {
		t.Fatalf("%d pushes kept (%v), want the refused part and the one after it", n, err)
	}
	if n := serverNotes(t, h, "alice"); n != 5 {
		t.Fatalf("the server holds %d notes, want the first part's 5", n)
	}

	refuse.Store(false)
	res, err := dev.Synchronize(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Created != 10 {
		t.Fatalf("the next sync pushed %+v, want the 10 kept notes", res.Pushed)
	}
	if n, err := dev.PendingPushes(t.Context()); err != nil || n != 0 {
		t.Fatalf("%d pushes kept (%v) after the next sync", n, err)
	}
	if n := serverNotes(t, h, "alice"); n != 15 {
		t.Fatalf("the server holds %d notes, want 15 (each once)", n)
	}
	res, err = dev.Synchronize(t.Context(), opts)
	if err != nil || len(res.Pushed) != 0 {
		t.Fatalf("a third sync pushed %+v (%v), want nothing: every row acknowledged", res.Pushed, err)
	}
}

// serverNotes counts the notes of user on the harness's server.
func serverNotes(t *testing.T, h *harness, user string) int {
	t.Helper()
	var n int
	if err := h.st.QueryRow("SELECT COUNT(*) FROM ss_tb_note WHERE ss_sync_id = "+h.ph(1), user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPushFirstPartSmall: a push in parts of 2,000 rows sends a first
// part of 500 (a quarter), so that the server starts on it while the device
// reads and prepares the rest; every row arrives once, in parts that
// follow the order the rows were read in.
func TestPushFirstPartSmall(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h := newHarness(t, be)
	dev := h.device("writer", "alice")
	insertNotes(t, dev, 2600, "note")

	var mu sync.Mutex
	var sizes []int
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/push") {
			body, err := io.ReadAll(r.Body)
			if err == nil && r.Header.Get("Content-Encoding") != "" {
				body, err = contentenc.Decode(r.Header.Get("Content-Encoding"), body, -1)
			}
			sets, derr := wire.DecodeChangeSets(body, generated.Registry(), ssync.DecodeOptions{})
			if err != nil || derr != nil || len(sets) != 1 {
				t.Errorf("push body: %v, %v, %d sets", err, derr, len(sets))
			} else {
				mu.Lock()
				sizes = append(sizes, len(sets[0].Created))
				mu.Unlock()
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			r.Header.Del("Content-Encoding")
		}
		next.ServeHTTP(w, r)
	}
	h.wrap.Store(&wrap)
	opts := h.opts(dev)
	opts.PushBatchRows = 2000
	res, err := dev.Synchronize(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[500 2000 100]" {
		t.Fatalf("parts of %v rows, want [500 2000 100]", sizes)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Created != 2600 || serverNotes(t, h, "alice") != 2600 {
		t.Fatalf("pushed %+v, the server holds %d notes; want 2600", res.Pushed, serverNotes(t, h, "alice"))
	}
	if n, err := dev.PendingPushes(t.Context()); err != nil || n != 0 {
		t.Fatalf("%d pushes kept (%v)", n, err)
	}
}
