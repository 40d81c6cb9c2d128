package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// TestMaxUserRequests holds one push of alice's in progress with
// MaxUserRequests 1: her next request gets 429 with Retry-After and changes
// nothing, bob's is served, and once the push ends she is served again.
func TestMaxUserRequests(t *testing.T) {
	b := storetest.Backends(t)[0]
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := store.Hooks{BeforeWrite: func(ctx context.Context, w *store.Write) error {
		if n, ok := w.Row.(*models.Note); ok && n.Message == "slow" {
			once.Do(func() { close(held) })
			<-release
		}
		return nil
	}}
	f := newFixture(t, b, server.Config{MaxUserRequests: 1}, store.WithHooks("ss_tb_note", hook))
	done := make(chan reply, 1)
	go func() {
		done <- f.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody([]string{note(newID(), "slow", false)}, nil, nil))
	}()
	<-held
	before := f.dump()
	r := f.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody([]string{note(newID(), "second", false)}, nil, nil))
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, `"too_many_requests"`) {
		t.Fatalf("alice's second request while one is in progress: %d %s (Retry-After %q), want 429 too_many_requests with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	if got := f.dump(); got != before {
		t.Fatal("a refused request changed the store")
	}
	if r := f.do("GET", "/pull?collections=ss_tb_note", "bob", "", ""); r.status != 200 {
		t.Fatalf("bob while alice is at her limit: %d %s", r.status, r.body)
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("the held push: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/pull?collections=ss_tb_note", "alice", "", ""); r.status != 200 {
		t.Fatalf("alice after her push ended: %d %s", r.status, r.body)
	}
}
