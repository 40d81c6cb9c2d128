package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// TestHandlerMountsAnywhere serves one Server under two prefixes of one mux
// and behind a middleware, and checks that unknown paths and wrong methods
// answer the JSON error body, and that an authenticator's own failure is a
// 500 that does not repeat its text.
func TestHandlerMountsAnywhere(t *testing.T) {
	b := storetest.Backends(t)[0]
	db, _ := b.Open(t)
	sto, err := store.Open(context.Background(), db, b.Dialect, generated.Registry())
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	srv, err := server.New(server.Config{Store: sto, Authenticator: server.AuthenticatorFunc(func(r *http.Request) (store.Identity, error) {
		switch r.Header.Get("X-Test-User") {
		case "":
			return store.Identity{}, errors.New("identity provider at 10.0.0.7 timed out")
		case "nobody":
			return store.Identity{}, server.ErrUnauthenticated
		}
		return store.Identity{SyncID: r.Header.Get("X-Test-User")}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "/api/sync")
	srv.Mount(mux, "/v2/sync") // a second mount: no duplicate registration
	count := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++; h.ServeHTTP(w, r) })
	}
	mux.Handle("/behind/", http.StripPrefix("/behind", count(srv.Handler())))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	do := func(method, path, user string) (int, string, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, nil)
		if user != "" {
			req.Header.Set("X-Test-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(body, &e)
		return resp.StatusCode, e.Error.Code, string(body), resp.Header
	}
	for _, base := range []string{"/api/sync", "/v2/sync", "/behind"} {
		if st, _, body, _ := do("GET", base+"/pull?collections=ss_tb_note", "alice"); st != 200 {
			t.Fatalf("pull under %s: %d %s", base, st, body)
		}
		if st, code, body, _ := do("GET", base+"/nothing-here", "alice"); st != 404 || code != "not_found" {
			t.Fatalf("unknown path under %s: %d %s, want 404 not_found in the JSON error body", base, st, body)
		}
		if st, code, body, hdr := do("DELETE", base+"/push", "alice"); st != 405 || code != "method_not_allowed" || hdr.Get("Allow") != "POST" {
			t.Fatalf("DELETE %s/push: %d %s (Allow %q), want 405 method_not_allowed with Allow: POST", base, st, body, hdr.Get("Allow"))
		}
	}
	if calls == 0 {
		t.Fatal("the middleware never ran")
	}
	if st, _, _, _ := do("GET", "/healthz", ""); st != 404 {
		t.Fatalf("Mount registered /healthz (%d); Health is mounted only where the app wants it", st)
	}
	st, code, body, _ := do("GET", "/api/sync/pull", "")
	if st != 500 || code != "internal" || strings.Contains(body, "10.0.0.7") {
		t.Fatalf("authenticator failure: %d %s, want 500 internal without its text", st, body)
	}
	if st, code, body, _ := do("GET", "/api/sync/pull", "nobody"); st != 401 || code != "unauthenticated" {
		t.Fatalf("refused credentials: %d %s, want 401 unauthenticated", st, body)
	}
}
