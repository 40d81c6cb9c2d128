package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/store"
)

// TestEditDuringPullOfParentDelete: another device moved row k from
// parent p to p2, then deleted p. This device edits k's title (only the
// title) while its pull runs, before p's delete arrives. The server never
// deletes k nor clears its reference: it lives under p2, and a push of its
// title keeps it there. Every device and the server must end with k live
// under p2 with its new title. For each rule: rel_task.a (cascade),
// rel_tag.a (setnull), rel_comment.a (restrict).
func TestEditDuringPullOfParentDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, c := range []struct{ parent, child string }{
			{"rel_project", "rel_task"}, {"rel_project", "rel_tag"}, {"rel_task", "rel_comment"},
		} {
			t.Run(c.child, func(t *testing.T) { editDuringPullOfParentDelete(t, b, c.parent, c.child) })
		}
	})
}

func editDuringPullOfParentDelete(t *testing.T, b storetest.Backend, parent, child string) {
	ctx := context.Background()
	w := newRelWorld(t, b)
	a, other := w.device(), w.device()
	var home *uuid.UUID
	if parent == "rel_task" {
		h := w.add(a, "rel_project", "home", nil, nil)
		home = &h
	}
	p := w.add(a, parent, "old home", home, nil)
	p2 := w.add(a, parent, "new home", home, nil)
	q := w.add(a, parent, "unrelated", home, nil)
	k := w.add(a, child, "moves", &p, nil)
	w.sync(a)
	w.sync(other)

	n := w.get(a, parent, q)
	n.Title = "unrelated, edited"
	if err := repo(a, parent).Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	w.sync(a)
	n = w.get(a, child, k)
	n.A = &p2
	if err := repo(a, child).Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	w.sync(a)
	if err := repo(a, parent).Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.sync(a)

	opts := storetest.Sync(w.url, "ann")
	opts.PullBatchRows = 1
	edited := false
	var editErr error
	opts.Progress = func(pr client.Progress) {
		if pr.Stage == client.StagePull && pr.Collection == parent && !edited {
			edited = true // q's edit is applied, p's delete not yet
			m := w.get(other, child, k)
			if m == nil {
				editErr = errors.New("k is gone before p's delete arrived")
				return
			}
			m.Title = "moves, edited during the pull"
			editErr = repo(other, child).Update(context.Background(), m)
		}
	}
	if _, err := other.Synchronize(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if !edited || editErr != nil {
		t.Fatalf("the edit during the pull: ran %v, %v", edited, editErr)
	}
	w.checkInvariant(other, "the device that edited during the pull")
	w.sync(other)
	w.sync(a)
	fresh := w.device()
	w.sync(fresh)
	for _, d := range []struct {
		who string
		db  *client.DB
	}{{"the editing device", other}, {"the moving device", a}, {"a fresh device", fresh}} {
		got := w.get(d.db, child, k)
		if got == nil || got.A == nil || *got.A != p2 || got.Title != "moves, edited during the pull" {
			t.Errorf("%s: %s k = %+v, want it live under p2 with the new title (the server only moved it)", d.who, child, got)
		}
	}
}

// TestResyncDropsWaitingRow: a row waiting whole in ss_held (its NOT
// NULL project is filtered out of this device's pulls) is deleted on the
// server and its tombstone purged; the device re-pulls (410). When the
// project later reaches the device, the deleted row must not appear.
func TestResyncDropsWaitingRow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var skew atomic.Int64
		h := newHiddenWorld(t, b,
			store.WithTombstoneRetention(time.Minute),
			store.WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
		reg, strict, w, hidden, st := h.reg, h.strict, h.relWorld, &h.hidden, h.st
		a, fresh := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		projects, tasks := client.NewRepo(a, storetest.RelTable("rel_project")), client.NewRepo(a, strict)
		p := &storetest.Node{Title: "hidden"}
		if err := projects.Insert(ctx, p); err != nil {
			t.Fatal(err)
		}
		x := &storetest.Node{Title: "x", A: &p.ID}
		if err := tasks.Insert(ctx, x); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(fresh) // x waits whole on fresh
		if _, err := client.NewRepo(fresh, strict).Get(ctx, x.ID); err == nil {
			t.Fatal("x is shown although its project is not on the device")
		}
		if err := tasks.Delete(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		skew.Add(int64(time.Hour))
		w.sync(a)
		if _, err := st.PurgeTombstones(ctx); err != nil {
			t.Fatal(err)
		}
		res := w.sync(fresh)
		if len(res.Resynced) == 0 {
			t.Fatalf("fresh did not re-pull after the purge: %+v", res)
		}
		hidden.Store(false)
		p.Title = "shown"
		if err := projects.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(fresh)
		if got, err := client.NewRepo(fresh, strict).Get(ctx, x.ID); err == nil {
			t.Fatalf("x, deleted on the server, is live on the re-pulled device: %+v", got)
		}
		var n int
		if err := fresh.SQL().QueryRow(`SELECT COUNT(*) FROM rel_task WHERE deleted_at IS NULL`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("fresh has %d live tasks (%v), the server none", n, err)
		}
	})
}

// TestHeldMoveThenOldParentDeleted: a task's NOT NULL project is
// moved, on the server, to a project this device does not get (a pull
// filter): the device keeps the old project as the task's local value and
// holds the new one. The old project is then deleted: the server leaves
// the task alone (it is under the new project). The device must keep the
// task live, and once the new project reaches it, show the task there.
func TestHeldMoveThenOldParentDeleted(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		h := newHiddenWorld(t, b)
		reg, strict, w, hidden := h.reg, h.strict, h.relWorld, &h.hidden
		a, d := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		projects, tasks := client.NewRepo(a, storetest.RelTable("rel_project")), client.NewRepo(a, strict)
		p1, p9 := &storetest.Node{Title: "old"}, &storetest.Node{Title: "hidden"}
		for _, p := range []*storetest.Node{p1, p9} {
			if err := projects.Insert(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		r := &storetest.Node{Title: "r", A: &p1.ID}
		if err := tasks.Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(d)
		r.A = &p9.ID
		if err := tasks.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(d) // d keeps p1 locally and holds p9
		if err := projects.Delete(ctx, p1.ID); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		if got, err := tasks.Get(ctx, r.ID); err != nil || *got.A != p9.ID {
			t.Fatalf("the writing device: %+v, %v", got, err)
		}
		w.sync(d)
		w.checkInvariant(d, "d")
		// r's NOT NULL project is held (d cannot get p9) and the row d
		// showed in its place is deleted: r waits, unseen, for p9.
		if got, err := client.NewRepo(d, strict).Get(ctx, r.ID); err == nil {
			t.Errorf("after the old project's delete, d shows task r under it: %+v", got)
		}
		hidden.Store(false)
		p9.Title = "shown"
		if err := projects.Update(ctx, p9); err != nil {
			t.Fatal(err)
		}
		w.sync(a)
		w.sync(d)
		w.checkInvariant(d, "d")
		if got, err := client.NewRepo(d, strict).Get(ctx, r.ID); err != nil || *got.A != p9.ID {
			t.Errorf("once its project arrived, d has task r = %+v, %v; want it live under that project", got, err)
		}
	})
}
