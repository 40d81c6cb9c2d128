package client_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/wire"
)

// exchanges counts the requests a server was sent, by endpoint, and the
// connections opened to it.
type exchanges struct {
	mu    sync.Mutex
	calls map[string]int
	conns int
}

func (e *exchanges) take() (map[string]int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	calls, conns := e.calls, e.conns
	e.calls, e.conns = map[string]int{}, 0
	return calls, conns
}

// TestRoundTrips: a sync with nothing to push and nothing new is one
// exchange once a handshake is recent, a sync with changes costs one push
// and one pull more than nothing, and every sync of a device reuses one
// connection.
func TestRoundTrips(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	st, _ := be.Store(t, generated.Registry())
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	ex := &exchanges{calls: map[string]int{}}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex.mu.Lock()
		ex.calls[path.Base(r.URL.Path)]++
		ex.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ex.mu.Lock()
			ex.conns++
			ex.mu.Unlock()
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)

	ctx := context.Background()
	dev, err := client.Open(ctx, t.TempDir()+"/dev.db", generated.Registry(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	dev.SetUser(ctx, "alice")
	// A client of its own, so that no other test's connections count.
	hc := &http.Client{Transport: &http.Transport{}}
	opts := client.SyncOptions{ServerURL: hs.URL, HTTPClient: hc, Decorate: func(r *http.Request) error {
		r.Header.Set(wire.HeaderUser, "alice")
		return nil
	}}
	step := func(name string, want map[string]int) {
		t.Helper()
		if _, err := dev.Synchronize(ctx, opts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		calls, conns := ex.take()
		if len(calls) != len(want) {
			t.Errorf("%s: exchanges %v, want %v", name, calls, want)
		}
		for k, n := range want {
			if calls[k] != n {
				t.Errorf("%s: exchanges %v, want %v", name, calls, want)
			}
		}
		if conns != 0 {
			t.Errorf("%s: %d new connections, want the first one reused", name, conns)
		}
	}
	if _, err := dev.Synchronize(ctx, opts); err != nil {
		t.Fatal(err)
	}
	calls, conns := ex.take()
	t.Logf("first sync: %v, %d connections", calls, conns)
	if conns != 1 {
		t.Errorf("first sync opened %d connections, want 1", conns)
	}
	step("no-op sync", map[string]int{wire.PathPullStream: 1})
	insertNotes(t, dev, 10, "note")
	step("sync of 10 new rows", map[string]int{wire.PathPush: 1, wire.PathPullStream: 1})
	step("no-op sync after a push", map[string]int{wire.PathPullStream: 1})
	hc.CloseIdleConnections()
}
