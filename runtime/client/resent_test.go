package client_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestResentPushIsReported: a push left in the outbox by a failed sync is
// sent again by the next one, and that sync's Result counts it.
func TestResentPushIsReported(t *testing.T) {
	b := storetest.Backends(t)[0]
	ctx := context.Background()
	h := newHarness(t, b)
	a := h.device("a", "alice")
	if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: "kept for later"}); err != nil {
		t.Fatal(err)
	}
	var refused atomic.Bool
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/push") && refused.CompareAndSwap(false, true) {
			w.Header().Set("Content-Type", wire.ContentTypeJSON)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(wire.EncodeErrorBody(wire.CodeStoreUnavailable, "try later"))
			return
		}
		next.ServeHTTP(w, r)
	}
	h.wrap.Store(&wrap)
	opts := h.opts(a)
	opts.MaxAttempts = 1
	if _, err := a.Synchronize(ctx, opts); err == nil {
		t.Fatal("the first sync succeeded; its push should have been refused")
	}
	if n, err := a.PendingPushes(ctx); err != nil || n != 1 {
		t.Fatalf("pending pushes after the refusal: %d, %v; want 1", n, err)
	}
	res := h.sync(a)
	got := 0
	for _, c := range res.Pushed {
		got += c.Created
	}
	if got != 1 {
		t.Fatalf("the sync that resent the push reports %+v pushed, want the 1 created note", res.Pushed)
	}
}
