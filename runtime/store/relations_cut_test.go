package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
)

var errCutRollback = errors.New("roll back")

// cutScenario writes, on a, a history of trees, moves, cycles and
// deletes under every ondelete rule, syncing after each step; mid is
// called once, half way, so that devices can sync there.
func cutScenario(t *testing.T, w *relWorld, a *client.DB, mid func()) {
	ctx := context.Background()
	edit := func(table string, id uuid.UUID, f func(n *storetest.Node)) {
		t.Helper()
		n := w.get(a, table, id)
		if n == nil {
			return
		}
		f(n)
		if err := repo(a, table).Update(ctx, n); err != nil {
			t.Fatalf("edit %s %s: %v", table, id, err)
		}
		w.sync(a)
	}
	del := func(table string, id uuid.UUID) {
		t.Helper()
		if err := repo(a, table).Delete(ctx, id); err != nil && !errors.Is(err, client.ErrReferenced) {
			t.Fatalf("delete %s %s: %v", table, id, err)
		}
		w.sync(a)
	}
	p1 := w.add(a, "rel_project", "P1", nil, nil)
	p2 := w.add(a, "rel_project", "P2", nil, nil)
	p3 := w.add(a, "rel_project", "P3", nil, nil)
	t1 := w.add(a, "rel_task", "t1", &p1, nil)
	t2 := w.add(a, "rel_task", "t2", &p1, &t1)
	t3 := w.add(a, "rel_task", "t3", &p1, &t2)
	t4 := w.add(a, "rel_task", "t4", &p2, &t1)
	t5 := w.add(a, "rel_task", "t5", &p2, nil)
	t6 := w.add(a, "rel_task", "t6", &p3, &t5)
	g1 := w.add(a, "rel_tag", "g1", &p1, nil)
	w.add(a, "rel_tag", "g2", &p3, nil)
	w.add(a, "rel_comment", "c1", &t6, nil)
	c2 := w.add(a, "rel_comment", "c2", &t4, nil)
	w.sync(a)
	x, y, _ := w.cycle(a, true)
	w.sync(a)
	// Children edited before their parents: pulls send them first.
	edit("rel_task", t3, func(n *storetest.Node) { n.Title += "'" })
	edit("rel_task", t2, func(n *storetest.Node) { n.Title += "'" })
	edit("rel_task", t1, func(n *storetest.Node) { n.Title += "'" })
	edit("rel_project", p1, func(n *storetest.Node) { n.Title += "'" })
	mid()
	// Moves: t2's subtree under t5 (another project's tree), t4 out of t1.
	edit("rel_task", t2, func(n *storetest.Node) { n.B = &t5; n.A = &p2 })
	edit("rel_task", t4, func(n *storetest.Node) { n.B = nil })
	edit("rel_tag", g1, func(n *storetest.Node) { n.A = &p2 })
	del("rel_comment", c2)
	del("rel_project", p1) // t1 goes; t2, t3 moved away (t3 still in P1: goes)
	t7 := w.add(a, "rel_task", "t7", &p3, &t6)
	w.sync(a)
	edit("rel_task", t6, func(n *storetest.Node) { n.Title += "'" })
	del("rel_project", p2) // setnull g1; cascades t2, t4, t5 (t6 in P3 goes through t5)
	edit("rel_task", x, func(n *storetest.Node) { n.Title += "'" })
	del("rel_task", y)
	edit("rel_task", t7, func(n *storetest.Node) { n.Title += "'" })
	w.add(a, "rel_task", "t8", &p3, &t7)
	w.sync(a)
}

// liveRows is every live row of d, as text, sorted.
func liveRows(t *testing.T, d *client.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"rel_project", "rel_task", "rel_tag", "rel_comment"} {
		rows, err := d.SQL().Query(`SELECT id, title, COALESCE(a, ''), COALESCE(b, '') FROM ` + table + ` WHERE deleted_at IS NULL ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, title, ra, rb string
			if err := rows.Scan(&id, &title, &ra, &rb); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s %q a=%s b=%s\n", table, id, title, ra, rb)
		}
		rows.Close()
	}
	return b.String()
}

// editAll updates every live row of d in a transaction it rolls back, and
// returns the first error.
func editAll(d *client.DB) error {
	err := d.Transaction(context.Background(), func(ctx context.Context) error {
		for _, table := range []string{"rel_project", "rel_task", "rel_tag", "rel_comment"} {
			all, err := repo(d, table).Select(ctx)
			if err != nil {
				return err
			}
			for _, n := range all {
				n.Title += " (edited)"
				if err := repo(d, table).Update(ctx, n); err != nil {
					return fmt.Errorf("%s %s: %w", table, n.ID, err)
				}
			}
		}
		return errCutRollback
	})
	if errors.Is(err, errCutRollback) {
		return nil
	}
	return err
}

// TestCutEverywhere cuts pulls after every k change sets of one row,
// on a fresh device and on a device that synced half way, checks the
// invariant and that every row can be edited after each cut, then lets the
// pull finish and compares the device with one that pulled whole.
func TestCutEverywhere(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		w := newRelWorld(t, b)
		a := w.device()
		var old []*client.DB
		const maxOld = 100
		cutScenario(t, w, a, func() {
			for range maxOld {
				d := w.device()
				w.sync(d)
				old = append(old, d)
			}
		})
		ref := w.device()
		w.sync(ref)
		want := liveRows(t, ref)
		if want != liveRows(t, a) {
			t.Fatalf("the writing device and a fresh one differ:\n%s\n---\n%s", liveRows(t, a), want)
		}
		for _, kind := range []string{"fresh", "old", "dirty"} {
			for _, whole := range []bool{false, true} {
				for k := 1; ; k++ {
					var d *client.DB
					if kind == "fresh" {
						d = w.device()
					} else {
						if len(old) == 0 {
							t.Fatalf("more than %d cuts", maxOld)
						}
						d, old = old[0], old[1:]
					}
					if kind == "dirty" {
						dirty(t, w, d)
					}
					ctx, cancel := context.WithCancel(context.Background())
					opts := storetest.Sync(w.url, "ann")
					opts.PullBatchRows = 1
					opts.WholeRows = whole
					n := 0
					opts.Progress = func(p client.Progress) {
						if p.Stage == client.StagePull {
							if n++; n == k {
								cancel()
							}
						}
					}
					_, err := d.Synchronize(ctx, opts)
					cancel()
					w.checkInvariant(d, fmt.Sprintf("%s device, whole=%v, cut after %d", kind, whole, k))
					if err := editAll(d); err != nil {
						t.Errorf("%s device, whole=%v, cut after %d: editing a row: %v", kind, whole, k, err)
					}
					opts.Progress, opts.PullBatchRows = nil, 0
					if _, err := d.Synchronize(context.Background(), opts); err != nil {
						t.Fatal(err)
					}
					w.checkInvariant(d, fmt.Sprintf("%s device, whole=%v, after a sync cut after %d", kind, whole, k))
					if kind == "dirty" {
						w.sync(d)
						ref := w.device()
						w.sync(ref)
						want = liveRows(t, ref)
					}
					if got := liveRows(t, d); got != want {
						t.Errorf("%s device, whole=%v, cut after %d, then synced: rows differ from the server's\n got:\n%s\nwant:\n%s", kind, whole, k, got, want)
					}
					if err == nil || (kind == "dirty" && k == 30) {
						t.Logf("%s whole=%v: %d change sets", kind, whole, k)
						break // the pull finished before k
					}
					if err != nil && !errors.Is(err, context.Canceled) {
						t.Fatalf("cut after %d: %v", k, err)
					}
				}
			}
		}
	})
}

// dirty makes offline changes on d, a device that synced half way: every
// live row edited, and new rows under rows the scenario moves or deletes.
func dirty(t *testing.T, w *relWorld, d *client.DB) {
	t.Helper()
	ctx := context.Background()
	for _, table := range []string{"rel_project", "rel_task", "rel_tag", "rel_comment"} {
		all, err := repo(d, table).Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range all {
			n.Title += " (offline)"
			if err := repo(d, table).Update(ctx, n); err != nil {
				t.Fatal(err)
			}
			if table == "rel_task" && (strings.HasPrefix(n.Title, "t3") || strings.HasPrefix(n.Title, "t1") || strings.HasPrefix(n.Title, "t5")) {
				c := w.add(d, "rel_task", "under "+n.Title, n.A, &n.ID)
				w.add(d, "rel_comment", "on "+n.Title, &c, nil)
			}
		}
	}
}
