package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/evolvetest"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// TestStoreRelaxesNotNull on every store: a field made nullable, and a
// field dropped whose column is NOT NULL without a default, lose their NOT
// NULL constraint at open (PostgreSQL: DROP NOT NULL; MariaDB: MODIFY with
// the column's definition; SQLite: the table's CREATE TABLE text
// rewritten in the setup transaction); the rows and the other columns'
// constraints stay, the store still pushes and pulls, and a model that
// makes the columns NOT NULL again is refused.
func TestStoreRelaxesNotNull(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		db, again := b.Open(t)
		st, err := store.Open(ctx, db, b.Dialect, v2.Registry())
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		task := &m2.Task{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}, Title: "keep me", Points: 5, Done: true}
		pushRows(t, st, "ev_task", task)
		if _, err := db.Exec("UPDATE ev_task SET points = NULL"); err == nil {
			t.Fatal("points took NULL before the model allowed it")
		}
		for range 2 { // the second open finds nothing to do
			if st, err = store.Open(ctx, again(), b.Dialect, evolvetest.NullablePoints(t)); err != nil {
				t.Fatalf("open with points nullable: %v", err)
			}
		}
		second := &m2.Task{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now}, Title: "new", Points: 3}
		pushRows(t, st, "ev_task", second)
		if got := pullTasks(t, st); len(got) != 2 || got[second.ID].Points != 3 || got[task.ID].Points != 5 || got[task.ID].Title != "keep me" {
			t.Fatalf("pulled %v, want both tasks, with 3 and 5 points", got)
		}
		if _, err := store.Open(ctx, again(), b.Dialect, evolvetest.DroppedDone(t)); err != nil {
			t.Fatalf("open without done: %v", err)
		}
		if _, err := db.Exec("UPDATE ev_task SET title = NULL"); err == nil {
			t.Fatal("title took NULL: more than points and done was relaxed")
		}
		if _, err := db.Exec("UPDATE ev_task SET points = NULL, done = NULL"); err != nil {
			t.Fatalf("NULL in the relaxed columns: %v", err)
		}
		// The columns may hold NULL now: a model that says NOT NULL again
		// is refused.
		for _, reg := range []*ssync.Registry{v2.Registry(), evolvetest.NullablePoints(t)} {
			if _, err := store.Open(ctx, again(), b.Dialect, reg); err == nil {
				t.Fatal("a NOT NULL field opened over a nullable column")
			}
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM ev_task WHERE points IS NULL AND title IN ('keep me', 'new')").Scan(&n); err != nil || n != 2 {
			t.Fatalf("rows after relaxing: %d, %v; want both", n, err)
		}
	})
}

// TestStoreRefusesRecordedKind on every store: a string field turned into
// JSON keeps the column's type (TEXT, LONGTEXT), and the kind ss_columns
// recorded at an earlier open shows the change: Open refuses it, naming
// the column, and the store still opens with its own model.
func TestStoreRefusesRecordedKind(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		db, _ := b.Open(t)
		if _, err := store.Open(ctx, db, b.Dialect, v2.Registry()); err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(ctx, db, b.Dialect, evolvetest.JSONTitle(t))
		var sce *ssync.SchemaChangeError
		if !errors.As(err, &sce) || sce.Table != "ev_task" || sce.Column != "title" || sce.Database != b.Dialect.Name ||
			!strings.Contains(sce.Problem, "kind text recorded") {
			t.Fatalf("open with title turned into JSON: %v, want an *ssync.SchemaChangeError on ev_task.title from the recorded kind", err)
		}
		t.Log(err)
		var kind string
		if err := db.QueryRow("SELECT kind FROM ss_columns WHERE tbl = 'ev_task' AND col = 'title'").Scan(&kind); err != nil || kind != "text" {
			t.Fatalf("recorded kind of ev_task.title: %q, %v", kind, err)
		}
		if _, err := store.Open(ctx, db, b.Dialect, v2.Registry()); err != nil {
			t.Fatal(err)
		}
	})
}
