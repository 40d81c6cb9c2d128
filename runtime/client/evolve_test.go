package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ssync-go/ssync/internal/evolvetest"
	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// openAs opens the device file at path with reg, signed in as alice.
func openAs(t *testing.T, path string, reg *ssync.Registry, version int) *client.DB {
	t.Helper()
	db, err := client.Open(context.Background(), path, reg, client.Options{SchemaVersion: version})
	if err != nil {
		t.Fatalf("open with schema version %d: %v", version, err)
	}
	if err := db.SetUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestDeviceMigratesAtOpen opens a version-1 device file with version 2 of
// the models: the new columns and table are there, old rows read back the
// new columns' zero values (never their names), and new values are
// written and read.
func TestDeviceMigratesAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "device.db")
	old := openAs(t, path, v1.Registry(), 1)
	task := &m1.Task{Title: "write the migration"}
	if err := v1.SyncTasks(old).Insert(ctx, task); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := openAs(t, path, v2.Registry(), 2)
	defer db.Close()
	tasks := v2.SyncTasks(db)
	got, err := tasks.Get(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != task.Title || got.Assignee != "" || got.Points != 0 {
		t.Fatalf("migrated row = %+v, want the title, an empty assignee and 0 points", got)
	}
	got.Assignee, got.Points = "bob", 5
	if err := tasks.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := tasks.Insert(ctx, &m2.Task{Title: "new", Assignee: "carol", Points: 3}); err != nil {
		t.Fatal(err)
	}
	five, err := tasks.Select(ctx, tasks.WherePoints(5))
	if err != nil || len(five) != 1 || five[0].Assignee != "bob" {
		t.Fatalf("tasks with 5 points = %+v, %v; want bob's", five, err)
	}
	if err := v2.SyncTags(db).Insert(ctx, &m2.Tag{Name: "urgent"}); err != nil {
		t.Fatal(err)
	}
	var index int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'ev_task_points'`).Scan(&index); err != nil || index != 1 {
		t.Fatalf("index ev_task_points: %d, %v", index, err)
	}
	var schemas, version int
	if err := db.SQL().QueryRow(`SELECT COUNT(*), MAX(version) FROM ss_schema`).Scan(&schemas, &version); err != nil {
		t.Fatal(err)
	}
	if schemas != 2 || version != 2 {
		t.Fatalf("ss_schema has %d schemas up to version %d, want 2 up to 2", schemas, version)
	}
	var fp string
	if err := db.SQL().QueryRow(`SELECT fingerprint FROM ss_schema WHERE version = 2`).Scan(&fp); err != nil || fp != v2.Registry().Fingerprint() {
		t.Fatalf("recorded fingerprint %q (%v), want %q", fp, err, v2.Registry().Fingerprint())
	}
}

// TestDeviceRefusesUnsafeChange opens a version-2 file with a model whose
// int column became a string: Open fails with the error naming the table
// and column, and changes nothing.
func TestDeviceRefusesUnsafeChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "device.db")
	openAs(t, path, v2.Registry(), 2).Close()
	_, err := client.Open(ctx, path, evolvetest.ChangedPoints(t), client.Options{})
	var sce *ssync.SchemaChangeError
	if !errors.As(err, &sce) || !errors.Is(err, ssync.ErrUnsafeSchemaChange) {
		t.Fatalf("open with a changed type: %v, want an *ssync.SchemaChangeError", err)
	}
	if sce.Table != "ev_task" || sce.Column != "points" || sce.Database != "device" {
		t.Fatalf("error names %s %s.%s, want device ev_task.points", sce.Database, sce.Table, sce.Column)
	}
	t.Log(err)
	openAs(t, path, v2.Registry(), 2).Close() // still opens with its own model
}

// TestMissingColumnIsAnError: an identifier the device quotes never reads
// back as a string. SQLite reads a double-quoted name that matches no
// column as a string literal; the device quotes in backticks, so a missing
// column is an error.
func TestMissingColumnIsAnError(t *testing.T) {
	ctx := context.Background()
	db := openAs(t, filepath.Join(t.TempDir(), "device.db"), v1.Registry(), 1)
	defer db.Close()
	if err := v1.SyncTasks(db).Insert(ctx, &m1.Task{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := db.SQL().QueryRowContext(ctx, `SELECT "assignee" FROM ev_task`).Scan(&s); err != nil || s != "assignee" {
		t.Fatalf(`SQLite's legacy reading of "assignee": %q, %v (the hazard this test guards against is gone?)`, s, err)
	}
	if err := db.SQL().QueryRowContext(ctx, "SELECT "+client.Quote("assignee")+" FROM ev_task").Scan(&s); err == nil {
		t.Fatalf("select of a missing column as the device quotes it read %q, want an error", s)
	}
	// The repositories of a newer model on an older file fail the same way.
	if _, err := v1.SyncTasks(db).Select(ctx, client.Where("assignee", "bob")); err == nil {
		t.Fatal("Where on a missing column succeeded")
	}
}
