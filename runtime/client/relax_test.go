package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/evolvetest"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// notNull reads whether the device's table ev_task has column NOT NULL.
func notNull(t *testing.T, db *client.DB, column string) bool {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT `notnull` FROM pragma_table_info('ev_task') WHERE name = ?", column).Scan(&n); err != nil {
		t.Fatalf("column %s: %v", column, err)
	}
	return n == 1
}

// TestDeviceRelaxesNotNull: a field made nullable, and a field dropped
// whose column is NOT NULL without a default, lose their NOT NULL
// constraint at open, in the open's transaction: rows, indexes and the
// other constraints stay; an open that fails later (a data migration)
// leaves the constraints as they were; a second open finds nothing to do.
func TestDeviceRelaxesNotNull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "device.db")
	db := openAs(t, path, v2.Registry(), 2)
	task := &m2.Task{Title: "keep me", Points: 5, Done: true}
	if err := v2.SyncTasks(db).Insert(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec("UPDATE ev_task SET points = NULL"); err == nil {
		t.Fatal("points took NULL before the model allowed it")
	}
	db.Close()

	fails := client.Migration{Version: 1, Name: "fails", Run: func(context.Context, *client.MigrationTx) error { return errors.New("no") }}
	if _, err := client.Open(ctx, path, evolvetest.NullablePoints(t), client.Options{Migrations: []client.Migration{fails}}); err == nil {
		t.Fatal("open with a failing migration succeeded")
	}
	db = openAs(t, path, v2.Registry(), 2) // the failed open changed nothing
	if !notNull(t, db, "points") {
		t.Fatal("a failed open left points nullable")
	}
	db.Close()

	for _, reg := range []*ssync.Registry{evolvetest.NullablePoints(t), evolvetest.NullablePoints(t)} {
		if db, err := client.Open(ctx, path, reg, client.Options{}); err != nil {
			t.Fatalf("open with points nullable: %v", err)
		} else {
			db.Close()
		}
	}
	db, err := client.Open(ctx, path, evolvetest.DroppedDone(t), client.Options{})
	if err != nil {
		t.Fatalf("open without done: %v", err)
	}
	defer db.Close()
	if notNull(t, db, "points") || notNull(t, db, "done") || !notNull(t, db, "title") {
		t.Fatal("points and done should take NULL, title not")
	}
	if _, err := db.SQL().Exec("UPDATE ev_task SET points = NULL, done = NULL"); err != nil {
		t.Fatalf("NULL in the relaxed columns: %v", err)
	}
	var title string
	var index int
	if err := db.SQL().QueryRow(`SELECT title, (SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'ev_task_points') FROM ev_task`).
		Scan(&title, &index); err != nil || title != "keep me" || index != 1 {
		t.Fatalf("after relaxing: title %q, index %d, %v; want the row and the index", title, index, err)
	}
	var check string
	if err := db.SQL().QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
}

// TestDeviceRefusesRecordedKind: a string field turned into JSON keeps
// SQLite's type (TEXT), and the kind ss_columns recorded at an earlier
// open shows the change: Open refuses it, naming the column.
func TestDeviceRefusesRecordedKind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.db")
	openAs(t, path, v2.Registry(), 2).Close()
	_, err := client.Open(context.Background(), path, evolvetest.JSONTitle(t), client.Options{})
	var sce *ssync.SchemaChangeError
	if !errors.As(err, &sce) || sce.Table != "ev_task" || sce.Column != "title" || !strings.Contains(sce.Problem, "kind text recorded") {
		t.Fatalf("open with title turned into JSON: %v, want an *ssync.SchemaChangeError on ev_task.title from the recorded kind", err)
	}
	t.Log(err)
	openAs(t, path, v2.Registry(), 2).Close()
}
