package client_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// notesOf lists a device's live notes as "owner:message" lines, sorted.
func notesOf(t *testing.T, db *client.DB) []string {
	t.Helper()
	notes, err := generated.SyncNotes(db).Select(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range notes {
		out = append(out, n.SyncID+":"+n.Message)
	}
	sort.Strings(out)
	return out
}

// TestLinkedUserStory follows NETCoreSync's documented story: two devices of
// alice, a third device of bob who is linked to alice and acts for her,
// cross-edits, and a delete racing an edit on another device, which the
// delete wins.
func TestLinkedUserStory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		phone := h.device("alice-phone", "alice")
		laptop := h.device("alice-laptop", "alice")
		bobsTablet := h.device("bob-tablet", "bob")
		if err := bobsTablet.SetUser(ctx, "bob", "alice"); err != nil {
			t.Fatal(err)
		}
		if err := generated.SyncNotes(bobsTablet).Insert(ctx, &models.Note{Message: "bob's own"}); err != nil {
			t.Fatal(err)
		}
		// Bob acts for alice: new rows belong to her.
		if err := bobsTablet.SetActiveUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := bobsTablet.SetActiveUser(ctx, "mallory"); !errors.Is(err, client.ErrForeignUser) {
			t.Fatalf("acting for an unlinked user: %v", err)
		}
		forAlice := &models.Note{Message: "written by bob for alice"}
		if err := generated.SyncNotes(bobsTablet).Insert(ctx, forAlice); err != nil {
			t.Fatal(err)
		}
		if forAlice.SyncID != "alice" {
			t.Fatalf("row made while acting for alice is owned by %q", forAlice.SyncID)
		}
		shared := &models.Note{Message: "shared v1"}
		if err := generated.SyncNotes(phone).Insert(ctx, shared); err != nil {
			t.Fatal(err)
		}
		doomed := &models.Note{Message: "doomed"}
		if err := generated.SyncNotes(phone).Insert(ctx, doomed); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*client.DB{phone, bobsTablet, laptop, phone} {
			h.sync(d)
		}
		// Cross-edits: the laptop edits the phone's note, bob's tablet edits
		// it after; meanwhile the phone deletes "doomed" while the laptop
		// edits it.
		edit := func(db *client.DB, id uuid.UUID, msg string) {
			t.Helper()
			n, err := generated.SyncNotes(db).Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			n.Message = msg
			if err := generated.SyncNotes(db).Update(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		edit(laptop, shared.ID, "shared v2 (laptop)")
		edit(laptop, doomed.ID, "doomed but edited")
		if err := generated.SyncNotes(phone).Delete(ctx, doomed.ID); err != nil {
			t.Fatal(err)
		}
		h.sync(phone) // the delete lands first
		res := h.sync(laptop)
		if len(res.Ignored) != 1 || res.Ignored[0].ID != doomed.ID || res.Ignored[0].Reason != "deleted" {
			t.Fatalf("laptop's edit of the deleted note: ignored %+v, want it reported", res.Ignored)
		}
		h.sync(bobsTablet)
		edit(bobsTablet, shared.ID, "shared v3 (bob for alice)")
		for _, d := range []*client.DB{bobsTablet, phone, laptop, bobsTablet} {
			h.sync(d)
		}
		want := []string{"alice:shared v3 (bob for alice)", "alice:written by bob for alice"}
		for name, d := range map[string]*client.DB{"phone": phone, "laptop": laptop} {
			if got := notesOf(t, d); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("%s has %v, want %v", name, got, want)
			}
		}
		wantBob := append([]string{"bob:bob's own"}, want...)
		sort.Strings(wantBob)
		if got := notesOf(t, bobsTablet); strings.Join(got, "|") != strings.Join(wantBob, "|") {
			t.Fatalf("bob's tablet has %v, want %v", got, wantBob)
		}
		if got := notesOf(t, phone); slicesContain(got, "bob:bob's own") {
			t.Fatalf("alice's phone sees bob's own note: %v", got)
		}
	})
}

func slicesContain(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestInterruptedStreamResumes cuts a large streamed pull in the middle and
// checks that the next sync continues without gaps or duplicates.
func TestInterruptedStreamResumes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		src := h.device("source", "alice")
		const total = 1200
		err := src.Transaction(ctx, func(ctx context.Context) error {
			for i := range total {
				if err := generated.SyncNotes(src).Insert(ctx, &models.Note{Message: fmt.Sprintf("note %04d", i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res := h.sync(src); res.Pushed[0].Created != total {
			t.Fatalf("pushed %+v", res.Pushed)
		}
		dst := h.device("fresh", "alice")
		// Cut the stream after about 40% of its bytes, as sent: compressed
		// (zstd, flushed per line), which the cut must not keep from
		// resuming.
		var cut atomic.Bool
		var coding atomic.Value
		wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if !strings.HasSuffix(r.URL.Path, "/pull-stream") || cut.Load() {
				next.ServeHTTP(w, r)
				return
			}
			cut.Store(true)
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			maps.Copy(w.Header(), rec.Header())
			coding.Store(rec.Header().Get("Content-Encoding"))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)*2/5])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
		h.wrap.Store(&wrap)
		opts := h.opts(dst)
		opts.PullBatchRows = 100
		_, err = dst.Synchronize(ctx, opts)
		if err == nil {
			t.Fatal("a cut stream did not fail the sync")
		}
		partial, err := generated.SyncNotes(dst).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if partial == 0 || partial >= total {
			t.Fatalf("after the cut the device has %d of %d rows, want some but not all", partial, total)
		}
		if c := coding.Load(); c != "zstd" {
			t.Fatalf("the cut stream was sent in Content-Encoding %q, want zstd", c)
		}
		cp, _ := dst.Checkpoint(ctx, "ss_tb_note")
		if !strings.Contains(cp, ".") {
			t.Fatalf("checkpoint after a cut stream is %q, want one inside a version", cp)
		}
		res, err := dst.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, c := range res.Pulled {
			got += c.Created + c.Updated
		}
		if partial+got != total {
			t.Fatalf("first sync applied %d, second %d: want %d in all, none twice", partial, got, total)
		}
		notes, err := generated.SyncNotes(dst).Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, n := range notes {
			if seen[n.Message] {
				t.Fatalf("duplicate %q", n.Message)
			}
			seen[n.Message] = true
		}
		if len(seen) != total {
			t.Fatalf("device has %d distinct notes, want %d", len(seen), total)
		}
	})
}

// TestCrashBetweenPushAndAcknowledgement loses every answer to a push, closes
// the database as if the app died, edits, reopens, and syncs: the kept push
// is resent with its key (replayed by the server, nothing applied twice), then
// the edit goes out.
func TestCrashBetweenPushAndAcknowledgement(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		path := filepath.Join(t.TempDir(), "phone.db")
		db, err := client.Open(ctx, path, generated.Registry(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		n := &models.Note{Message: "v1"}
		if err := generated.SyncNotes(db).Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
		var keys []string
		var replayed atomic.Int32
		var mu sync.Mutex
		drop := true
		wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if !strings.HasSuffix(r.URL.Path, "/push") {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			keys = append(keys, r.Header.Get(wire.HeaderIdempotencyKey))
			d := drop
			mu.Unlock()
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			if rec.Header().Get(wire.HeaderIdempotentReplayed) == "true" {
				replayed.Add(1)
			}
			if d {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		}
		h.wrap.Store(&wrap)
		opts := h.opts(db)
		opts.MaxAttempts = 2
		if _, err := db.Synchronize(ctx, opts); err == nil {
			t.Fatal("sync with every push answer lost succeeded")
		}
		if k, _ := db.PendingPushes(ctx); k != 1 {
			t.Fatalf("%d pushes kept after the lost answers, want 1", k)
		}
		n.Message = "v2 after the crash"
		if err := generated.SyncNotes(db).Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		db.Close() // the app dies

		db, err = client.Open(ctx, path, generated.Registry(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		mu.Lock()
		drop = false
		mu.Unlock()
		if _, err := db.Synchronize(ctx, h.opts(db)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		// Every attempt of the first push (net/http may resend a request
		// with an Idempotency-Key on its own too) and its resend after the
		// restart carry one key; the edit goes out with a new one.
		sends := len(keys)
		if sends < 4 || keys[sends-1] == keys[0] {
			t.Fatalf("idempotency keys %q: the kept push must be resent with its key, the edit with a new one", keys)
		}
		for _, k := range keys[:sends-1] {
			if k != keys[0] {
				t.Fatalf("idempotency keys %q: the kept push changed its key", keys)
			}
		}
		if int(replayed.Load()) != sends-2 {
			t.Fatalf("%d replays of %d sends of the first push: only the first may apply", replayed.Load(), sends-1)
		}
		if got := h.serverMessage(n.ID); got != "v2 after the crash" {
			t.Fatalf("server has %q", got)
		}
		if k, _ := db.PendingPushes(ctx); k != 0 {
			t.Fatalf("%d pushes still kept", k)
		}
	})
}

func TestProgressLogsAndResult(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		for i := range 12 {
			if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: fmt.Sprint("n", i)}); err != nil {
				t.Fatal(err)
			}
		}
		var events []client.Progress
		opts := h.opts(a)
		opts.PushBatchRows = 5
		opts.LogLevel = client.LogFields
		opts.Progress = func(p client.Progress) { events = append(events, p) }
		res, err := a.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var stages []string
		var pushFractions []float64
		for _, e := range events {
			if len(stages) == 0 || stages[len(stages)-1] != string(e.Stage) {
				stages = append(stages, string(e.Stage))
			}
			if e.Stage == client.StagePush {
				pushFractions = append(pushFractions, e.Fraction)
			}
		}
		if strings.Join(stages, ",") != "handshake,push,pull,done" {
			t.Fatalf("stages %v", stages)
		}
		if fmt.Sprint(pushFractions) != fmt.Sprint([]float64{0, 5.0 / 12, 10.0 / 12, 1}) {
			t.Fatalf("push fractions %v, want three parts of 5, 5 and 2 rows", pushFractions)
		}
		if len(res.Log) != 12 || res.Log[0].Direction != "push" || res.Log[0].Op != "created" || res.Log[0].SyncID != "alice" || res.Log[0].Data != nil {
			t.Fatalf("fields log %+v", res.Log)
		}
		b := h.device("b", "alice")
		opts = h.opts(b)
		opts.LogLevel = client.LogFull
		res, err = b.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Log) != 12 || !strings.Contains(string(res.Log[0].Data), `"message":"n`) {
			t.Fatalf("full log %+v", res.Log)
		}
		if lvl, err := client.ParseLogLevel("fields"); err != nil || lvl != client.LogFields {
			t.Fatal("ParseLogLevel")
		}
		if _, err := client.ParseLogLevel("verbose"); err == nil {
			t.Fatal("ParseLogLevel accepted verbose")
		}
	})
}

func TestOneSyncAtATimeAndTransactions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		entered := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if strings.HasSuffix(r.URL.Path, "/handshake") {
				once.Do(func() { close(entered); <-release })
			}
			next.ServeHTTP(w, r)
		}
		h.wrap.Store(&wrap)
		done := make(chan error, 1)
		go func() { _, err := a.Synchronize(ctx, h.opts(a)); done <- err }()
		<-entered
		opts := h.opts(a)
		opts.NoWait = true
		if _, err := a.Synchronize(ctx, opts); !errors.Is(err, client.ErrSyncInProgress) {
			t.Fatalf("second sync with NoWait: %v", err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		if _, err := a.Synchronize(waitCtx, h.opts(a)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second sync that waits: %v", err)
		}
		cancel()
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Inside a transaction.
		err := a.Transaction(ctx, func(ctx context.Context) error {
			if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: "in tx"}); err != nil {
				return err
			}
			_, err := a.Synchronize(ctx, h.opts(a))
			return err
		})
		if !errors.Is(err, client.ErrInTransaction) {
			t.Fatalf("sync inside a transaction: %v", err)
		}
		if n, _ := generated.SyncNotes(a).Count(ctx); n != 0 {
			t.Fatalf("the failed transaction left %d rows", n)
		}
	})
}

func TestHandshakeRefusal(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarnessWith(t, be, server.Config{OnHandshake: func(ctx context.Context, hs server.Handshake) error {
			if hs.SchemaVersion < 2 {
				return errors.New("this app version is too old, please update")
			}
			return nil
		}})
		a := h.device("a", "alice")
		if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: "x"}); err != nil {
			t.Fatal(err)
		}
		opts := h.opts(a)
		opts.SchemaVersion = 1
		_, err := a.Synchronize(ctx, opts)
		var refused *client.RefusedError
		if !errors.As(err, &refused) || !errors.Is(err, client.ErrRefused) || !errors.Is(err, client.ErrHandshakeRefused) || refused.Message != "this app version is too old, please update" {
			t.Fatalf("refused handshake: %v", err)
		}
		opts.SchemaVersion = 2
		res, err := a.Synchronize(ctx, opts)
		if err != nil || len(res.Pushed) != 1 {
			t.Fatalf("accepted handshake: %v %+v", err, res)
		}
	})
}

func TestFullResyncAfterTombstonesAreGone(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		now := time.Now().UTC()
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		h := newHarnessWith(t, be, server.Config{}, store.WithClock(clock), store.WithTombstoneRetention(24*time.Hour))
		a := h.device("a", "alice")
		stale := h.device("stale", "alice")
		keep, gone := &models.Note{Message: "keep"}, &models.Note{Message: "gone"}
		for _, n := range []*models.Note{keep, gone} {
			if err := generated.SyncNotes(a).Insert(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		h.sync(a)
		h.sync(stale)
		h.sync(stale)
		if err := generated.SyncNotes(a).Delete(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		h.sync(a)
		mu.Lock()
		now = now.Add(48 * time.Hour)
		mu.Unlock()
		h.sync(a)
		if rep, err := h.server.PurgeTombstones(ctx); err != nil || rep.Purged["ss_tb_note"] != 1 {
			t.Fatalf("purge: %+v %v", rep, err)
		}
		// The stale device also has an unpushed note: it survives the resync.
		local := &models.Note{Message: "offline on stale"}
		if err := generated.SyncNotes(stale).Insert(ctx, local); err != nil {
			t.Fatal(err)
		}
		res := h.sync(stale)
		if strings.Join(res.Resynced, ",") != "ss_tb_user,ss_tb_note" {
			t.Fatalf("resynced %v", res.Resynced)
		}
		got := notesOf(t, stale)
		want := []string{"alice:keep", "alice:offline on stale"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("after resync the stale device has %v, want %v", got, want)
		}
		if res := h.sync(stale); len(res.Resynced) != 0 {
			t.Fatalf("resynced again: %v", res.Resynced)
		}
	})
}

func TestNotInitializedAndClosed(t *testing.T) {
	ctx := context.Background()
	var zero client.DB
	if _, err := zero.Synchronize(ctx, client.SyncOptions{ServerURL: "http://127.0.0.1:1"}); !errors.Is(err, client.ErrNotInitialized) {
		t.Fatalf("zero DB sync: %v", err)
	}
	if err := generated.SyncNotes(&zero).Insert(ctx, &models.Note{}); err == nil {
		t.Fatal("insert through a zero DB succeeded")
	}
	db, err := client.Open(ctx, filepath.Join(t.TempDir(), "x.db"), generated.Registry(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := generated.SyncNotes(db).Insert(ctx, &models.Note{}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("insert after Close: %v", err)
	}
	if _, err := db.Synchronize(ctx, client.SyncOptions{ServerURL: "http://127.0.0.1:1"}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("sync after Close: %v", err)
	}
}

// TestPulledChildWithParentOutOfScope applies a pulled note whose user row
// belongs to someone the device cannot see: the server checked the key, the
// device must not refuse the row.
func TestPulledChildWithParentOutOfScope(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		bob := h.device("bob", "bob")
		bobUser := &models.User{Name: "Bob", Age: 40}
		if err := generated.SyncUsers(bob).Insert(ctx, bobUser); err != nil {
			t.Fatal(err)
		}
		h.sync(bob)
		// Alice's phone learns bob's user id out of band and references it;
		// the device checks keys on local writes, so it needs the parent.
		phone := h.device("phone", "alice")
		if err := generated.SyncNotes(phone).Insert(ctx, &models.Note{Message: "for bob", UserID: &bobUser.ID}); err == nil {
			t.Fatal("a local note referencing a user the device lacks was accepted")
		}
		if err := phone.SetUser(ctx, "alice", "bob"); err != nil {
			t.Fatal(err)
		}
		h.sync(phone) // now it has bob's user
		if err := generated.SyncNotes(phone).Insert(ctx, &models.Note{Message: "for bob", UserID: &bobUser.ID}); err != nil {
			t.Fatal(err)
		}
		h.sync(phone)
		// Alice's laptop is not linked to bob: it gets the note, not the user.
		laptop := h.device("laptop", "alice")
		res := h.sync(laptop)
		if got := notesOf(t, laptop); len(got) != 1 || got[0] != "alice:for bob" || len(res.Pulled) != 1 {
			t.Fatalf("laptop has %v after %+v", got, res.Pulled)
		}
	})
}

// TestChildOfParentDeletedBeforePush deletes, before any sync, a user a note
// references: the note goes with it (ondelete=cascade, the default), on the
// device at once, and neither row reaches another device.
func TestChildOfParentDeletedBeforePush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, be)
		a := h.device("a", "alice")
		u := &models.User{Name: "short-lived"}
		if err := generated.SyncUsers(a).Insert(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := generated.SyncNotes(a).Insert(ctx, &models.Note{Message: "keeps a reference", UserID: &u.ID}); err != nil {
			t.Fatal(err)
		}
		if err := generated.SyncUsers(a).Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		h.sync(a)
		if res := h.sync(a); len(res.Pushed) != 0 {
			t.Fatalf("second sync pushed %+v: the first did not go through", res.Pushed)
		}
		if got := notesOf(t, a); len(got) != 0 {
			t.Fatalf("device a keeps %v after deleting their user", got)
		}
		b := h.device("b", "alice")
		h.sync(b)
		if got := notesOf(t, b); len(got) != 0 {
			t.Fatalf("device b has %v", got)
		}
		if n, _ := generated.SyncUsers(b).Count(ctx, client.IncludeDeleted()); n != 0 {
			t.Fatalf("device b got %d users: a row created and deleted before it synced must not reach it", n)
		}
	})
}
