package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// pushNode pushes one new rel_project row owned by owner (or, with
// parent set, a rel_task under it) as who, and returns the push's
// checkpoint and the row's id.
func pushNode(t *testing.T, st *store.Store, who store.Identity, owner, table string, parent *uuid.UUID) (store.Checkpoint, uuid.UUID) {
	t.Helper()
	id := uuid.New()
	now := time.Now().UTC()
	n := &storetest.Node{Record: ssync.Record{ID: id, SyncID: owner, CreatedAt: now, UpdatedAt: now}, Title: "t", A: parent}
	res, err := st.Push(context.Background(), store.PushRequest{Identity: who, Device: "dev-" + who.SyncID,
		Sets: []wire.ChangeSet{{Collection: table, Created: []any{n}}}})
	if err != nil {
		t.Fatalf("push %s as %s: %v", table, who.SyncID, err)
	}
	cp, err := store.ParseCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	return cp, id
}

// next waits for the next announcement (a hung feed fails the test after
// a minute, which no healthy run comes near).
func next(t *testing.T, ch <-chan store.Announcement, who string) store.Announcement {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch closed", who)
		}
		return c
	case <-time.After(time.Minute):
		t.Fatalf("%s: no announcement", who)
	}
	return store.Announcement{}
}

// until reads announcements until one reaches want (earlier pushes of
// the same scope may come first, coalesced or not).
func until(t *testing.T, ch <-chan store.Announcement, who string, want store.Checkpoint) store.Announcement {
	t.Helper()
	for {
		c := next(t, ch, who)
		if c.Checkpoint.Version > want.Version {
			t.Fatalf("%s: announced %d, past the push awaited (%d)", who, c.Checkpoint.Version, want.Version)
		}
		if c.Checkpoint.Version == want.Version {
			return c
		}
	}
}

// TestWatch: watchers on a second store over the same database (another
// server instance, which learns of pushes by reading ss_activity) and on
// the pushing store itself hear of every push in their scope (the user's
// rows and linked users' rows, cascades included) and of nothing else.
func TestWatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		reg := storetest.Relations(t)
		db, again := b.Open(t)
		st1, err := store.Open(context.Background(), db, b.Dialect, reg)
		if err != nil {
			t.Fatal(err)
		}
		// The second instance polls often, except on PostgreSQL, whose
		// NOTIFY must wake it: there it would poll once an hour.
		interval := 10 * time.Millisecond
		if b.Name == "postgres" {
			interval = time.Hour
		}
		st2, err := store.Open(context.Background(), again(), b.Dialect, reg, store.WithWatchInterval(interval))
		if err != nil {
			t.Fatal(err)
		}
		ann, ben := store.Identity{SyncID: "ann"}, store.Identity{SyncID: "ben"}
		carol := store.Identity{SyncID: "carol", Linked: []string{"ann"}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var watchAs func(st *store.Store, id store.Identity, since store.Checkpoint, device string) <-chan store.Announcement
		watch := func(st *store.Store, id store.Identity, since store.Checkpoint) <-chan store.Announcement {
			return watchAs(st, id, since, "")
		}
		watchAs = func(st *store.Store, id store.Identity, since store.Checkpoint, device string) <-chan store.Announcement {
			ch, err := st.Watch(ctx, id, since, device)
			if err != nil {
				t.Fatal(err)
			}
			return ch
		}
		annW, benW, carolW := watch(st2, ann, store.Checkpoint{}), watch(st2, ben, store.Checkpoint{}), watch(st2, carol, store.Checkpoint{})
		annLocal := watch(st1, ann, store.Checkpoint{})

		// ann's pushing device, another of her devices, and carol (linked)
		// claiming the id of ann's device.
		annDev, annPhone := watchAs(st2, ann, store.Checkpoint{}, "dev-ann"), watchAs(st2, ann, store.Checkpoint{}, "phone")
		carolAsAnnDev := watchAs(st2, carol, store.Checkpoint{}, "dev-ann")

		cp1, project := pushNode(t, st1, ann, "ann", "rel_project", nil)
		until(t, annW, "ann", cp1)
		if c := until(t, annDev, "ann's pushing device", cp1); !c.Own {
			t.Errorf("ann's pushing device heard of its push as another's: %+v", c)
		}
		for who, ch := range map[string]<-chan store.Announcement{"ann's phone": annPhone, "carol with the id of ann's device": carolAsAnnDev} {
			if c := until(t, ch, who, cp1); c.Own {
				t.Errorf("%s heard of ann's push as its own: %+v", who, c)
			}
		}
		until(t, carolW, "carol (linked to ann)", cp1)
		until(t, annLocal, "ann on the pushing store", cp1)
		// A second push of ann's, heard: the feed's pass that announced
		// the first is over, so anything it sent ben is in ben's channel.
		cp2, _ := pushNode(t, st1, ann, "ann", "rel_task", &project)
		until(t, annW, "ann", cp2)
		select {
		case c := <-benW:
			t.Fatalf("ben heard of ann's push (%v)", c)
		default:
		}
		cp3, _ := pushNode(t, st1, ben, "ben", "rel_project", nil)
		if c := next(t, benW, "ben"); c.Checkpoint != cp3 {
			t.Fatalf("ben heard %v, want his push %v", c, cp3)
		}

		// A watcher that comes late hears at once of what it missed, and
		// one that is up to date hears nothing of the past.
		late := watch(st2, ann, cp1)
		if c := next(t, late, "ann, late"); c.Checkpoint != cp2 {
			t.Fatalf("late watcher heard %v, want %v", c, cp2)
		}
		if c := next(t, watchAs(st2, ann, cp1, "dev-ann"), "ann's pushing device, late"); c.Checkpoint != cp2 || !c.Own {
			t.Fatalf("ann's pushing device, late, heard %+v, want %v, its own", c, cp2)
		}
		current := watch(st2, ann, cp2)
		// Carol (linked) deletes ann's project: the cascade reaches ann's
		// task, and every watcher of ann hears of it.
		res, err := st1.Push(ctx, store.PushRequest{Identity: carol, Device: "dev-carol",
			Sets: []wire.ChangeSet{{Collection: "rel_project", Deleted: []uuid.UUID{project}}}})
		if err != nil {
			t.Fatal(err)
		}
		cp4, _ := store.ParseCheckpoint(res.Checkpoint)
		if c := next(t, current, "ann, up to date"); c.Checkpoint != cp4 {
			t.Fatalf("up-to-date watcher heard %v, want the delete %v", c, cp4)
		}
		until(t, annW, "ann", cp4)
		// Carol's delete reached ann's rows: not the pushing device's own.
		if c := until(t, annDev, "ann's pushing device", cp4); c.Own {
			t.Errorf("ann's device heard of carol's delete as its own: %+v", c)
		}

		// Ending the context closes the channel.
		cancel()
		for range annW {
		}
	})
}

// TestWatchOnOlderStore: a store whose ss_activity predates the writer
// columns (as an older release created it) gets them at open, and a
// device's own push is announced as such; on every store.
func TestWatchOnOlderStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		reg := storetest.Relations(t)
		st, db := b.Store(t, reg)
		ann := store.Identity{SyncID: "ann"}
		before, _ := pushNode(t, st, ann, "ann", "rel_project", nil)
		for _, column := range []string{"other", "writer"} {
			if _, err := db.Exec("ALTER TABLE ss_activity DROP COLUMN " + b.Dialect.Quote(column)); err != nil {
				t.Fatalf("drop ss_activity.%s: %v", column, err)
			}
		}
		st, err := store.Open(ctx, db, b.Dialect, reg)
		if err != nil {
			t.Fatalf("open a store whose ss_activity lacks writer and other: %v", err)
		}
		ch, err := st.Watch(ctx, ann, before, "dev-ann")
		if err != nil {
			t.Fatal(err)
		}
		cp, _ := pushNode(t, st, ann, "ann", "rel_project", nil)
		if c := until(t, ch, "ann's pushing device", cp); !c.Own {
			t.Fatalf("ann's device heard of its push as another's: %+v", c)
		}
	})
}
