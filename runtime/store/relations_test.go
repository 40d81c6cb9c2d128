package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// relWorld is one server on a store of storetest.Relations and its devices.
type relWorld struct {
	t   *testing.T
	url string
}

func newRelWorld(t *testing.T, b storetest.Backend) *relWorld {
	st, _ := b.Store(t, storetest.Relations(t))
	return &relWorld{t: t, url: storetest.Serve(t, st, server.Config{})}
}

func (w *relWorld) device() *client.DB {
	return storetest.Device(w.t, storetest.Relations(w.t), "ann")
}

func (w *relWorld) sync(d *client.DB) client.Result {
	w.t.Helper()
	res, err := d.Synchronize(context.Background(), storetest.Sync(w.url, "ann"))
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	return *res
}

func repo(d *client.DB, table string) *client.Repo[storetest.Node] {
	return client.NewRepo(d, storetest.RelTable(table))
}

func (w *relWorld) add(d *client.DB, table, title string, a, b *uuid.UUID) uuid.UUID {
	w.t.Helper()
	n := &storetest.Node{Title: title, A: a, B: b}
	if err := repo(d, table).Insert(context.Background(), n); err != nil {
		w.t.Fatalf("insert %s %s: %v", table, title, err)
	}
	return n.ID
}

// get returns the row (nil when the device does not have it live).
func (w *relWorld) get(d *client.DB, table string, id uuid.UUID) *storetest.Node {
	w.t.Helper()
	n, err := repo(d, table).Get(context.Background(), id)
	if err != nil {
		return nil
	}
	return n
}

// checkInvariant: on the device, no live row references a missing or
// deleted row, and SQLite's own foreign key check passes.
func (w *relWorld) checkInvariant(d *client.DB, who string) {
	w.t.Helper()
	for _, q := range []string{
		`SELECT COUNT(*) FROM rel_task c WHERE c.deleted_at IS NULL AND c.a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rel_project p WHERE p.id = c.a AND p.deleted_at IS NULL)`,
		`SELECT COUNT(*) FROM rel_task c WHERE c.deleted_at IS NULL AND c.b IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rel_task p WHERE p.id = c.b AND p.deleted_at IS NULL)`,
		`SELECT COUNT(*) FROM rel_tag c WHERE c.deleted_at IS NULL AND c.a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rel_project p WHERE p.id = c.a AND p.deleted_at IS NULL)`,
		`SELECT COUNT(*) FROM rel_comment c WHERE c.deleted_at IS NULL AND c.a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rel_task p WHERE p.id = c.a AND p.deleted_at IS NULL)`,
	} {
		var n int
		if err := d.SQL().QueryRow(q).Scan(&n); err != nil || n != 0 {
			w.t.Fatalf("%s: %d live rows reference a missing or deleted row (%v): %s", who, n, err, q)
		}
	}
	rows, err := d.SQL().Query(`PRAGMA foreign_key_check`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		w.t.Fatalf("%s: PRAGMA foreign_key_check reports a violation", who)
	}
}

func ignored(res client.Result, id uuid.UUID, reason string) bool {
	for _, ig := range res.Ignored {
		if ig.ID == id && ig.Reason == reason && ig.Message != "" {
			return true
		}
	}
	return false
}

// TestCascade is the reported case: A deletes a project while B, offline,
// adds a task to it and a subtask to one of its tasks. The project's tasks
// go with it (recursively, subtasks too), B's late rows are deleted as they
// arrive and reported, and a fresh device syncs and edits all it has.
func TestCascade(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := newRelWorld(t, b)
		a, bd := w.device(), w.device()
		p := w.add(a, "rel_project", "launch", nil, nil)
		other := w.add(a, "rel_project", "other", nil, nil)
		t1 := w.add(a, "rel_task", "plan", &p, nil)
		t2 := w.add(a, "rel_task", "plan, part 1", &p, &t1)
		t3 := w.add(a, "rel_task", "plan, part 1a", &p, &t2) // three levels
		keep := w.add(a, "rel_task", "elsewhere", &other, nil)
		w.sync(a)
		w.sync(bd)
		if w.get(bd, "rel_task", t3) == nil {
			t.Fatal("the three-level tree did not reach the second device")
		}

		if err := repo(a, "rel_project").Delete(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		// On the deleting device at once: the tree is gone, and nothing new
		// may hang under it.
		w.checkInvariant(a, "the deleting device")
		if w.get(a, "rel_task", t3) != nil {
			t.Fatal("the deleting device keeps a subtask of the deleted project")
		}
		if err := repo(a, "rel_task").Insert(context.Background(), &storetest.Node{Title: "x", A: &p}); !errors.Is(err, client.ErrDeletedReference) {
			t.Fatalf("a task under the deleted project: %v, want ErrDeletedReference", err)
		}
		late := w.add(bd, "rel_task", "late task", &p, nil)
		lateSub := w.add(bd, "rel_task", "late subtask", &other, &t2)
		w.sync(a)
		res := w.sync(bd)
		if !ignored(res, late, wire.ReasonParentDeleted) || !ignored(res, lateSub, wire.ReasonParentDeleted) {
			t.Fatalf("B's late rows are not reported as deleted with their parent: %+v", res.Ignored)
		}
		w.sync(a)
		for _, d := range []*client.DB{a, bd} {
			for _, id := range []uuid.UUID{t1, t2, t3, late, lateSub} {
				if w.get(d, "rel_task", id) != nil {
					t.Fatalf("task %s is live on a device after its project was deleted", id)
				}
			}
			if w.get(d, "rel_task", keep) == nil {
				t.Fatal("a task of another project went with the deleted one")
			}
			w.checkInvariant(d, "device")
		}

		fresh := w.device()
		w.sync(fresh)
		w.checkInvariant(fresh, "fresh device")
		for _, table := range []string{"rel_project", "rel_task"} {
			all, err := repo(fresh, table).Select(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range all {
				n.Title += " (edited)"
				if err := repo(fresh, table).Update(context.Background(), n); err != nil {
					t.Fatalf("the fresh device cannot edit %s %s: %v", table, n.ID, err)
				}
			}
		}
		w.sync(fresh)
	})
}

// TestRestrict: deleting a task that a live comment references is refused
// and reported, and the deleting device gets the task back; a comment added
// offline under a task deleted meanwhile is refused and reported, and
// leaves every device.
func TestRestrict(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := newRelWorld(t, b)
		a, bd := w.device(), w.device()
		p := w.add(a, "rel_project", "p", nil, nil)
		held := w.add(a, "rel_task", "held", &p, nil)
		free := w.add(a, "rel_task", "free", &p, nil)
		w.sync(a)
		w.sync(bd)
		c := w.add(a, "rel_comment", "a comment", &held, nil)
		if err := repo(a, "rel_task").Delete(context.Background(), held); !errors.Is(err, client.ErrReferenced) {
			t.Fatalf("deleting a task with a comment on the same device: %v, want ErrReferenced", err)
		}
		w.sync(a)

		// B has not seen the comment: its delete reaches the server.
		if err := repo(bd, "rel_task").Delete(context.Background(), held); err != nil {
			t.Fatal(err)
		}
		res := w.sync(bd)
		if !ignored(res, held, wire.ReasonRestricted) {
			t.Fatalf("the refused delete is not reported: %+v", res.Ignored)
		}
		w.sync(bd)
		if w.get(bd, "rel_task", held) == nil || w.get(bd, "rel_comment", c) == nil {
			t.Fatal("the deleting device did not get the refused task back")
		}

		if err := repo(a, "rel_task").Delete(context.Background(), free); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		late := w.add(bd, "rel_comment", "late comment", &free, nil)
		res = w.sync(bd)
		if !ignored(res, late, wire.ReasonParentDeleted) {
			t.Fatalf("the comment under a deleted task is not reported: %+v", res.Ignored)
		}
		w.sync(bd)
		if w.get(bd, "rel_comment", late) != nil {
			t.Fatal("the refused comment stays live on its device")
		}
		for _, d := range []*client.DB{a, bd} {
			w.sync(d)
			w.checkInvariant(d, "device")
		}
	})
}

// TestSetNull: deleting a project clears the reference of its tags on every
// device; a tag added offline under a project deleted meanwhile is written
// with the reference cleared and reported.
func TestSetNull(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := newRelWorld(t, b)
		a, bd := w.device(), w.device()
		p := w.add(a, "rel_project", "p", nil, nil)
		tag := w.add(a, "rel_tag", "urgent", &p, nil)
		w.sync(a)
		w.sync(bd)
		if err := repo(a, "rel_project").Delete(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if n := w.get(a, "rel_tag", tag); n == nil || n.A != nil {
			t.Fatalf("the deleting device has tag %+v, want its project cleared at once", n)
		}
		late := w.add(bd, "rel_tag", "late", &p, nil)
		w.sync(a)
		res := w.sync(bd)
		if !ignored(res, late, wire.ReasonReferenceCleared) {
			t.Fatalf("the cleared reference is not reported: %+v", res.Ignored)
		}
		w.sync(bd)
		w.sync(a)
		for _, d := range []*client.DB{a, bd} {
			for _, id := range []uuid.UUID{tag, late} {
				n := w.get(d, "rel_tag", id)
				if n == nil || n.A != nil {
					t.Fatalf("tag %s is %+v on a device, want it live with no project", id, n)
				}
			}
			w.checkInvariant(d, "device")
		}
	})
}

// TestChildOfRowDeletedInSamePush: one push creates a subtask under a
// task and moves that task into a project deleted on the server. The push
// writes new rows before updated ones, so the subtask is written while its
// parent is still live; the parent then becomes deleted (parent_deleted),
// and its delete must reach the subtask written in the same push.
func TestChildOfRowDeletedInSamePush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newRelWorld(t, b)
		a, bd := w.device(), w.device()
		gone := w.add(a, "rel_project", "gone", nil, nil)
		home := w.add(a, "rel_project", "home", nil, nil)
		task := w.add(a, "rel_task", "task", &home, nil)
		w.sync(a)
		w.sync(bd)
		if err := repo(a, "rel_project").Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		// b, which has not pulled the delete, does both in one push.
		sub := w.add(bd, "rel_task", "subtask", &home, &task)
		moved := w.get(bd, "rel_task", task)
		moved.A = &gone
		if err := repo(bd, "rel_task").Update(ctx, moved); err != nil {
			t.Fatal(err)
		}
		res := w.sync(bd)
		if !ignored(res, task, wire.ReasonParentDeleted) {
			t.Errorf("the task moved into a deleted project was not reported parent_deleted: %+v", res.Ignored)
		}
		for _, d := range []*client.DB{bd, a, w.device()} {
			w.sync(d)
			if w.get(d, "rel_task", sub) != nil {
				t.Error("the subtask of a task deleted in the same push is live")
			}
			w.checkInvariant(d, "after the push")
		}
	})
}

// TestUpdateReferencesRowCreatedInSamePush: one push creates a subtask of
// a task the server has, and changes that task to reference the new
// subtask (a self-reference both ways). The new row is written before the
// update that references it, also on stores that check keys at each
// statement (MariaDB).
func TestUpdateReferencesRowCreatedInSamePush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newRelWorld(t, b)
		a := w.device()
		p := w.add(a, "rel_project", "p", nil, nil)
		task := w.add(a, "rel_task", "task", &p, nil)
		w.sync(a)
		sub := w.add(a, "rel_task", "subtask", &p, &task)
		n := w.get(a, "rel_task", task)
		n.B = &sub
		if err := repo(a, "rel_task").Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		fresh := w.device()
		w.sync(fresh)
		if got := w.get(fresh, "rel_task", task); got == nil || got.B == nil || *got.B != sub {
			t.Fatalf("a fresh device holds the task as %+v, want it referencing the subtask", got)
		}
		w.checkInvariant(fresh, "a fresh device")
	})
}

// TestChildUnderParentDeletedDuringPush: a push updates a project and
// adds a task under it, and another device's delete of the project commits
// after the push read the project and before it wrote it. The update then
// finds the project deleted (a delete wins), and the task, written after
// it in the same push, must follow its rule under a deleted project
// (cascade: deleted) instead of staying live under it.
func TestChildUnderParentDeletedDuringPush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		if b.Name == "sqlite" {
			t.Skip("SQLite applies one push at a time: no delete commits inside another push")
		}
		ctx := context.Background()
		var deleter *client.DB
		var url string
		armed := false
		hooks := store.Hooks{BeforeWrite: func(ctx context.Context, w *store.Write) error {
			if armed && w.Op == store.OpUpdate {
				armed = false
				if _, err := deleter.Synchronize(context.Background(), storetest.Sync(url, "ann")); err != nil {
					return err
				}
			}
			return nil
		}}
		st, _ := b.Store(t, storetest.Relations(t), store.WithHooks("rel_project", hooks))
		url = storetest.Serve(t, st, server.Config{})
		w := &relWorld{t: t, url: url}
		a := w.device()
		deleter = w.device()
		p := w.add(a, "rel_project", "p", nil, nil)
		w.sync(a)
		w.sync(deleter)
		if err := repo(deleter, "rel_project").Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		project := w.get(a, "rel_project", p)
		project.Title = "p, renamed"
		if err := repo(a, "rel_project").Update(ctx, project); err != nil {
			t.Fatal(err)
		}
		task := w.add(a, "rel_task", "task", &p, nil)
		armed = true
		// Whole rows: a field push reads the rows it writes locked, so no
		// delete commits between its read and its write (the delete would
		// wait for it); a whole-row push, as older clients send, does not.
		opts := storetest.Sync(url, "ann")
		opts.WholeRows = true
		if _, err := a.Synchronize(ctx, opts); err != nil {
			t.Fatal(err)
		}
		if armed {
			t.Fatal("the delete did not run inside the push")
		}
		for _, d := range []*client.DB{a, deleter, w.device()} {
			w.sync(d)
			if w.get(d, "rel_task", task) != nil {
				t.Error("the task added under a project deleted during its push is live")
			}
			w.checkInvariant(d, "after the push")
		}
	})
}

// cycle writes, in one local transaction on d, a project and three tasks
// in it: x and y referencing each other, z referencing itself when self is
// set (else nothing). They are inserted in the cycle's order, a row before
// the one it references: the device checks keys at commit.
func (w *relWorld) cycle(d *client.DB, self bool) (x, y, z uuid.UUID) {
	w.t.Helper()
	p := w.add(d, "rel_project", "p", nil, nil)
	x, y, z = uuid.New(), uuid.New(), uuid.New()
	var zRef *uuid.UUID
	if self {
		zRef = &z
	}
	err := d.Transaction(context.Background(), func(ctx context.Context) error {
		for _, n := range []*storetest.Node{
			{Record: ssync.Record{ID: x}, Title: "x", A: &p, B: &y},
			{Record: ssync.Record{ID: y}, Title: "y", A: &p, B: &x},
			{Record: ssync.Record{ID: z}, Title: "z", A: &p, B: zRef},
		} {
			if err := repo(d, "rel_task").Insert(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return x, y, z
}

// TestSelfCycle: new rows of a self-referencing table that reference each
// other in a cycle (and a row that references itself), created offline in
// one local transaction, sync in one push on every store (MariaDB checks
// keys at each statement) and reach another device whole; deleting one
// cascades around the cycle and ends.
func TestSelfCycle(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := newRelWorld(t, b)
		a, other := w.device(), w.device()
		ctx := context.Background()
		x, y, z := w.cycle(a, true)
		w.sync(a)
		w.sync(other)
		for _, c := range []struct {
			id, ref uuid.UUID
		}{{x, y}, {y, x}, {z, z}} {
			n := w.get(other, "rel_task", c.id)
			if n == nil || n.B == nil || *n.B != c.ref {
				t.Fatalf("the other device has %v for %s, want a live row referencing %s", n, c.id, c.ref)
			}
		}
		w.checkInvariant(other, "other")
		if err := repo(other, "rel_task").Delete(ctx, x); err != nil {
			t.Fatal(err)
		}
		w.sync(other)
		w.sync(a)
		for _, id := range []uuid.UUID{x, y} {
			if n := w.get(a, "rel_task", id); n != nil {
				t.Fatalf("%s is live after the cycle's delete: %+v", id, n)
			}
		}
		if w.get(a, "rel_task", z) == nil {
			t.Fatal("z, outside the cycle, was deleted")
		}
		w.checkInvariant(a, "a")
		w.checkInvariant(other, "other")
	})
}

// TestCycleInParts: a push split in parts of one row (PushBatchRows) keeps
// new rows that reference each other in a cycle, in one table and across
// tables, in one part: a part that ends between them would reference a
// row the server does not have yet, refused on every retry.
func TestCycleInParts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := newRelWorld(t, b)
		a, other := w.device(), w.device()
		ctx := context.Background()
		x, y, _ := w.cycle(a, false)
		opts := storetest.Sync(w.url, "ann")
		opts.PushBatchRows = 1
		res, err := a.Synchronize(ctx, opts)
		if err != nil {
			t.Fatalf("sync in parts of one row: %v", err)
		}
		if n := len(res.Pushed); n == 0 {
			t.Fatal("nothing pushed")
		}
		w.sync(other)
		for _, c := range []struct{ id, ref uuid.UUID }{{x, y}, {y, x}} {
			if n := w.get(other, "rel_task", c.id); n == nil || n.B == nil || *n.B != c.ref {
				t.Fatalf("the other device has %v for %s, want a live row referencing %s", n, c.id, c.ref)
			}
		}
		w.checkInvariant(other, "other")
	})
}
