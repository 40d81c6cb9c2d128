package store_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestDeleteOfDeletedRow: a device deletes a row another device deleted
// before, with its own stamp, from a checkpoint past that delete (it held
// the row because a full re-pull, which leaves out tombstones, ran while
// it deleted it). The delete changes nothing, but goes to the device
// again, so that it takes the stamp every other device holds (simulation,
// versions seed 1018); on every store.
func TestDeleteOfDeletedRow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, _ := b.Store(t, storetest.Relations(t))
		ann := store.Identity{SyncID: "ann"}
		_, id := pushNode(t, st, ann, "ann", "rel_project", nil)
		first := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
		del := func(device string, at time.Time, since string) store.Checkpoint {
			t.Helper()
			return pushDelete(t, st, ann, device, id, at, since)
		}
		cp := del("dev-ann", first, "")
		after := del("phone", first.Add(30*time.Second), cp.String())
		got := deleteStamps(t, st, ann, "phone", cp, id)
		if len(got) != 1 || !got[0].Equal(first) {
			t.Fatalf("the second deleting device pulls the delete stamped %v (checkpoint %v after its push), want once at %v", got, after, first)
		}
	})
}

// TestDeleteOfRowDeletedDuringPush: another device's delete of a row
// commits after a push deleting it read it and before it wrote it. As for
// a row deleted already, the push stamps the tombstone again (its version,
// no writer), so the delete goes back to the pushing device whatever its
// checkpoint, with the stamp every device holds.
func TestDeleteOfRowDeletedDuringPush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		if b.Name == "sqlite" {
			t.Skip("SQLite applies one push at a time: no delete commits inside another push")
		}
		ann := store.Identity{SyncID: "ann"}
		first := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
		var st *store.Store
		var id uuid.UUID
		var armed atomic.Bool
		var inner store.Checkpoint // after the other device's delete
		del := func(device string, at time.Time, since string) store.Checkpoint {
			t.Helper()
			return pushDelete(t, st, ann, device, id, at, since)
		}
		hooks := store.Hooks{BeforeWrite: func(ctx context.Context, w *store.Write) error {
			if w.Op == store.OpDelete && armed.CompareAndSwap(true, false) {
				inner = del("dev-ann", first, "")
			}
			return nil
		}}
		st, _ = b.Store(t, storetest.Relations(t), store.WithHooks("rel_project", hooks))
		cp, pid := pushNode(t, st, ann, "ann", "rel_project", nil)
		id = pid
		armed.Store(true)
		del("phone", first.Add(30*time.Second), cp.String())
		if armed.Load() {
			t.Fatal("the other delete did not run inside the push")
		}
		got := deleteStamps(t, st, ann, "phone", inner, id)
		if len(got) != 1 || !got[0].Equal(first) {
			t.Fatalf("the device whose delete lost the race pulls the delete stamped %v, want once at %v", got, first)
		}
	})
}

// deleteStamps pulls rel_project as device of who from since and returns
// the stamps of the deletes of row id it gets.
func deleteStamps(t *testing.T, st *store.Store, who store.Identity, device string, since store.Checkpoint, id uuid.UUID) []time.Time {
	t.Helper()
	sets, err := st.Pull(context.Background(), store.PullRequest{Identity: who, Device: device, Collections: []string{"rel_project"}, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	for _, cs := range sets {
		for i, d := range cs.Deleted {
			if d == id && i < len(cs.DeletedAt) {
				got = append(got, cs.DeletedAt[i])
			}
		}
	}
	return got
}

// pgDeadlock is an error that PostgreSQL's dialect takes for a deadlock.
type pgDeadlock struct{}

func (pgDeadlock) Error() string    { return "deadlock detected (test)" }
func (pgDeadlock) SQLState() string { return "40P01" }

// TestRetriedPushStartsAgain: a push that a transient database error (a
// deadlock) makes run again runs from the rows as they arrived: a row it
// wrote deleted because its parent is deleted (parent_deleted) is not
// taken, on the second run, for a row the device deleted itself, which the
// device would never pull back.
func TestRetriedPushStartsAgain(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var transient error
		switch b.Name {
		case "postgres":
			transient = pgDeadlock{}
		case "mysql":
			transient = &mysql.MySQLError{Number: 1213, Message: "Deadlock found (test)"}
		default:
			t.Skip("SQLite runs one push at a time: no deadlock to retry")
		}
		ctx := context.Background()
		ann := store.Identity{SyncID: "ann"}
		late := uuid.New()
		var fail atomic.Bool
		hooks := store.Hooks{BeforeWrite: func(ctx context.Context, w *store.Write) error {
			if w.ID == late && fail.CompareAndSwap(true, false) {
				return transient
			}
			return nil
		}}
		st, _ := b.Store(t, storetest.Relations(t), store.WithHooks("rel_task", hooks))
		cp, p := pushNode(t, st, ann, "ann", "rel_project", nil)
		res, err := st.Push(ctx, store.PushRequest{Identity: ann, Device: "dev-ann", Sets: []wire.ChangeSet{{Collection: "rel_project",
			Checkpoint: cp.String(), Deleted: []uuid.UUID{p}, DeletedAt: []time.Time{time.Now()}}}})
		if err != nil {
			t.Fatal(err)
		}
		since, err := store.ParseCheckpoint(res.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		under := &storetest.Node{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now, SyncID: "ann"}, Title: "under", A: &p}
		after := &storetest.Node{Record: ssync.Record{ID: late, CreatedAt: now, UpdatedAt: now, SyncID: "ann"}, Title: "after"}
		fail.Store(true)
		res, err = st.Push(ctx, store.PushRequest{Identity: ann, Device: "phone", Sets: []wire.ChangeSet{{Collection: "rel_task",
			Checkpoint: since.String(), Created: []any{under, after}}}})
		if err != nil {
			t.Fatal(err)
		}
		if fail.Load() {
			t.Fatal("the push did not run into the transient error")
		}
		if len(res.Ignored) != 1 || res.Ignored[0].ID != under.ID || res.Ignored[0].Reason != wire.ReasonParentDeleted {
			t.Fatalf("ignored %+v, want the row under the deleted project, parent_deleted", res.Ignored)
		}
		sets, err := st.Pull(ctx, store.PullRequest{Identity: ann, Device: "phone", Collections: []string{"rel_task"}, Since: since})
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range sets {
			if slices.Contains(cs.Deleted, under.ID) {
				return
			}
		}
		t.Fatalf("the pushing device does not pull the delete of its row under the deleted project: %+v", sets)
	})
}

// pushDelete pushes, as device of who from checkpoint since, the delete of
// rel_project row id stamped at, and returns the push's checkpoint.
func pushDelete(t *testing.T, st *store.Store, who store.Identity, device string, id uuid.UUID, at time.Time, since string) store.Checkpoint {
	t.Helper()
	res, err := st.Push(context.Background(), store.PushRequest{Identity: who, Device: device, Sets: []wire.ChangeSet{{Collection: "rel_project",
		Checkpoint: since, Deleted: []uuid.UUID{id}, DeletedAt: []time.Time{at}}}})
	if err != nil {
		t.Fatalf("delete as %s: %v", device, err)
	}
	cp, err := store.ParseCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}
