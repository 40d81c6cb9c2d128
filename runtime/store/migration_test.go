package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// v1Store opens a version-1 store on a fresh database of b holding
// alice's tasks with the titles; it returns the database and a function
// that opens another handle on it (another server instance).
func v1Store(t *testing.T, b storetest.Backend, titles ...string) (*store.Store, func() *sql.DB) {
	t.Helper()
	db, again := b.Open(t)
	st, err := store.Open(context.Background(), db, b.Dialect, v1.Registry(), store.WithSchemaVersion(1))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, title := range titles {
		pushRows(t, st, "ev_task", &m1.Task{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}, Title: title})
	}
	return st, again
}

// pointsFromTitle sets the points of every task to the length of its
// title, then marks the tasks titled "shared" changed.
func pointsFromTitle(ctx context.Context, tx *store.MigrationTx) error {
	if _, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = "+lengthOf(tx.Dialect())+"(title)"); err != nil {
		return err
	}
	n, err := tx.MarkChanged(ctx, "ev_task", "title = "+tx.Dialect().Placeholder(1), "shared")
	if err == nil && n != 1 {
		err = errors.New("marked the wrong rows")
	}
	return err
}

// lengthOf is the dialect's function of a string's length in characters.
func lengthOf(d store.Dialect) string {
	if d.Name == "mysql" {
		return "CHAR_LENGTH"
	}
	return "LENGTH"
}

// pulledSince pulls alice's tasks changed after cp, by title.
func pulledSince(t *testing.T, st *store.Store, cp store.Checkpoint) map[string]*m2.Task {
	t.Helper()
	sets, err := st.Pull(context.Background(), store.PullRequest{Identity: alice, Collections: []string{"ev_task"}, Since: cp})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*m2.Task{}
	for _, cs := range sets {
		for _, row := range append(cs.Created, cs.Updated...) {
			task := row.(*m2.Task)
			out[task.Title] = task
		}
	}
	return out
}

// TestStoreDataMigrations on every store: a version-1 store opened with
// version 2 and a data migration gets the new column, then the
// migration's values; rows the migration marks changed reach a pull from
// the checkpoint before it, the others do not; the migration is recorded
// and runs once however often the store opens.
func TestStoreDataMigrations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		old, again := v1Store(t, b, "shared", "quiet")
		cp, err := old.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		runs := 0
		m := store.Migration{Version: 1, Name: "points from title", Run: func(ctx context.Context, tx *store.MigrationTx) error {
			runs++
			return pointsFromTitle(ctx, tx)
		}}
		var st *store.Store
		for range 2 {
			if st, err = store.Open(ctx, again(), b.Dialect, v2.Registry(), store.WithMigrations(m)); err != nil {
				t.Fatal(err)
			}
		}
		if runs != 1 {
			t.Fatalf("the migration ran %d times over two opens, want 1", runs)
		}
		pulled := pulledSince(t, st, cp)
		if len(pulled) != 1 || pulled["shared"] == nil || pulled["shared"].Points != 6 {
			t.Fatalf("pull since the checkpoint before the migration = %v, want the shared task alone, with 6 points", pulled)
		}
		all := pullTasks(t, st)
		for _, task := range all {
			if want := len(task.Title); task.Points != want {
				t.Fatalf("task %q has %d points, want %d", task.Title, task.Points, want)
			}
		}
		var name string
		var stamped int
		if err := st.DB().QueryRow("SELECT MAX(name), COUNT(applied_at) FROM ss_migrations").Scan(&name, &stamped); err != nil ||
			name != m.Name || stamped != 1 {
			t.Fatalf("ss_migrations: %q, %d with a time (%v); want one record of %q", name, stamped, err, m.Name)
		}
	})
}

// TestStoreMigrationFails on every store: the failing migration is rolled
// back and named; the one before it stays applied and recorded; a list
// that does not fit the record is refused before anything runs.
func TestStoreMigrationFails(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		_, again := v1Store(t, b, "abc")
		first := store.Migration{Version: 1, Name: "points from title", Run: func(ctx context.Context, tx *store.MigrationTx) error {
			_, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = "+lengthOf(tx.Dialect())+"(title)")
			return err
		}}
		refused := errors.New("refused by the migration")
		broken := store.Migration{Version: 2, Name: "broken", Run: func(ctx context.Context, tx *store.MigrationTx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE ev_task SET title = 'changed'"); err != nil {
				return err
			}
			if _, err := tx.MarkChanged(ctx, "ev_task", ""); err != nil {
				return err
			}
			return refused
		}}
		db := again()
		_, err := store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithMigrations(first, broken))
		var me *ssync.MigrationError
		if !errors.As(err, &me) || !errors.Is(err, refused) || me.Version != 2 || me.Name != "broken" || me.Database != b.Dialect.Name {
			t.Fatalf("open with a failing migration: %v, want an *ssync.MigrationError naming %s migration 2 \"broken\"", err, b.Dialect.Name)
		}
		t.Log(err)
		var title string
		var points, recorded int
		if err := db.QueryRow("SELECT title, points, (SELECT COUNT(*) FROM ss_migrations) FROM ev_task").Scan(&title, &points, &recorded); err != nil {
			t.Fatal(err)
		}
		if title != "abc" || points != 3 || recorded != 1 {
			t.Fatalf("after the failed open: title %q, %d points, %d migrations recorded; want abc, 3, 1", title, points, recorded)
		}
		for name, list := range map[string][]store.Migration{
			"recorded migration missing": nil,
			"renamed":                    {{Version: 1, Name: "renamed", Run: first.Run}},
			"new below the last run":     {{Version: 0 + 1, Name: first.Name, Run: first.Run}, {Version: 3, Name: "c", Run: first.Run}},
		} {
			if name == "new below the last run" {
				// Record 3 first, so that a list adding 2 comes too late.
				if _, err := store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithMigrations(list...)); err != nil {
					t.Fatal(err)
				}
				list = []store.Migration{list[0], {Version: 2, Name: "b", Run: first.Run}, list[1]}
			}
			_, err := store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithMigrations(list...))
			if !errors.Is(err, ssync.ErrMigrationList) {
				t.Fatalf("%s: open: %v, want ssync.ErrMigrationList", name, err)
			}
		}
		if _, err := store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithMigrations(broken, first)); !errors.Is(err, ssync.ErrMigrationList) {
			t.Fatalf("open with a list out of order: %v, want ssync.ErrMigrationList", err)
		}
	})
}

// TestConcurrentMigrations on every store: two server instances (two
// database handles) open one database at once with the same migration,
// which adds 1 to every task's points: it runs exactly once, and both
// instances open.
func TestConcurrentMigrations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		_, again := v1Store(t, b, "a", "b", "c")
		var runs atomic.Int32
		inc := store.Migration{Version: 1, Name: "one more point", Run: func(ctx context.Context, tx *store.MigrationTx) error {
			runs.Add(1)
			time.Sleep(50 * time.Millisecond) // widen the window another instance could run it in
			_, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = points + 1")
			return err
		}}
		dbs := []*sql.DB{again(), again(), again()}
		var wg sync.WaitGroup
		errs := make([]error, len(dbs))
		start := make(chan struct{})
		for i, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = store.Open(ctx, db, b.Dialect, v2.Registry(), store.WithMigrations(inc))
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("instance %d: open: %v", i, err)
			}
		}
		var sum int
		if err := dbs[0].QueryRow("SELECT SUM(points) FROM ev_task").Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if n := runs.Load(); n != 1 || sum != 3 {
			t.Fatalf("the migration ran %d times (points sum %d), want once (3)", n, sum)
		}
	})
}
