package client_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// harness is a real server on 127.0.0.1 over a real SQLite store, with an
// optional wrapper around its handler to inject what the network does.
type harness struct {
	t      *testing.T
	url    string
	st     *sql.DB
	ph     func(int) string
	server *store.Store
	wrap   atomic.Pointer[func(http.ResponseWriter, *http.Request, http.Handler)]
}

func newHarness(t *testing.T, b storetest.Backend) *harness {
	return newHarnessWith(t, b, server.Config{})
}

// newHarnessWith starts the server with cfg (its Store and, when nil, its
// Authenticator filled in) over a store opened with opts.
func newHarnessWith(t *testing.T, b storetest.Backend, cfg server.Config, opts ...store.Option) *harness {
	t.Helper()
	st, sdb := b.Store(t, generated.Registry(), opts...)
	return serveHarness(t, b, st, sdb, cfg)
}

// serveHarness serves st (on sdb, of backend b) with cfg; tests may wrap
// its handler at any time through h.wrap.
func serveHarness(t *testing.T, b storetest.Backend, st *store.Store, sdb *sql.DB, cfg server.Config) *harness {
	t.Helper()
	h := &harness{t: t, st: sdb, ph: b.Dialect.Placeholder, server: st}
	h.url = storetest.Serve(t, st, cfg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if wrap := h.wrap.Load(); wrap != nil {
				(*wrap)(w, r, next)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	return h
}

func (h *harness) device(name, user string) *client.DB {
	h.t.Helper()
	db, err := client.Open(context.Background(), filepath.Join(h.t.TempDir(), name+".db"), generated.Registry(), client.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	if err := db.SetUser(context.Background(), user); err != nil {
		h.t.Fatal(err)
	}
	return db
}

func (h *harness) opts(db *client.DB) client.SyncOptions {
	user, linked := db.User()
	return client.SyncOptions{
		ServerURL:  h.url,
		RetryDelay: 1,
		Decorate: func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, user)
			if len(linked) > 0 {
				r.Header.Set(wire.HeaderLinked, strings.Join(linked, ","))
			}
			return nil
		},
	}
}

func (h *harness) sync(db *client.DB) *client.Result {
	h.t.Helper()
	res, err := db.Synchronize(context.Background(), h.opts(db))
	if err != nil {
		h.t.Fatalf("synchronize: %v", err)
	}
	return res
}

func (h *harness) serverMessage(id uuid.UUID) string {
	h.t.Helper()
	var msg string
	if err := h.st.QueryRow(`SELECT message FROM ss_tb_note WHERE id = `+h.ph(1), id.String()).Scan(&msg); err != nil {
		h.t.Fatalf("server row %s: %v", id, err)
	}
	return msg
}

func TestEditDuringPushSurvives(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		notes := generated.SyncNotes(a)
		n := &models.Note{Message: "v1"}
		if err := notes.Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
		// While the push is on the wire, the user edits the row again.
		var once atomic.Bool
		wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if strings.HasSuffix(r.URL.Path, "/push") && once.CompareAndSwap(false, true) {
				edited := *n
				edited.Message = "v2 (edited during sync)"
				if err := notes.Update(ctx, &edited); err != nil {
					t.Errorf("edit during sync: %v", err)
				}
			}
			next.ServeHTTP(w, r)
		}
		h.wrap.Store(&wrap)
		h.sync(a)
		h.wrap.Store(nil)

		if got := h.serverMessage(n.ID); got != "v1" {
			t.Fatalf("server has %q after the first sync, want v1", got)
		}
		local, err := notes.Get(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if local.Message != "v2 (edited during sync)" {
			t.Fatalf("the edit made during the sync was overwritten by the pull: local %q", local.Message)
		}
		res := h.sync(a)
		if len(res.Pushed) != 1 || res.Pushed[0].Updated != 1 {
			t.Fatalf("second sync pushed %+v, want the edit as one update", res.Pushed)
		}
		if got := h.serverMessage(n.ID); got != "v2 (edited during sync)" {
			t.Fatalf("server has %q, want the edit", got)
		}
	})
}

func TestLostPushResponseIsRetriedWithoutApplyingTwice(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		b := h.device("b", "alice")
		n := &models.Note{Message: "from a"}
		if err := generated.SyncNotes(a).Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
		// A's first push reaches the server and commits, but its response is
		// lost; before A retries, device B overwrites the row. The retry must
		// not bring A's stale version back.
		var pushes, replays atomic.Int32
		var keys []string
		wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if !strings.HasSuffix(r.URL.Path, "/push") || r.Header.Get("X-Test-Device") != "a" {
				next.ServeHTTP(w, r)
				return
			}
			keys = append(keys, r.Header.Get(wire.HeaderIdempotencyKey))
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r) // committed on the server
			if pushes.Add(1) == 1 {
				if rec.Code != 200 {
					t.Errorf("first push: %d %s", rec.Code, rec.Body)
				}
				h.sync(b)
				nb, err := generated.SyncNotes(b).Get(ctx, n.ID)
				if err != nil {
					t.Errorf("B: %v", err)
				} else {
					nb.Message = "newer from b"
					if err := generated.SyncNotes(b).Update(ctx, nb); err != nil {
						t.Errorf("B update: %v", err)
					}
					h.sync(b)
				}
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				conn.Close() // the response is lost on the wire
				return
			}
			if rec.Header().Get(wire.HeaderIdempotentReplayed) == "true" {
				replays.Add(1)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		}
		h.wrap.Store(&wrap)
		opts := h.opts(a)
		decorate := opts.Decorate
		opts.Decorate = func(r *http.Request) error {
			r.Header.Set("X-Test-Device", "a")
			return decorate(r)
		}
		if _, err := a.Synchronize(ctx, opts); err != nil {
			t.Fatalf("synchronize with a lost response: %v", err)
		}
		h.wrap.Store(nil)
		if pushes.Load() != 2 || replays.Load() != 1 {
			t.Fatalf("saw %d pushes and %d replays, want the push and one replayed retry", pushes.Load(), replays.Load())
		}
		if keys[0] == "" || keys[0] != keys[1] {
			t.Fatalf("idempotency keys %q: the retry must repeat the first key", keys)
		}
		if got := h.serverMessage(n.ID); got != "newer from b" {
			t.Fatalf("server has %q: the retried push applied A's stale row again", got)
		}
		local, err := generated.SyncNotes(a).Get(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if local.Message != "newer from b" {
			t.Fatalf("device A has %q after sync, want B's newer edit", local.Message)
		}
	})
}

func TestPulledRowsAreNotLocalChanges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		b := h.device("b", "alice")
		for i := range 3 {
			if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: "n" + string(rune('0'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		h.sync(a)
		res := h.sync(b)
		if len(res.Pulled) != 1 || res.Pulled[0].Created != 3 {
			t.Fatalf("B pulled %+v, want 3 created notes", res.Pulled)
		}
		res = h.sync(b)
		if len(res.Pushed) != 0 {
			t.Fatalf("B pushed %+v after only pulling: echo", res.Pushed)
		}
	})
}

func TestDeleteWinsOverConcurrentEdit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		b := h.device("b", "alice")
		n := &models.Note{Message: "shared"}
		if err := generated.SyncNotes(a).Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
		h.sync(a)
		h.sync(b)
		// A deletes, B edits, both offline; A syncs first.
		if err := generated.SyncNotes(a).Delete(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		nb, err := generated.SyncNotes(b).Get(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		nb.Message = "edited on b"
		if err := generated.SyncNotes(b).Update(ctx, nb); err != nil {
			t.Fatal(err)
		}
		h.sync(a)
		h.sync(b)
		h.sync(a)
		for name, db := range map[string]*client.DB{"a": a, "b": b} {
			if _, err := generated.SyncNotes(db).Get(ctx, n.ID); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("%s: deleted note is readable (err %v): the edit resurrected it", name, err)
			}
		}
		var deleted bool
		if err := h.st.QueryRow(`SELECT deleted_at IS NOT NULL FROM ss_tb_note WHERE id = `+h.ph(1), n.ID.String()).Scan(&deleted); err != nil || !deleted {
			t.Fatalf("server row deleted=%v err=%v, want deleted", deleted, err)
		}
	})
}

func TestScopeAndTypedErrors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		db, err := client.Open(ctx, filepath.Join(t.TempDir(), "x.db"), generated.Registry(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		notes := generated.SyncNotes(db)
		if err := notes.Insert(ctx, &models.Note{Message: "x"}); !errors.Is(err, client.ErrNoActiveUser) {
			t.Fatalf("insert without a user: %v, want ErrNoActiveUser", err)
		}
		if _, err := db.Synchronize(ctx, h.opts(db)); !errors.Is(err, client.ErrNoActiveUser) {
			t.Fatalf("sync without a user: %v, want ErrNoActiveUser", err)
		}
		if err := db.SetUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := notes.Insert(ctx, &models.Note{Message: "x", Record: ssync.Record{SyncID: "mallory"}}); !errors.Is(err, client.ErrForeignUser) {
			t.Fatalf("insert for another user: %v, want ErrForeignUser", err)
		}
		mine := &models.Note{Message: "mine"}
		if err := notes.Insert(ctx, mine); err != nil {
			t.Fatal(err)
		}
		// Another user on the same device does not see or touch alice's rows.
		if err := db.SetUser(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := notes.Get(ctx, mine.ID); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("bob reads alice's row: %v", err)
		}
		if err := notes.Delete(ctx, mine.ID); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("bob deletes alice's row: %v", err)
		}
		// Server refusals surface as TransportError with the status, and
		// match the sentinel of their code.
		var te *client.TransportError
		_, err = db.Synchronize(ctx, client.SyncOptions{ServerURL: h.url}) // no credentials
		if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized || !errors.Is(err, client.ErrUnauthenticated) ||
			errors.Is(err, client.ErrForbidden) {
			t.Fatalf("sync without credentials: %v, want a 401 TransportError", err)
		}
	})
}

func TestSwitchingUserPullsThatUsersRows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		bobsPhone := h.device("bob-phone", "bob")
		if err := generated.SyncNotes(bobsPhone).Insert(ctx, &models.Note{Message: "bob's"}); err != nil {
			t.Fatal(err)
		}
		h.sync(bobsPhone)
		shared := h.device("shared", "alice")
		if err := generated.SyncNotes(shared).Insert(ctx, &models.Note{Message: "alice's"}); err != nil {
			t.Fatal(err)
		}
		h.sync(shared) // the device is now past bob's row for alice's scope
		if err := shared.SetUser(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		h.sync(shared)
		notes, err := generated.SyncNotes(shared).Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(notes) != 1 || notes[0].Message != "bob's" {
			t.Fatalf("after switching to bob the device sees %d notes (%v), want bob's one note", len(notes), notes)
		}
	})
}

func TestDeleteOfOwnRowReachesCreatorWhosePullFailed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		b := h.device("b", "alice")
		n := &models.Note{Message: "short-lived"}
		if err := generated.SyncNotes(a).Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
		// A's push lands but its pull fails.
		failPull := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if strings.HasSuffix(r.URL.Path, "/pull-stream") && r.Header.Get(wire.HeaderDevice) == a.DeviceID() {
				http.Error(w, `{"error":{"code":"bad","message":"injected"}}`, http.StatusBadRequest)
				return
			}
			next.ServeHTTP(w, r)
		}
		h.wrap.Store(&failPull)
		if _, err := a.Synchronize(ctx, h.opts(a)); err == nil {
			t.Fatal("sync with a failing pull succeeded")
		}
		h.wrap.Store(nil)
		// B gets the row and deletes it.
		h.sync(b)
		if err := generated.SyncNotes(b).Delete(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		h.sync(b)
		h.sync(a)
		if _, err := generated.SyncNotes(a).Get(ctx, n.ID); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("A still has the row B deleted (err %v)", err)
		}
	})
}

func TestOwnPushIsNotPulledBack(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		for _, m := range []string{"x", "y", "z"} {
			if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: m}); err != nil {
				t.Fatal(err)
			}
		}
		res := h.sync(a)
		if len(res.Pushed) != 1 || res.Pushed[0].Created != 3 || len(res.Pulled) != 0 {
			t.Fatalf("pushed %+v pulled %+v, want 3 pushed and nothing pulled back", res.Pushed, res.Pulled)
		}
	})
}
