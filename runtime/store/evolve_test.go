package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/evolvetest"
	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

var alice = store.Identity{SyncID: "alice"}

// pushRows pushes rows of one collection as creates.
func pushRows(t *testing.T, st *store.Store, collection string, rows ...any) {
	t.Helper()
	_, err := st.Push(context.Background(), store.PushRequest{Identity: alice, Device: "d1",
		Sets: []wire.ChangeSet{{Collection: collection, Created: rows}}})
	if err != nil {
		t.Fatalf("push %s: %v", collection, err)
	}
}

// pullTasks pulls every v2 task of alice's, by id.
func pullTasks(t *testing.T, st *store.Store) map[uuid.UUID]*m2.Task {
	t.Helper()
	sets, err := st.Pull(context.Background(), store.PullRequest{Identity: alice, Collections: []string{"ev_task"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID]*m2.Task{}
	for _, cs := range sets {
		for _, row := range append(cs.Created, cs.Updated...) {
			task := row.(*m2.Task)
			out[task.ID] = task
		}
	}
	return out
}

// TestStoreMigratesAtOpen opens a store made by version 1 of the models
// with version 2 on every backend: the new columns, index and table
// appear, old rows read back the new columns' zero values, new values are
// written and read, reopening changes nothing, and a changed column type
// fails with the error naming it.
func TestStoreMigratesAtOpen(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		old, err := store.Open(ctx, db, b.Dialect, v1.Registry(), store.WithSchemaVersion(1))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		first := &m1.Task{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}, Title: "old"}
		pushRows(t, old, "ev_task", first)

		for range 2 { // the second open finds nothing to do
			if _, err = store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithSchemaVersion(2)); err != nil {
				t.Fatalf("open the version-1 store with version 2: %v", err)
			}
		}
		st, _ := store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithSchemaVersion(2))
		second := &m2.Task{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}, Title: "new", Assignee: "bob", Points: 5}
		pushRows(t, st, "ev_task", second)
		pushRows(t, st, "ev_tag", &m2.Tag{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}, Name: "urgent"})
		tasks := pullTasks(t, st)
		if got := tasks[first.ID]; got == nil || got.Title != "old" || got.Assignee != "" || got.Points != 0 {
			t.Fatalf("old row = %+v, want title old, no assignee, 0 points", got)
		}
		if got := tasks[second.ID]; got == nil || got.Assignee != "bob" || got.Points != 5 {
			t.Fatalf("new row = %+v, want bob and 5 points", got)
		}
		var schemas, version int
		if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM ss_schema`).Scan(&schemas, &version); err != nil || schemas != 2 || version != 2 {
			t.Fatalf("ss_schema: %d schemas up to version %d (%v), want 2 up to 2", schemas, version, err)
		}

		_, err = store.Open(ctx, db, b.Dialect, evolvetest.ChangedPoints(t))
		var sce *ssync.SchemaChangeError
		if !errors.As(err, &sce) || sce.Table != "ev_task" || sce.Column != "points" || sce.Database != b.Dialect.Name {
			t.Fatalf("open with a changed type: %v, want an *ssync.SchemaChangeError on %s ev_task.points", err, b.Dialect.Name)
		}
		t.Log(err)
	})
}
