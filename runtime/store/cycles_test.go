package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// cycWorld is one server on a store of storetest.Cycles and its devices.
type cycWorld struct {
	t   *testing.T
	st  *store.Store
	db  *sql.DB // the store's database
	ph  string  // its first placeholder
	url string
}

func newCycWorld(t *testing.T, b storetest.Backend, opts ...store.Option) *cycWorld {
	st, db := b.Store(t, storetest.Cycles(t), opts...)
	return &cycWorld{t: t, st: st, db: db, ph: b.Dialect.Placeholder(1), url: storetest.Serve(t, st, server.Config{})}
}

func (w *cycWorld) device() *client.DB {
	return storetest.Device(w.t, storetest.Cycles(w.t), "ann")
}

func (w *cycWorld) sync(d *client.DB) client.Result {
	w.t.Helper()
	res, err := d.Synchronize(context.Background(), storetest.Sync(w.url, "ann"))
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	return *res
}

func cyc(d *client.DB, table string) *client.Repo[storetest.Node] {
	return client.NewRepo(d, storetest.CycleTable(table))
}

// insert writes a row with a chosen id, so that rows of a cycle can
// reference each other before both exist.
func (w *cycWorld) insert(ctx context.Context, d *client.DB, table string, id uuid.UUID, title string, a, b *uuid.UUID) {
	w.t.Helper()
	if err := cyc(d, table).Insert(ctx, &storetest.Node{Record: ssync.Record{ID: id}, Title: title, A: a, B: b}); err != nil {
		w.t.Fatalf("insert %s %s: %v", table, title, err)
	}
}

func (w *cycWorld) get(d *client.DB, table string, id uuid.UUID) *storetest.Node {
	w.t.Helper()
	n, err := cyc(d, table).Get(context.Background(), id)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// check verifies the invariant on the store and on every device: no live
// row references a missing or deleted row, and SQLite's foreign key check
// passes on every device file.
func (w *cycWorld) check(devices ...*client.DB) {
	w.t.Helper()
	ctx := context.Background()
	if bad, err := storetest.Dangling(ctx, w.db, storetest.Cycles(w.t), true); err != nil || bad != "" {
		w.t.Fatalf("store: %s %v", bad, err)
	}
	for i, d := range devices {
		bad, err := storetest.Dangling(ctx, d.SQL(), storetest.Cycles(w.t), false)
		if err == nil && bad == "" {
			bad, err = storetest.ForeignKeyCheck(ctx, d.SQL())
		}
		if err != nil || bad != "" {
			w.t.Fatalf("device %d: %s %v", i, bad, err)
		}
	}
}

// serverRefs returns a row's two references as the store holds them.
func (w *cycWorld) serverRefs(table string, id uuid.UUID) (a, b *string) {
	w.t.Helper()
	var na, nb sql.NullString
	if err := w.db.QueryRow("SELECT a, b FROM "+table+" WHERE id = "+w.ph, id.String()).Scan(&na, &nb); err != nil {
		w.t.Fatalf("store row %s %s: %v", table, id, err)
	}
	if na.Valid {
		a = &na.String
	}
	if nb.Valid {
		b = &nb.String
	}
	return a, b
}

func same(s *string, id uuid.UUID) bool { return s != nil && *s == id.String() }

func show(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

// TestCycleCreate: one push creates every row of a reference cycle (a
// user whose favorite task and pinned step belong to them), on every
// store; a fresh device's full pull applies and can edit every row.
func TestCycleCreate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newCycWorld(t, b)
		a := w.device()
		u, t1, t2, s := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		err := a.Transaction(ctx, func(ctx context.Context) error {
			// The user first, referencing rows that do not exist yet.
			w.insert(ctx, a, "cyc_user", u, "ann", &t1, &s)
			w.insert(ctx, a, "cyc_task", t1, "plan", &u, nil)
			w.insert(ctx, a, "cyc_task", t2, "plan, part 1", &u, &t1)
			w.insert(ctx, a, "cyc_step", s, "first step", &t2, nil)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w.check(a)
		if res := w.sync(a); len(res.Ignored) != 0 {
			t.Fatalf("the cycle's rows were not all applied: %+v", res.Ignored)
		}
		if ra, rb := w.serverRefs("cyc_user", u); !same(ra, t1) || !same(rb, s) {
			t.Fatalf("the store holds the user's references as %s, %s; want %s, %s", show(ra), show(rb), t1, s)
		}
		if ra, rb := w.serverRefs("cyc_task", t2); !same(ra, u) || !same(rb, t1) {
			t.Fatalf("the store holds the subtask's references as %s, %s; want %s, %s", show(ra), show(rb), u, t1)
		}
		w.check(a)

		fresh := w.device()
		w.sync(fresh)
		w.check(a, fresh)
		if n := w.get(fresh, "cyc_user", u); n == nil || n.A == nil || *n.A != t1 || n.B == nil || *n.B != s {
			t.Fatalf("the fresh device has the user as %+v", n)
		}
		for _, table := range []string{"cyc_user", "cyc_task", "cyc_step"} {
			all, err := cyc(fresh, table).Select(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range all {
				n.Title += " (edited)"
				if err := cyc(fresh, table).Update(ctx, n); err != nil {
					t.Fatalf("the fresh device cannot edit %s %s: %v", table, n.ID, err)
				}
			}
		}
		w.sync(fresh)
		w.sync(a)
		if n := w.get(a, "cyc_step", s); n == nil || n.Title != "first step (edited)" {
			t.Fatalf("the edit did not come back: %+v", n)
		}
		w.check(a, fresh)
	})
}

// TestCycleLateParent: while A deletes a user, B, offline, creates in one
// push a task of that user, a step of the task, and users that reference
// the task (setnull) and the step (restrict) through back references, and
// makes an existing user pin the step. The task and step go with the
// deleted user; the reference to the task is cleared, the new user that
// pinned the step goes too (its parent is gone in the same push), and the
// existing one keeps the server's version, each reported; every device and
// the store keep the invariant.
func TestCycleLateParent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newCycWorld(t, b)
		a, bd := w.device(), w.device()
		gone, keeper, t0, s0 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		w.insert(ctx, a, "cyc_user", gone, "leaving", nil, nil)
		err := a.Transaction(ctx, func(ctx context.Context) error {
			w.insert(ctx, a, "cyc_user", keeper, "keeper", nil, &s0)
			w.insert(ctx, a, "cyc_task", t0, "kept task", &keeper, nil)
			w.insert(ctx, a, "cyc_step", s0, "kept step", &t0, nil)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(bd)
		if err := cyc(a, "cyc_user").Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		w.sync(a)

		task, step, fan, pinner := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		err = bd.Transaction(ctx, func(ctx context.Context) error {
			w.insert(ctx, bd, "cyc_user", fan, "fan", &task, nil)
			w.insert(ctx, bd, "cyc_user", pinner, "pinner", nil, &step)
			// An existing user pins the late step too: refused, the user
			// keeps the server's version.
			k := w.get(bd, "cyc_user", keeper)
			k.Title, k.B = "keeper (b)", &step
			if err := cyc(bd, "cyc_user").Update(ctx, k); err != nil {
				return err
			}
			w.insert(ctx, bd, "cyc_task", task, "late task", &gone, nil)
			w.insert(ctx, bd, "cyc_step", step, "late step", &task, nil)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		res := w.sync(bd)
		for _, want := range []struct {
			id     uuid.UUID
			reason string
		}{{task, wire.ReasonParentDeleted}, {step, wire.ReasonParentDeleted}, {fan, wire.ReasonReferenceCleared}, {pinner, wire.ReasonParentDeleted},
			{keeper, wire.ReasonParentDeleted}} {
			if !ignored(res, want.id, want.reason) {
				t.Fatalf("row %s is not reported as %s: %+v", want.id, want.reason, res.Ignored)
			}
		}
		w.check()
		w.sync(bd)
		w.sync(a)
		for _, d := range []*client.DB{a, bd} {
			if n := w.get(d, "cyc_user", fan); n == nil || n.A != nil {
				t.Fatalf("the fan is %+v on a device, want it live with no favorite", n)
			}
			if n := w.get(d, "cyc_user", keeper); n == nil || n.Title != "keeper" || n.B == nil || *n.B != s0 {
				t.Fatalf("the keeper is %+v on a device, want the server's version (pinning %s)", n, s0)
			}
			for _, x := range []struct {
				table string
				id    uuid.UUID
			}{{"cyc_task", task}, {"cyc_step", step}, {"cyc_user", pinner}} {
				if w.get(d, x.table, x.id) != nil {
					t.Fatalf("%s %s is live on a device", x.table, x.id)
				}
			}
		}
		fresh := w.device()
		w.sync(fresh)
		w.check(a, bd, fresh)
	})
}

// TestCycleDelete: deletes follow the references through the cycle and
// end: deleting a user deletes their tasks and the tasks' steps, and clears
// the favorite of the users that chose one of those tasks; a user that
// pinned one of the steps (restrict), which the deleting device did not
// know, makes the server refuse the delete and report it, and the deleting
// device gets the rows back.
func TestCycleDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newCycWorld(t, b)
		a, bd := w.device(), w.device()
		u, v, t1, t2, s := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
		err := a.Transaction(ctx, func(ctx context.Context) error {
			w.insert(ctx, a, "cyc_user", u, "owner", &t1, nil)
			w.insert(ctx, a, "cyc_user", v, "fan", &t2, nil)
			w.insert(ctx, a, "cyc_task", t1, "plan", &u, nil)
			w.insert(ctx, a, "cyc_task", t2, "plan, part 1", &u, &t1)
			w.insert(ctx, a, "cyc_step", s, "step", &t2, nil)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(bd)
		// A pins the step; B does not know.
		pinner := uuid.New()
		w.insert(ctx, a, "cyc_user", pinner, "pinner", nil, &s)
		if err := cyc(a, "cyc_user").Delete(ctx, u); !errors.Is(err, client.ErrReferenced) {
			t.Fatalf("deleting the owner of a pinned step on the same device: %v, want ErrReferenced", err)
		}
		w.sync(a)

		if err := cyc(bd, "cyc_user").Delete(ctx, u); err != nil {
			t.Fatal(err)
		}
		if n := w.get(bd, "cyc_user", v); n == nil || n.A != nil {
			t.Fatalf("on the deleting device the fan is %+v, want the favorite cleared at once", n)
		}
		w.check(bd)
		res := w.sync(bd)
		if !ignored(res, u, wire.ReasonRestricted) {
			t.Fatalf("the refused delete is not reported: %+v", res.Ignored)
		}
		w.check()
		w.sync(bd)
		for _, x := range []struct {
			table string
			id    uuid.UUID
		}{{"cyc_user", u}, {"cyc_task", t2}, {"cyc_step", s}} {
			if w.get(bd, x.table, x.id) == nil {
				t.Fatalf("the deleting device did not get %s %s back", x.table, x.id)
			}
		}
		w.check(a, bd)

		// Unpinned, the delete goes through the cycle to its end.
		w.sync(a)
		n := w.get(a, "cyc_user", pinner)
		n.B = nil
		if err := cyc(a, "cyc_user").Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(bd)
		if err := cyc(bd, "cyc_user").Delete(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.sync(bd)
		w.sync(a)
		for _, d := range []*client.DB{a, bd} {
			for _, x := range []struct {
				table string
				id    uuid.UUID
			}{{"cyc_user", u}, {"cyc_task", t1}, {"cyc_task", t2}, {"cyc_step", s}} {
				if w.get(d, x.table, x.id) != nil {
					t.Fatalf("%s %s is live on a device after its owner was deleted", x.table, x.id)
				}
			}
			if n := w.get(d, "cyc_user", v); n == nil || n.A != nil {
				t.Fatalf("the fan is %+v on a device, want it live with no favorite", n)
			}
			if w.get(d, "cyc_user", pinner) == nil {
				t.Fatal("the pinner went with the owner")
			}
		}
		fresh := w.device()
		w.sync(fresh)
		w.check(a, bd, fresh)
	})
}

// TestCyclePurge: the tombstones of rows that referenced each other
// around a cycle are purged once every device has pulled past them,
// although each deleted row still referenced another.
func TestCyclePurge(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var skew atomic.Int64 // read by the server's goroutines
		w := newCycWorld(t, b, store.WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
		a := w.device()
		u, t1, s := uuid.New(), uuid.New(), uuid.New()
		err := a.Transaction(ctx, func(ctx context.Context) error {
			w.insert(ctx, a, "cyc_user", u, "owner", &t1, &s)
			w.insert(ctx, a, "cyc_task", t1, "plan", &u, nil)
			w.insert(ctx, a, "cyc_step", s, "step", &t1, nil)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		if err := cyc(a, "cyc_user").Delete(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		// The store records a device's checkpoint at most once a minute.
		skew.Add(int64(2 * time.Minute))
		w.sync(a) // the device's checkpoint is past every tombstone
		rep, err := w.st.PurgeTombstones(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"cyc_user", "cyc_task", "cyc_step"} {
			var n int
			if err := w.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 || rep.Purged[table] != 1 {
				t.Fatalf("%s holds %d rows after the purge (report %v), want its tombstone purged", table, n, rep.Purged)
			}
		}
		w.check(a)
	})
}

// BenchmarkPushCycle pushes users with a task each, in one push, on every
// store: "plain" with no back reference (the baseline), "cycle" with each
// user's favorite set to its own new task, which the store writes once the
// task is written. The ratio of the two is the cost of the second pass.
func BenchmarkPushCycle(b *testing.B) {
	const pairs = 200
	for _, be := range storetest.Backends(b) {
		for _, mode := range []string{"plain", "cycle"} {
			b.Run(be.Name+"/"+mode, func(b *testing.B) {
				ctx := context.Background()
				st, _ := be.Store(b, storetest.Cycles(b)) // each mode on a store of its own, equally full
				for b.Loop() {
					b.StopTimer()
					users, tasks := make([]any, pairs), make([]any, pairs)
					now := time.Now().UTC()
					for i := range pairs {
						u, tk := uuid.New(), uuid.New()
						user := &storetest.Node{Record: ssync.Record{ID: u, CreatedAt: now, UpdatedAt: now, SyncID: "ann"}, Title: "user"}
						if mode == "cycle" {
							user.A = &tk
						}
						users[i] = user
						tasks[i] = &storetest.Node{Record: ssync.Record{ID: tk, CreatedAt: now, UpdatedAt: now, SyncID: "ann"}, Title: "task", A: &u}
					}
					b.StartTimer()
					if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "ann"}, Device: "d", Sets: []wire.ChangeSet{
						{Collection: "cyc_user", Created: users}, {Collection: "cyc_task", Created: tasks}}}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/pairs, "ns/pair")
			})
		}
	}
}

// TestCycleLoop: rows of two tables that cascade into each other, around
// a chain x1 → y1 → x1 ← y2 ← x2: deleting x1 on a device deletes y1 and
// y2, and x2 through them, and stops at x1; on the server, a delete that
// reaches a row the deleting device did not know (x3 → y1, written after
// it synced) goes around the loop too and ends.
func TestCycleLoop(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, db := b.Store(t, storetest.Loop(t))
		url := storetest.Serve(t, st, server.Config{})
		sync := func(d *client.DB) {
			t.Helper()
			if _, err := d.Synchronize(ctx, storetest.Sync(url, "ann")); err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
		repo := func(d *client.DB, table string) *client.Repo[storetest.Node] {
			return client.NewRepo(d, storetest.LoopTable(table))
		}
		insert := func(ctx context.Context, d *client.DB, table string, id uuid.UUID, ref *uuid.UUID) {
			t.Helper()
			if err := repo(d, table).Insert(ctx, &storetest.Node{Record: ssync.Record{ID: id}, Title: table, A: ref}); err != nil {
				t.Fatalf("insert %s: %v", table, err)
			}
		}
		live := func(d *client.DB, table string, id uuid.UUID) bool {
			_, err := repo(d, table).Get(ctx, id)
			return err == nil
		}
		check := func(devices ...*client.DB) {
			t.Helper()
			if bad, err := storetest.Dangling(ctx, db, storetest.Loop(t), true); err != nil || bad != "" {
				t.Fatalf("store: %s %v", bad, err)
			}
			for i, d := range devices {
				bad, err := storetest.Dangling(ctx, d.SQL(), storetest.Loop(t), false)
				if err == nil && bad == "" {
					bad, err = storetest.ForeignKeyCheck(ctx, d.SQL())
				}
				if err != nil || bad != "" {
					t.Fatalf("device %d: %s %v", i, bad, err)
				}
			}
		}
		a, bd := storetest.Device(t, storetest.Loop(t), "ann"), storetest.Device(t, storetest.Loop(t), "ann")
		x1, y1, y2, x2, x3 := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
		err := a.Transaction(ctx, func(ctx context.Context) error {
			insert(ctx, a, "loop_x", x1, &y1)
			insert(ctx, a, "loop_y", y1, &x1)
			insert(ctx, a, "loop_y", y2, &x1)
			insert(ctx, a, "loop_x", x2, &y2)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sync(a)
		sync(bd)
		insert(ctx, a, "loop_x", x3, &y1) // B does not know it
		sync(a)
		check(a, bd)

		if err := repo(bd, "loop_x").Delete(ctx, x1); err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			table string
			id    uuid.UUID
		}{{"loop_x", x1}, {"loop_y", y1}, {"loop_y", y2}, {"loop_x", x2}} {
			if live(bd, x.table, x.id) {
				t.Fatalf("the deleting device keeps %s %s", x.table, x.id)
			}
		}
		sync(bd)
		sync(a)
		sync(bd)
		for _, d := range []*client.DB{a, bd} {
			for _, x := range []struct {
				table string
				id    uuid.UUID
			}{{"loop_x", x1}, {"loop_y", y1}, {"loop_y", y2}, {"loop_x", x2}, {"loop_x", x3}} {
				if live(d, x.table, x.id) {
					t.Fatalf("%s %s is live on a device after the loop was deleted", x.table, x.id)
				}
			}
		}
		check(a, bd)
	})
}
