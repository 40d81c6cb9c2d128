package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestInterruptedPull: a pull cut between batches leaves the device with
// rows whose referenced rows come in later batches (a subtask pulled
// before its parent, which was edited after it). The device never holds
// such a reference: its file passes PRAGMA foreign_key_check, every row
// it has can be edited, the references appear once their rows arrive, and
// the edits made meanwhile, pushed field by field or whole, do not clear
// them on the server.
func TestInterruptedPull(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, whole := range []bool{false, true} {
			w := newRelWorld(t, b)
			a := w.device()
			p := w.add(a, "rel_project", "launch", nil, nil)
			t0 := w.add(a, "rel_task", "elsewhere", &p, nil)
			t1 := w.add(a, "rel_task", "plan", &p, nil)
			t2 := w.add(a, "rel_task", "plan, part 1", &p, &t1)
			t3 := w.add(a, "rel_task", "plan, part 1a", &p, &t2)
			t4 := w.add(a, "rel_task", "plan, part 2", &p, &t1)
			w.sync(a)
			// Parents edited after their children: a pull sends t0 and t3
			// (in either order), t2, t4, then t1.
			for _, id := range []uuid.UUID{t2, t4, t1} {
				n := w.get(a, "rel_task", id)
				n.Title += " (edited)"
				if err := repo(a, "rel_task").Update(context.Background(), n); err != nil {
					t.Fatal(err)
				}
				w.sync(a)
			}

			fresh := w.device()
			ctx, cancel := context.WithCancel(context.Background())
			opts := storetest.Sync(w.url, "ann")
			opts.WholeRows = whole
			opts.PullBatchRows = 1
			batches := 0
			opts.Progress = func(p client.Progress) {
				if p.Stage == client.StagePull && p.Collection == "rel_task" {
					if batches++; batches == 4 {
						cancel() // before t1
					}
				}
			}
			if _, err := fresh.Synchronize(ctx, opts); !errors.Is(err, context.Canceled) {
				t.Fatalf("whole=%v: the cut pull: %v, want context.Canceled", whole, err)
			}
			cancel()
			w.checkInvariant(fresh, "the device whose pull was cut")
			n3, n2, n4 := w.get(fresh, "rel_task", t3), w.get(fresh, "rel_task", t2), w.get(fresh, "rel_task", t4)
			if n3 == nil || n2 == nil || n4 == nil || w.get(fresh, "rel_task", t1) != nil {
				t.Fatalf("whole=%v: the cut pull did not stop right before t1 (t3 %v, t2 %v, t4 %v)", whole, n3 != nil, n2 != nil, n4 != nil)
			}
			if n3.B == nil || *n3.B != t2 {
				t.Fatalf("whole=%v: t3's parent t2 arrived in the same pull, yet t3.b = %v", whole, n3.B)
			}
			if n2.B != nil || n4.B != nil {
				t.Fatalf("whole=%v: t2 and t4 reference t1, which the device does not have: b = %v, %v", whole, n2.B, n4.B)
			}
			// Everything the device has can be edited: t4 is moved under
			// t0 (the app's value wins over the held one).
			n4.B = &t0
			for _, n := range []*storetest.Node{n3, n2, n4} {
				n.Title += " (fresh)"
				if err := repo(fresh, "rel_task").Update(context.Background(), n); err != nil {
					t.Fatalf("whole=%v: edit %s on the device whose pull was cut: %v", whole, n.Title, err)
				}
			}
			w.checkInvariant(fresh, "the device that edited")

			opts.Progress, opts.PullBatchRows = nil, 0
			if _, err := fresh.Synchronize(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			w.checkInvariant(fresh, "the device after a whole pull")
			w.sync(a)
			for _, d := range []*client.DB{fresh, a} {
				n2, n4 := w.get(d, "rel_task", t2), w.get(d, "rel_task", t4)
				if n2 == nil || n2.B == nil || *n2.B != t1 || n2.Title != "plan, part 1 (edited) (fresh)" {
					t.Fatalf("whole=%v: t2 after the syncs: %+v, want parent t1 and both edits", whole, n2)
				}
				if n4 == nil || n4.B == nil || *n4.B != t0 || n4.Title != "plan, part 2 (edited) (fresh)" {
					t.Fatalf("whole=%v: t4 after the syncs: %+v, want parent t0 and both edits", whole, n4)
				}
			}
		}
	})
}

// TestMissingReference: a local write that references a row the device
// does not have is refused with an error that names the reference.
func TestMissingReference(t *testing.T) {
	d := storetest.Device(t, storetest.Relations(t), "ann")
	ghost := uuid.New()
	err := repo(d, "rel_task").Insert(context.Background(), &storetest.Node{Title: "x", B: &ghost})
	if !errors.Is(err, client.ErrMissingReference) {
		t.Fatalf("insert under a missing row: %v, want ErrMissingReference", err)
	}
	if want := ghost.String(); !containsAll(err.Error(), want, "rel_task.b", "rel_task") {
		t.Fatalf("the error does not name the reference: %v", err)
	}
	// In a transaction the row may come later (a cycle); one that never
	// comes fails the transaction, which writes nothing.
	ctx := context.Background()
	var first uuid.UUID
	err = d.Transaction(ctx, func(ctx context.Context) error {
		n := &storetest.Node{Title: "first"}
		if err := repo(d, "rel_task").Insert(ctx, n); err != nil {
			return err
		}
		first = n.ID
		return repo(d, "rel_task").Insert(ctx, &storetest.Node{Title: "y", B: &ghost})
	})
	if !errors.Is(err, client.ErrMissingReference) || !strings.Contains(err.Error(), ghost.String()) {
		t.Fatalf("a transaction referencing a row it never writes: %v, want ErrMissingReference naming it", err)
	}
	if n := taskOf(d, first); n != nil {
		t.Fatalf("the refused transaction wrote %+v", n)
	}
}

// taskOf returns the rel_task row id of d (nil when d does not have it).
func taskOf(d *client.DB, id uuid.UUID) *storetest.Node {
	n, err := repo(d, "rel_task").Get(context.Background(), id)
	if err != nil {
		return nil
	}
	return n
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestWaitingRow: a pulled row whose NOT NULL reference names a row the
// device does not get (a pull filter leaves the project out) waits, unseen,
// until that row arrives; newer versions replace it meanwhile.
func TestWaitingRow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHiddenWorld(t, b)
		reg, strict, w, hidden := h.reg, h.strict, h.relWorld, &h.hidden
		a, fresh := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		projects, tasks := client.NewRepo(a, storetest.RelTable("rel_project")), client.NewRepo(a, strict)
		p := &storetest.Node{Title: "hidden"}
		if err := projects.Insert(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		x := &storetest.Node{Title: "x", A: &p.ID}
		if err := tasks.Insert(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		// A subtask of x in a project the device gets: pulled in x's batch.
		shown := &storetest.Node{Title: "shown"}
		if err := projects.Insert(context.Background(), shown); err != nil {
			t.Fatal(err)
		}
		sub := &storetest.Node{Title: "sub", A: &shown.ID, B: &x.ID}
		if err := tasks.Insert(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(fresh)
		waiting := func(want bool) {
			t.Helper()
			w.checkInvariant(fresh, "the device")
			if got, err := client.NewRepo(fresh, strict).Get(context.Background(), sub.ID); err != nil || (got.B == nil) != want {
				t.Fatalf("the subtask of the waiting task: %+v, %v", got, err)
			}
			if _, err := client.NewRepo(fresh, strict).Get(context.Background(), x.ID); (err == nil) == want {
				t.Fatalf("the task under the project the device lacks: Get = %v, want waiting %v", err, want)
			}
		}
		waiting(true)
		x.Title = "x, edited"
		if err := tasks.Update(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(fresh)
		waiting(true)

		hidden.Store(false)
		p.Title = "shown"
		if err := projects.Update(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		res := w.sync(fresh)
		waiting(false)
		got, _ := client.NewRepo(fresh, strict).Get(context.Background(), x.ID)
		if got.Title != "x, edited" || *got.A != p.ID {
			t.Fatalf("the task after its project arrived: %+v", got)
		}
		if n := pulledOf(res, "rel_task"); n != 1 {
			t.Fatalf("the sync that brought the task reports %d rel_task rows pulled, want 1", n)
		}
		if got, _ := client.NewRepo(fresh, strict).Get(context.Background(), sub.ID); got == nil || got.B == nil || *got.B != x.ID {
			t.Fatalf("the subtask after its parent arrived: %+v", got)
		}
	})
}

// pulledOf is how many rows of collection res reports pulled.
func pulledOf(res client.Result, collection string) int {
	for _, c := range res.Pulled {
		if c.Collection == collection {
			return c.Created + c.Updated + c.Deleted
		}
	}
	return 0
}

// TestDeleteAfterMove: a pulled delete deletes the rows under the deleted
// row at once, so a pull cut after it leaves no live row under a deleted
// one; a row the server had moved away before the delete comes back with
// its subtree, which the server never changed.
func TestDeleteAfterMove(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newRelWorld(t, b)
		a, other := w.device(), w.device()
		p := w.add(a, "rel_project", "old home", nil, nil)
		p2 := w.add(a, "rel_project", "new home", nil, nil)
		k := w.add(a, "rel_task", "moves", &p, nil)
		// sub is in p2 already: it goes with p only through its parent k,
		// and the server never changes it.
		sub := w.add(a, "rel_task", "under it", &p2, &k)
		stays := w.add(a, "rel_task", "goes with the project", &p, nil)
		w.sync(a)
		w.sync(other)
		n := w.get(a, "rel_task", k)
		n.A = &p2
		if err := repo(a, "rel_task").Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		if err := repo(a, "rel_project").Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		w.sync(a)

		// other pulls the project's delete, and its pull is cut there.
		cut, cancel := context.WithCancel(ctx)
		opts := storetest.Sync(w.url, "ann")
		opts.Progress = func(pr client.Progress) {
			if pr.Stage == client.StagePull && pr.Collection == "rel_project" {
				cancel()
			}
		}
		if _, err := other.Synchronize(cut, opts); !errors.Is(err, context.Canceled) {
			t.Fatalf("the cut pull: %v", err)
		}
		cancel()
		w.checkInvariant(other, "the device whose pull was cut after the delete")
		if w.get(other, "rel_task", stays) != nil {
			t.Fatal("a task of the deleted project is live after its delete was pulled")
		}
		w.sync(other)
		w.checkInvariant(other, "the device after a whole pull")
		for _, id := range []uuid.UUID{k, sub} {
			if got := w.get(other, "rel_task", id); got == nil || *got.A != p2 {
				t.Fatalf("task %s, which the server moved away before the delete: %+v", id, got)
			}
		}
		if w.get(other, "rel_task", stays) != nil {
			t.Fatal("a task of the deleted project came back")
		}
	})
}

// TestReferenceOutOfScope: carol, who may read alice's rows, writes a task
// of alice's under a project of her own, which alice may not read. Alice's
// device holds the task without the reference (nil), edits it, and pushes
// it, field by field or whole: the server takes the edits and keeps the
// reference, which alice's push never names.
func TestReferenceOutOfScope(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newRelWorld(t, b)
		asCarol := storetest.Sync(w.url, "carol")
		asCarol.Decorate = func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, "carol")
			r.Header.Set(wire.HeaderLinked, "alice")
			return nil
		}
		carol := storetest.Device(t, storetest.Relations(t), "carol")
		if err := carol.SetUser(ctx, "carol", "alice"); err != nil {
			t.Fatal(err)
		}
		p := w.add(carol, "rel_project", "carol's", nil, nil)
		task := &storetest.Node{Record: ssync.Record{SyncID: "alice"}, Title: "for alice", A: &p}
		if err := repo(carol, "rel_task").Insert(ctx, task); err != nil {
			t.Fatal(err)
		}
		if _, err := carol.Synchronize(ctx, asCarol); err != nil {
			t.Fatal(err)
		}

		alice := storetest.Device(t, storetest.Relations(t), "alice")
		asAlice := storetest.Sync(w.url, "alice")
		for i, whole := range []bool{false, true} {
			if _, err := alice.Synchronize(ctx, asAlice); err != nil {
				t.Fatal(err)
			}
			w.checkInvariant(alice, "alice's device")
			n, err := repo(alice, "rel_task").Get(ctx, task.ID)
			if err != nil || n.A != nil {
				t.Fatalf("alice's task under carol's project: %+v, %v; want it with no project", n, err)
			}
			n.Title = fmt.Sprintf("for alice, edited %d", i)
			if err := repo(alice, "rel_task").Update(ctx, n); err != nil {
				t.Fatal(err)
			}
			asAlice.WholeRows = whole
			res, err := alice.Synchronize(ctx, asAlice)
			if err != nil || len(res.Ignored) > 0 {
				t.Fatalf("whole=%v: alice's push of her edit: %v %+v", whole, err, res)
			}
			if _, err := carol.Synchronize(ctx, asCarol); err != nil {
				t.Fatal(err)
			}
			got, err := repo(carol, "rel_task").Get(ctx, task.ID)
			if err != nil || got.Title != n.Title || got.A == nil || *got.A != p {
				t.Fatalf("whole=%v: the task on carol's device: %+v, %v; want alice's title under carol's project", whole, got, err)
			}
		}
	})
}

// hiddenWorld is a server of storetest.Relations whose rel_task.a is NOT
// NULL (strict) and whose pulls leave out projects titled "hidden" while
// hidden is set (it is at first).
type hiddenWorld struct {
	*relWorld
	st     *store.Store
	reg    *ssync.Registry
	strict *ssync.Table[storetest.Node]
	hidden atomic.Bool
}

func newHiddenWorld(t *testing.T, b storetest.Backend, opts ...store.Option) *hiddenWorld {
	t.Helper()
	strict := *storetest.RelTable("rel_task")
	strict.Columns = slices.Clone(strict.Columns)
	strict.Columns[1].Nullable = false
	reg, err := ssync.NewRegistry(storetest.RelTable("rel_project"), &strict, storetest.RelTable("rel_tag"), storetest.RelTable("rel_comment"))
	if err != nil {
		t.Fatal(err)
	}
	h := &hiddenWorld{reg: reg, strict: &strict}
	h.hidden.Store(true)
	hooks := store.Hooks{FilterPull: func(_ context.Context, _ store.PullContext, row any) bool {
		return !h.hidden.Load() || row.(*storetest.Node).Title != "hidden"
	}}
	h.st, _ = b.Store(t, reg, append([]store.Option{store.WithHooks("rel_project", hooks)}, opts...)...)
	h.relWorld = &relWorld{t: t, url: storetest.Serve(t, h.st, server.Config{})}
	return h
}
