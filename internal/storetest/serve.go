package storetest

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// SQLite is the SQLite backend, which every machine has.
func SQLite() Backend { return sqliteBackend() }

// Store opens a store of reg on a fresh database of b (see Open) and
// returns it with its database handle.
func (b Backend) Store(t testing.TB, reg *ssync.Registry, opts ...store.Option) (*store.Store, *sql.DB) {
	t.Helper()
	db, _ := b.Open(t)
	st, err := store.Open(context.Background(), db, b.Dialect, reg, opts...)
	if err != nil {
		t.Fatalf("open %s store: %v", b.Name, err)
	}
	return st, db
}

// Serve serves st through package server on a real HTTP server on
// 127.0.0.1, closed when the test ends, and returns the server's root URL
// (the API is under /api/sync, GET /healthz beside it). cfg.Store is set
// to st; a nil Authenticator is server.InsecureHeaderAuth(); with
// SSYNC_TEST_LOG set and no Logger, the server logs to stderr. Each wrap,
// outermost first, wraps the handler (a middleware, a fault injector).
func Serve(t testing.TB, st *store.Store, cfg server.Config, wrap ...func(http.Handler) http.Handler) string {
	t.Helper()
	cfg.Store = st
	if cfg.Authenticator == nil {
		cfg.Authenticator = server.InsecureHeaderAuth()
	}
	if cfg.Logger == nil && os.Getenv("SSYNC_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	mux.Handle("GET /healthz", srv.Health())
	var h http.Handler = mux
	for i := len(wrap) - 1; i >= 0; i-- {
		h = wrap[i](h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}
