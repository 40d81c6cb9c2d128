package client_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestFieldBaseMovesWithPull: a device writes a field while its sync runs
// (after its push, before its pull), the pull brings another device's
// newer value of that field, and the user then sets the field back to the
// value it had before: that write is pushed (the field's base is now the
// server's newer value), so every device ends with it instead of the
// other device's.
func TestFieldBaseMovesWithPull(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		reg := storetest.Relations(t)
		st, _ := b.Store(t, reg)
		a, other := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		var mu sync.Mutex
		var during func()
		url := storetest.Serve(t, st, server.Config{}, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				f := during
				if strings.HasSuffix(r.URL.Path, wire.PathPullStream) && r.Header.Get(wire.HeaderDevice) == a.DeviceID() {
					during = nil
				} else {
					f = nil
				}
				mu.Unlock()
				if f != nil {
					f()
				}
				next.ServeHTTP(w, r)
			})
		})
		sync := func(d *client.DB) {
			t.Helper()
			if _, err := d.Synchronize(ctx, storetest.Sync(url, "ann")); err != nil {
				t.Fatal(err)
			}
		}
		repo := func(d *client.DB) *client.Repo[storetest.Node] {
			return client.NewRepo(d, storetest.RelTable("rel_project"))
		}
		set := func(d *client.DB, title string) {
			t.Helper()
			rows, err := repo(d).Select(ctx)
			if err != nil || len(rows) != 1 {
				t.Fatalf("rows %v, %v", rows, err)
			}
			n := rows[0]
			n.Title = title
			if err := repo(d).Update(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		title := func(d *client.DB) string {
			t.Helper()
			rows, err := repo(d).Select(ctx)
			if err != nil || len(rows) != 1 {
				t.Fatalf("rows %v, %v", rows, err)
			}
			return rows[0].Title
		}
		if err := repo(a).Insert(ctx, &storetest.Node{Title: "v0"}); err != nil {
			t.Fatal(err)
		}
		sync(a)
		sync(other)
		set(other, "v2")
		sync(other)
		mu.Lock()
		during = func() { set(a, "v1") } // while a's sync runs, before its pull
		mu.Unlock()
		sync(a)
		if got := title(a); got != "v1" {
			t.Fatalf("a holds %q after the pull, want its pending v1", got)
		}
		set(a, "v0") // back to what a had before the pull
		sync(a)
		sync(other)
		sync(a)
		if ga, go_ := title(a), title(other); ga != "v0" || go_ != "v0" {
			t.Fatalf("a holds %q, the other device %q: want the last write, v0, on both", ga, go_)
		}
	})
}
