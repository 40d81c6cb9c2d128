package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// fieldRig is a server on one store and the devices of alice that sync
// with it, with the push bodies the server was sent.
type fieldRig struct {
	t      *testing.T
	b      storetest.Backend
	st     *store.Store
	sdb    *sql.DB
	url    string
	mu     sync.Mutex
	pushes [][]byte
	// loseAnswer makes the next push's answer get lost after the server
	// committed it.
	loseAnswer atomic.Bool
}

func newFieldRig(t *testing.T, b storetest.Backend, opts ...store.Option) *fieldRig {
	st, sdb := b.Store(t, generated.Registry(), opts...)
	r := &fieldRig{t: t, b: b, st: st, sdb: sdb}
	r.url = storetest.Serve(t, st, server.Config{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.HasSuffix(req.URL.Path, "/"+wire.PathPush) {
				body, _ := io.ReadAll(req.Body)
				r.mu.Lock()
				r.pushes = append(r.pushes, body)
				r.mu.Unlock()
				req.Body = io.NopCloser(bytes.NewReader(body))
				if r.loseAnswer.CompareAndSwap(true, false) {
					next.ServeHTTP(httptest.NewRecorder(), req)
					w.Header().Set("Content-Type", wire.ContentTypeJSON)
					w.WriteHeader(http.StatusServiceUnavailable)
					w.Write(wire.EncodeErrorBody(wire.CodeStoreUnavailable, "the answer was lost"))
					return
				}
			}
			next.ServeHTTP(w, req)
		})
	})
	return r
}

func (r *fieldRig) device(name string) *client.DB {
	r.t.Helper()
	db, err := client.Open(context.Background(), filepath.Join(r.t.TempDir(), name+".db"), generated.Registry(), client.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	if err := db.SetUser(context.Background(), "alice"); err != nil {
		r.t.Fatal(err)
	}
	return db
}

func (r *fieldRig) sync(db *client.DB, whole bool) *client.Result {
	r.t.Helper()
	opts := storetest.Sync(r.url, "alice")
	opts.WholeRows, opts.DisableCompression = whole, true
	res, err := db.Synchronize(context.Background(), opts)
	if err != nil {
		r.t.Fatalf("synchronize: %v", err)
	}
	return res
}

func (r *fieldRig) lastPush() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.pushes[len(r.pushes)-1])
}

// server reads the note from the server's database.
func (r *fieldRig) server(id uuid.UUID) (string, bool) {
	r.t.Helper()
	d := r.b.Dialect
	var msg string
	var done bool
	if err := r.sdb.QueryRow("SELECT "+d.Quote("message")+", "+d.Quote("completed")+" FROM "+d.Quote("ss_tb_note")+
		" WHERE "+d.Quote("id")+" = "+d.Placeholder(1), id.String()).Scan(&msg, &done); err != nil {
		r.t.Fatal(err)
	}
	return msg, done
}

func edit(t *testing.T, db *client.DB, id uuid.UUID, f func(n *models.Note)) {
	t.Helper()
	notes := generated.SyncNotes(db)
	n, err := notes.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	f(n)
	if err := notes.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// holds checks that every device and the server hold the note's message
// and completed.
func (r *fieldRig) holds(id uuid.UUID, msg string, done bool, devices ...*client.DB) {
	r.t.Helper()
	for i, db := range devices {
		n, err := generated.SyncNotes(db).Get(context.Background(), id)
		if err != nil {
			r.t.Fatal(err)
		}
		if n.Message != msg || n.Completed != done {
			r.t.Errorf("device %d holds %q %v, want %q %v", i, n.Message, n.Completed, msg, done)
		}
	}
	if m, d := r.server(id); m != msg || d != done {
		r.t.Errorf("the server holds %q %v, want %q %v", m, d, msg, done)
	}
}

// shared makes a note on a and syncs it to b.
func (r *fieldRig) shared(a, b *client.DB) uuid.UUID {
	r.t.Helper()
	n := &models.Note{Message: "first", UserName: "alice"}
	if err := generated.SyncNotes(a).Insert(context.Background(), n); err != nil {
		r.t.Fatal(err)
	}
	r.sync(a, false)
	r.sync(b, false)
	return n.ID
}

// TestConcurrentFieldEdits is issue 14's acceptance on every store: A
// changes message and B, offline, completed of the same note; after both
// synced, in either order, every device and the server hold both changes.
// The same field changed on both: the later push wins, reported as
// overwritten, and every device agrees.
func TestConcurrentFieldEdits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, order := range []string{"AB", "BA"} {
			r := newFieldRig(t, b)
			a, bb := r.device("a"+order), r.device("b"+order)
			id := r.shared(a, bb)
			edit(t, a, id, func(n *models.Note) { n.Message = "renamed on A" })
			edit(t, bb, id, func(n *models.Note) { n.Completed = true })
			first, second := a, bb
			if order == "BA" {
				first, second = bb, a
			}
			r.sync(first, false)
			if body := r.lastPush(); !strings.Contains(body, `"base":{"`+id.String()) || strings.Contains(body, `"userName"`) {
				t.Errorf("%s: the push carries more than the changed field: %s", order, body)
			}
			res := r.sync(second, false)
			if len(res.Merged) != 1 || res.Merged[0].ID != id || len(res.Merged[0].Overwritten) != 0 {
				t.Errorf("%s: merged %+v, want the note, nothing overwritten", order, res.Merged)
			}
			r.sync(first, false)
			r.holds(id, "renamed on A", true, a, bb)
			// Nothing is left to push, and the other fields were kept.
			if res := r.sync(second, false); len(res.Pushed) != 0 || res.Skipped != 0 {
				t.Errorf("%s: a sync after all pushed %+v skipped %d", order, res.Pushed, res.Skipped)
			}
		}

		r := newFieldRig(t, b)
		a, bb := r.device("a"), r.device("b")
		id := r.shared(a, bb)
		edit(t, a, id, func(n *models.Note) { n.Message = "A's" })
		edit(t, bb, id, func(n *models.Note) { n.Message = "B's" })
		r.sync(a, false)
		res := r.sync(bb, false)
		if len(res.Merged) != 1 || !slices.Equal(res.Merged[0].Overwritten, []string{"message"}) {
			t.Errorf("merged %+v, want message overwritten", res.Merged)
		}
		r.sync(a, false)
		r.holds(id, "B's", false, a, bb)
	})
}

// TestPullKeepsLocalFields: a pull of a row with a pending field change
// takes the server's other fields and keeps the local one, which is pushed
// next.
func TestPullKeepsLocalFields(t *testing.T) {
	r := newFieldRig(t, storetest.SQLite())
	a, b := r.device("a"), r.device("b")
	id := r.shared(a, b)
	edit(t, a, id, func(n *models.Note) { n.UserName = "changed on A" })
	r.sync(a, false)
	edit(t, b, id, func(n *models.Note) { n.Completed = true })
	// b pushes completed, then, before its pull, changes message: the pull
	// brings the merged row into a row with a pending change.
	opts := storetest.Sync(r.url, "alice")
	opts.DisableCompression = true
	edited := false
	opts.Progress = func(p client.Progress) {
		if p.Stage == client.StagePush && p.Done == p.Total && !edited {
			edited = true
			edit(t, b, id, func(n *models.Note) { n.Message = "B's" })
		}
	}
	res, err := b.Synchronize(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !edited || res.Skipped != 0 || len(res.Pulled) != 1 || res.Pulled[0].Updated != 1 {
		t.Errorf("edited %v, skipped %d, pulled %+v: want the row pulled into the pending one", edited, res.Skipped, res.Pulled)
	}
	n, err := generated.SyncNotes(b).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if n.Message != "B's" || !n.Completed || n.UserName != "changed on A" {
		t.Errorf("b holds %+v, want its message and the server's other fields", n)
	}
	r.sync(b, false)
	if body := r.lastPush(); !strings.Contains(body, `"base":{"`+id.String()+`":{"message":"first"}}`) {
		t.Errorf("b's push is %s, want message with its base", body)
	}
	r.sync(a, false)
	r.holds(id, "B's", true, a, b)
}

// TestFieldResolver: the resolver sees base, server and incoming values
// and the fields each side changed, and may merge.
func TestFieldResolver(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var seen []store.Conflict
		resolver := func(_ context.Context, c store.Conflict) (store.Resolution, error) {
			seen = append(seen, c)
			merged := *c.Incoming.(*models.Note)
			merged.Message = c.Server.(*models.Note).Message + " + " + merged.Message
			return store.Resolution{Action: store.Merge, Row: &merged}, nil
		}
		r := newFieldRig(t, b, store.WithResolver(resolver))
		a, bb := r.device("a"), r.device("b")
		id := r.shared(a, bb)
		edit(t, a, id, func(n *models.Note) { n.Message = "A's"; n.Completed = true })
		edit(t, bb, id, func(n *models.Note) { n.Message = "B's" })
		r.sync(a, false)
		r.sync(bb, false)
		if len(seen) != 1 {
			t.Fatalf("the resolver ran %d times", len(seen))
		}
		c := seen[0]
		base, server, in := c.Base.(*models.Note), c.Server.(*models.Note), c.Incoming.(*models.Note)
		if base.Message != "first" || base.Completed != true || server.Message != "A's" || !server.Completed ||
			in.Message != "B's" || !in.Completed {
			t.Errorf("base %+v server %+v incoming %+v", base, server, in)
		}
		if !slices.Equal(c.Changed, []string{"message"}) || !slices.Equal(c.ServerChanged, []string{"message"}) {
			t.Errorf("changed %v, server changed %v, want [message] and [message]", c.Changed, c.ServerChanged)
		}
		r.sync(a, false)
		r.holds(id, "A's + B's", true, a, bb)
	})
}

// TestWholeRowClient: a client that pushes whole rows (an older client)
// still works against a server that takes field pushes: its row replaces
// the server's, as before.
func TestWholeRowClient(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newFieldRig(t, b)
		a, old := r.device("a"), r.device("old")
		id := r.shared(a, old)
		edit(t, a, id, func(n *models.Note) { n.Completed = true })
		edit(t, old, id, func(n *models.Note) { n.Message = "old client's" })
		r.sync(a, false)
		res := r.sync(old, true)
		if body := r.lastPush(); strings.Contains(body, `"base"`) || !strings.Contains(body, `"userName"`) {
			t.Errorf("the whole-row push is %s", body)
		}
		if len(res.Merged) != 0 {
			t.Errorf("merged %+v", res.Merged)
		}
		r.sync(a, false)
		r.holds(id, "old client's", false, a, old)
	})
}

// TestFieldPushReplayed: a field push whose answer was lost is sent again
// from the outbox with its key and answered from the record, merged row
// included; a field changed meanwhile is pushed after it, and nothing is
// lost or applied twice.
func TestFieldPushReplayed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newFieldRig(t, b)
		a, bb := r.device("a"), r.device("b")
		id := r.shared(a, bb)
		edit(t, a, id, func(n *models.Note) { n.Message = "A's" })
		r.sync(a, false)
		edit(t, bb, id, func(n *models.Note) { n.Completed = true })
		r.loseAnswer.Store(true)
		opts := storetest.Sync(r.url, "alice")
		opts.MaxAttempts = 1
		if _, err := bb.Synchronize(context.Background(), opts); err == nil {
			t.Fatal("the sync whose push answer was lost succeeded")
		}
		edit(t, bb, id, func(n *models.Note) { n.UserName = "B's" })
		res := r.sync(bb, false)
		// The recorded answer reports the merge; the push after it is
		// merged too (b had not pulled the merged row yet).
		if len(res.Merged) != 2 || res.Merged[0].ID != id || res.Merged[1].ID != id {
			t.Errorf("merged %+v, want the note twice", res.Merged)
		}
		if body := r.lastPush(); !strings.Contains(body, `"base":{"`+id.String()+`":{"userName":"alice"}}`) {
			t.Errorf("the push after the replay is %s, want only userName", body)
		}
		r.sync(a, false)
		r.holds(id, "A's", true, a, bb)
		n, err := generated.SyncNotes(a).Get(context.Background(), id)
		if err != nil || n.UserName != "B's" {
			t.Errorf("a holds %+v (%v), want userName B's", n, err)
		}
	})
}

// TestFieldPushDeleteWins: a field push of a row deleted on the server is
// ignored (delete wins), as is one of a row the server no longer has (its
// tombstone purged): a field push never creates a row.
func TestFieldPushDeleteWins(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newFieldRig(t, b)
		a, bb := r.device("a"), r.device("b")
		id := r.shared(a, bb)
		if err := generated.SyncNotes(a).Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		r.sync(a, false)
		edit(t, bb, id, func(n *models.Note) { n.Message = "too late" })
		res := r.sync(bb, false)
		if len(res.Ignored) != 1 || res.Ignored[0].ID != id || res.Ignored[0].Reason != wire.ReasonDeleted {
			t.Errorf("ignored %+v, want the note, deleted", res.Ignored)
		}
		if _, err := generated.SyncNotes(bb).Get(context.Background(), id); err == nil {
			t.Error("b still holds the deleted note")
		}

		gone := uuid.New()
		row := &models.Note{Message: "only this field"}
		row.ID, row.SyncID = gone, "alice"
		out, err := r.st.Push(context.Background(), store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "b",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Updated: []any{row},
				Absent: map[any][]string{row: {"completed", "user_id", "user_name", "file"}},
				Fields: map[any]*wire.FieldChange{row: {Changed: []string{"message"}, Base: &models.Note{}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Ignored) != 1 || out.Ignored[0].ID != gone || out.Ignored[0].Reason != wire.ReasonDeleted {
			t.Errorf("ignored %+v, want the row the server lacks", out.Ignored)
		}
		var n int
		d := b.Dialect
		if err := r.sdb.QueryRow("SELECT COUNT(*) FROM "+d.Quote("ss_tb_note")+" WHERE "+d.Quote("id")+" = "+d.Placeholder(1), gone.String()).Scan(&n); err != nil || n != 0 {
			t.Errorf("the server holds %d rows with the id (%v), want none", n, err)
		}
	})
}

// TestFieldPushHook: a BeforeWrite hook sees a field-pushed row whole (the
// fields left out hold the server's values) and may set a field the push
// left out, which is then written.
func TestFieldPushHook(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var absent [][]string
		hook := func(_ context.Context, w *store.Write) error {
			if w.Op != store.OpUpdate {
				return nil
			}
			absent = append(absent, w.Absent)
			n := w.Row.(*models.Note)
			if !n.Completed {
				return fmt.Errorf("the row is not whole: %+v", n)
			}
			n.UserName = "checked: " + n.Message
			return nil
		}
		r := newFieldRig(t, b, store.WithHooks("ss_tb_note", store.Hooks{BeforeWrite: hook}))
		a, bb := r.device("a"), r.device("b")
		id := r.shared(a, bb)
		edit(t, a, id, func(n *models.Note) { n.Completed = true })
		r.sync(a, false)
		r.sync(bb, false)
		edit(t, bb, id, func(n *models.Note) { n.Message = "renamed" })
		r.sync(bb, false)
		r.sync(a, false)
		r.holds(id, "renamed", true, a, bb)
		for _, db := range []*client.DB{a, bb} {
			n, err := generated.SyncNotes(db).Get(context.Background(), id)
			if err != nil || n.UserName != "checked: renamed" {
				t.Errorf("a device holds %+v (%v), want the hook's userName", n, err)
			}
		}
		if len(absent) != 2 || !slices.Equal(absent[1], []string{"completed", "user_id", "user_name", "file"}) {
			t.Errorf("the hook saw absent fields %v", absent)
		}
	})
}

// TestFieldChangedInFlight: a field changed again while its push was on
// the way (its answer lost, the push resent later) is pushed next with the
// value the server got as its base, so that the server does not take the
// device's own earlier value for another device's change.
func TestFieldChangedInFlight(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newFieldRig(t, b)
		a, bb := r.device("a"), r.device("b")
		id := r.shared(a, bb)
		edit(t, bb, id, func(n *models.Note) { n.Message = "B1" })
		r.loseAnswer.Store(true)
		opts := storetest.Sync(r.url, "alice")
		opts.MaxAttempts = 1
		if _, err := bb.Synchronize(context.Background(), opts); err == nil {
			t.Fatal("the sync whose push answer was lost succeeded")
		}
		edit(t, bb, id, func(n *models.Note) { n.Message = "B2" })
		edit(t, a, id, func(n *models.Note) { n.Completed = true })
		r.sync(a, false)
		res := r.sync(bb, false)
		if body := r.lastPush(); !strings.Contains(body, `"base":{"`+id.String()+`":{"message":"B1"}}`) {
			t.Errorf("the push after the resent one is %s, want message with base B1", body)
		}
		for _, m := range res.Merged {
			if len(m.Overwritten) > 0 {
				t.Errorf("merged %+v: the device's own earlier value taken for another device's change", m)
			}
		}
		r.sync(a, false)
		r.holds(id, "B2", true, a, bb)
	})
}

// TestFieldPushSeesConcurrentCommit: a field push that reaches a row after
// another device's push of other fields of it committed, within the push's
// own transaction, sees that commit (on MariaDB a plain read would see the
// transaction's older snapshot): the row is merged and the pushing device
// pulls the other device's field. The other push commits from a hook of
// the table written before the notes. SQLite runs one push at a time, so it
// runs on PostgreSQL and MariaDB.
func TestFieldPushSeesConcurrentCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		if b.Name == "sqlite" {
			t.Skip("SQLite runs one push at a time: no push commits inside another")
		}
		ctx := context.Background()
		var r *fieldRig
		var inner func() error
		hook := func(_ context.Context, w *store.Write) error {
			if w.Op != store.OpUpdate || inner == nil {
				return nil
			}
			f := inner
			inner = nil
			return f()
		}
		r = newFieldRig(t, b, store.WithHooks("ss_tb_user", store.Hooks{BeforeWrite: hook}))
		a, bb := r.device("a"), r.device("b")
		u := &models.User{Name: "Ann"}
		if err := generated.SyncUsers(a).Insert(ctx, u); err != nil {
			t.Fatal(err)
		}
		id := r.shared(a, bb)
		edit(t, bb, id, func(n *models.Note) { n.Message = "B's" })
		bu, err := generated.SyncUsers(bb).Get(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		bu.Name = "Ann B."
		if err := generated.SyncUsers(bb).Update(ctx, bu); err != nil {
			t.Fatal(err)
		}
		// While b's push runs, after it read the users: another device
		// completes the note, and commits.
		inner = func() error {
			n, err := generated.SyncNotes(a).Get(ctx, id)
			if err != nil {
				return err
			}
			n.Completed = true
			_, err = r.st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "other",
				Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Updated: []any{n},
					Absent: map[any][]string{n: {"message", "user_id", "user_name", "file"}},
					Fields: map[any]*wire.FieldChange{n: {Changed: []string{"completed"}, Base: &models.Note{}}}}}})
			return err
		}
		res := r.sync(bb, false)
		if inner != nil {
			t.Fatal("the other push did not run")
		}
		if len(res.Merged) != 1 || res.Merged[0].ID != id {
			t.Errorf("merged %+v, want the note", res.Merged)
		}
		r.sync(a, false)
		r.holds(id, "B's", true, a, bb)
	})
}
