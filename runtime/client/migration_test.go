package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// pointsFromTitle sets every task's points to the length of its title, a
// data migration no additive change expresses.
var pointsFromTitle = client.Migration{Version: 1, Name: "points from title", Run: func(ctx context.Context, tx *client.MigrationTx) error {
	_, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = length(title)")
	return err
}}

// v1File writes a version-1 device file holding tasks with the titles.
func v1File(t *testing.T, titles ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device.db")
	db := openAs(t, path, v1.Registry(), 1)
	defer db.Close()
	for _, title := range titles {
		if err := v1.SyncTasks(db).Insert(context.Background(), &m1.Task{Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// openWith opens path with version 2 and the migrations.
func openWith(path string, ms ...client.Migration) (*client.DB, error) {
	return client.Open(context.Background(), path, v2.Registry(), client.Options{SchemaVersion: 2, Migrations: ms})
}

// pointsOf reads the points of every task, by title.
func pointsOf(t *testing.T, db *client.DB) map[string]int {
	t.Helper()
	rows, err := db.SQL().Query("SELECT title, points FROM ev_task")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var title string
		var points int
		if err := rows.Scan(&title, &points); err != nil {
			t.Fatal(err)
		}
		out[title] = points
	}
	return out
}

// TestDeviceDataMigrations: a version-1 file opened with version 2 and a
// data migration gets the new column and then the migration's values, in
// one open; the migration is recorded (version, name, time) and runs once
// however often the file opens; a later open runs only the new migration.
func TestDeviceDataMigrations(t *testing.T) {
	path := v1File(t, "abc", "hello")
	runs := 0
	counted := pointsFromTitle
	counted.Run = func(ctx context.Context, tx *client.MigrationTx) error { runs++; return pointsFromTitle.Run(ctx, tx) }
	for range 2 {
		db, err := openWith(path, counted)
		if err != nil {
			t.Fatal(err)
		}
		if got := pointsOf(t, db); got["abc"] != 3 || got["hello"] != 5 {
			t.Fatalf("points after the migration = %v, want abc 3, hello 5", got)
		}
		db.Close()
	}
	if runs != 1 {
		t.Fatalf("the migration ran %d times over two opens, want 1", runs)
	}
	double := client.Migration{Version: 2, Name: "double points", Run: func(ctx context.Context, tx *client.MigrationTx) error {
		_, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = points * 2")
		return err
	}}
	db, err := openWith(path, counted, double)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pointsOf(t, db); runs != 1 || got["abc"] != 6 || got["hello"] != 10 {
		t.Fatalf("after a second migration: points %v, first one ran %d times; want abc 6, hello 10 and 1 run", got, runs)
	}
	var versions, names string
	var stamped int
	if err := db.SQL().QueryRow(`SELECT group_concat(version, ','), group_concat(name, ','), COUNT(applied_at)
		FROM (SELECT * FROM ss_migrations ORDER BY version)`).Scan(&versions, &names, &stamped); err != nil {
		t.Fatal(err)
	}
	if versions != "1,2" || names != "points from title,double points" || stamped != 2 {
		t.Fatalf("ss_migrations: versions %q, names %q, %d with a time", versions, names, stamped)
	}
}

// TestDeviceMigrationFails: a migration that fails rolls the whole open
// back (the schema change, the migrations before it, its own writes) and
// Open names it; the file opens again with its old model, unchanged.
func TestDeviceMigrationFails(t *testing.T) {
	path := v1File(t, "abc")
	broken := client.Migration{Version: 2, Name: "broken", Run: func(ctx context.Context, tx *client.MigrationTx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE ev_task SET title = 'changed'"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE ev_task SET no_such_column = 1")
		return err
	}}
	_, err := openWith(path, pointsFromTitle, broken)
	var me *ssync.MigrationError
	if !errors.As(err, &me) || me.Version != 2 || me.Name != "broken" || me.Database != "device" ||
		!strings.Contains(err.Error(), "no_such_column") {
		t.Fatalf("open with a failing migration: %v, want an *ssync.MigrationError naming device migration 2 \"broken\" and its cause", err)
	}
	t.Log(err)
	db := openAs(t, path, v1.Registry(), 1)
	defer db.Close()
	var title string
	var migrations, columns int
	if err := db.SQL().QueryRow(`SELECT title, (SELECT COUNT(*) FROM ss_migrations),
		(SELECT COUNT(*) FROM pragma_table_info('ev_task') WHERE name = 'points') FROM ev_task`).Scan(&title, &migrations, &columns); err != nil {
		t.Fatal(err)
	}
	if title != "abc" || migrations != 0 || columns != 0 {
		t.Fatalf("after the failed open: title %q, %d migrations recorded, points column %d; want abc, 0, 0", title, migrations, columns)
	}
}

// TestDeviceMigrationList: lists that do not fit are refused at open,
// before anything changes, with ssync.ErrMigrationList: out of order, a
// repeated version, a recorded migration the list lacks (an older app) or
// names differently, and a new migration below one the file ran.
func TestDeviceMigrationList(t *testing.T) {
	noop := func(version int, name string) client.Migration {
		return client.Migration{Version: version, Name: name, Run: func(context.Context, *client.MigrationTx) error { return nil }}
	}
	path := v1File(t, "abc")
	for name, list := range map[string][]client.Migration{
		"out of order": {noop(2, "b"), noop(1, "a")},
		"repeated":     {noop(1, "a"), noop(1, "b")},
		"no name":      {noop(1, "")},
		"version 0":    {noop(0, "zero")},
		"no Run":       {{Version: 1, Name: "a"}},
	} {
		if _, err := openWith(path, list...); !errors.Is(err, ssync.ErrMigrationList) {
			t.Fatalf("%s: open: %v, want ssync.ErrMigrationList", name, err)
		}
	}
	db, err := openWith(path, noop(1, "a"), noop(3, "c"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for name, list := range map[string][]client.Migration{
		"recorded migration missing": {noop(1, "a")},
		"renamed":                    {noop(1, "a"), noop(3, "see")},
		"new below the last run":     {noop(1, "a"), noop(2, "b"), noop(3, "c")},
	} {
		_, err := openWith(path, list...)
		if !errors.Is(err, ssync.ErrMigrationList) {
			t.Fatalf("%s: open: %v, want ssync.ErrMigrationList", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	db, err = openWith(path, noop(1, "a"), noop(3, "c"), noop(4, "d"))
	if err != nil {
		t.Fatalf("open with a migration added at the end: %v", err)
	}
	db.Close()
}

// TestDeviceMigrationPushes: on a real server, a device's migration that
// marks rows changed pushes them at the next sync, and rows it writes
// without marking stay on the device alone.
func TestDeviceMigrationPushes(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.SQLite().Store(t, v2.Registry())
	url := storetest.Serve(t, st, server.Config{})
	dir := t.TempDir()
	path := filepath.Join(dir, "device.db")
	first := openAs(t, path, v2.Registry(), 2)
	for _, title := range []string{"shared", "local"} {
		if err := v2.SyncTasks(first).Insert(ctx, &m2.Task{Title: title}); err != nil {
			t.Fatal(err)
		}
	}
	syncAs(t, first, url)
	first.Close()

	db, err := client.Open(ctx, path, v2.Registry(), client.Options{SchemaVersion: 3, Migrations: []client.Migration{{
		Version: 1, Name: "points from title", Run: func(ctx context.Context, tx *client.MigrationTx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = length(title)"); err != nil {
				return err
			}
			n, err := tx.MarkChanged(ctx, "ev_task", "title = ?", "shared")
			if err == nil && n != 1 {
				err = errors.New("marked the wrong rows")
			}
			return err
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if res := syncAs(t, db, url); res == nil {
		t.Fatal("no result")
	}
	other := openAs(t, filepath.Join(dir, "other.db"), v2.Registry(), 2)
	defer other.Close()
	syncAs(t, other, url)
	if got := pointsOf(t, other); got["shared"] != 6 || got["local"] != 0 {
		t.Fatalf("another device's points = %v, want shared 6 (pushed) and local 0 (local-only)", got)
	}
	if got := pointsOf(t, db); got["shared"] != 6 || got["local"] != 5 {
		t.Fatalf("the migrated device's points = %v, want shared 6 and local 5", got)
	}
}

// TestServerMigrationReachesDevices on every store, over HTTP: a store's
// data migration that marks rows changed reaches the device that wrote
// them last at its next sync; rows it writes without marking do not.
func TestServerMigrationReachesDevices(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		sdb, again := b.Open(t)
		st, err := store.Open(ctx, sdb, b.Dialect, v2.Registry())
		if err != nil {
			t.Fatal(err)
		}
		db := openAs(t, filepath.Join(t.TempDir(), "device.db"), v2.Registry(), 2)
		defer db.Close()
		for _, title := range []string{"shared", "quiet"} {
			if err := v2.SyncTasks(db).Insert(ctx, &m2.Task{Title: title}); err != nil {
				t.Fatal(err)
			}
		}
		syncAs(t, db, storetest.Serve(t, st, server.Config{}))

		length := "LENGTH"
		if b.Name == "mysql" {
			length = "CHAR_LENGTH"
		}
		st, err = store.Open(ctx, again(), b.Dialect, v2.Registry(), store.WithMigrations(store.Migration{
			Version: 1, Name: "points from title", Run: func(ctx context.Context, tx *store.MigrationTx) error {
				if _, err := tx.ExecContext(ctx, "UPDATE ev_task SET points = "+length+"(title)"); err != nil {
					return err
				}
				_, err := tx.MarkChanged(ctx, "ev_task", "title = "+tx.Dialect().Placeholder(1), "shared")
				return err
			}}))
		if err != nil {
			t.Fatal(err)
		}
		syncAs(t, db, storetest.Serve(t, st, server.Config{}))
		if got := pointsOf(t, db); got["shared"] != 6 || got["quiet"] != 0 {
			t.Fatalf("the device's points after the server's migration = %v, want shared 6 (marked) and quiet 0 (not marked)", got)
		}
	})
}
