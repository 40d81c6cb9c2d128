package store_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// foreignKeys returns the foreign keys of table as the database's catalog
// reports them, "column→table", sorted, with the constraint name of each.
func foreignKeys(t *testing.T, b storetest.Backend, db *sql.DB, table string) (keys []string, names map[string]string) {
	t.Helper()
	var query string
	switch b.Name {
	case "mysql":
		query = `SELECT COLUMN_NAME, REFERENCED_TABLE_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL`
	case "postgres":
		query = `SELECT kcu.column_name, ccu.table_name, tc.constraint_name
			FROM information_schema.table_constraints tc
			JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name
			JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_schema = tc.constraint_schema AND ccu.constraint_name = tc.constraint_name
			WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() AND tc.table_name = $1`
	default:
		query = `SELECT "from", "table", "id" FROM pragma_foreign_key_list(?)`
	}
	rows, err := db.Query(query, table)
	if err != nil {
		t.Fatalf("foreign keys of %s: %v", table, err)
	}
	defer rows.Close()
	names = map[string]string{}
	for rows.Next() {
		var column, ref, name string
		if err := rows.Scan(&column, &ref, &name); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, column+"→"+ref)
		names[column] = name
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys, names
}

// TestMissingKeysAdded: a store whose table lacks the foreign keys of its
// back references (the state a MariaDB setup stopped between creating the
// table and adding its keys leaves: each DDL statement commits by itself)
// gets them at the next open, and they refuse a dangling row. A missing
// key that rows already violate refuses the open, naming the table,
// column and count, and adds no key at all. SQLite declares every key
// with its table, so there is only its keys to check.
func TestMissingKeysAdded(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		w := newCycWorld(t, b)
		all := []string{"a→cyc_task", "b→cyc_step"}
		if keys, _ := foreignKeys(t, b, w.db, "cyc_user"); !slices.Equal(keys, all) {
			t.Fatalf("cyc_user has foreign keys %v after a clean open, want %v", keys, all)
		}
		if b.Dialect.ForeignKeys == nil {
			return
		}
		a := w.device()
		u, task, step := uuid.New(), uuid.New(), uuid.New()
		err := a.Transaction(ctx, func(ctx context.Context) error {
			w.insert(ctx, a, "cyc_user", u, "ann", &task, nil)
			w.insert(ctx, a, "cyc_task", task, "plan", &u, nil)
			w.insert(ctx, a, "cyc_step", step, "first step", &task, nil)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w.sync(a)

		// The state of the crash: cyc_user without its back references' keys.
		_, names := foreignKeys(t, b, w.db, "cyc_user")
		drop := " DROP CONSTRAINT "
		if b.Name == "mysql" {
			drop = " DROP FOREIGN KEY "
		}
		for _, column := range []string{"a", "b"} {
			if _, err := w.db.Exec("ALTER TABLE cyc_user" + drop + b.Dialect.Quote(names[column])); err != nil {
				t.Fatalf("drop the key of cyc_user.%s: %v", column, err)
			}
		}
		if keys, _ := foreignKeys(t, b, w.db, "cyc_user"); len(keys) != 0 {
			t.Fatalf("cyc_user still has keys %v", keys)
		}

		// A row written meanwhile references a task that does not exist.
		ph := b.Dialect.Placeholder
		if _, err := w.db.Exec("UPDATE cyc_user SET a = "+ph(1)+" WHERE id = "+ph(2), uuid.NewString(), u.String()); err != nil {
			t.Fatal(err)
		}
		_, err = store.Open(ctx, w.db, b.Dialect, storetest.Cycles(t))
		var sce *ssync.SchemaChangeError
		if !errors.As(err, &sce) || sce.Table != "cyc_user" || sce.Column != "a" || !strings.Contains(sce.Problem, "1 rows") {
			t.Fatalf("open with a dangling reference and no key: %v, want an *ssync.SchemaChangeError on cyc_user.a counting 1 row", err)
		}
		t.Log(err)
		if keys, _ := foreignKeys(t, b, w.db, "cyc_user"); len(keys) != 0 {
			t.Fatalf("the refused open added keys %v", keys)
		}

		if _, err := w.db.Exec("UPDATE cyc_user SET a = "+ph(1)+" WHERE id = "+ph(2), task.String(), u.String()); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second open finds nothing to do
			if _, err := store.Open(ctx, w.db, b.Dialect, storetest.Cycles(t)); err != nil {
				t.Fatalf("open without the keys: %v", err)
			}
			if keys, _ := foreignKeys(t, b, w.db, "cyc_user"); !slices.Equal(keys, all) {
				t.Fatalf("cyc_user has foreign keys %v after the open, want %v", keys, all)
			}
		}

		// The keys hold: a copy of the user referencing a missing task, or
		// the user made to reference a missing step, is refused.
		_, err = w.db.Exec(`INSERT INTO cyc_user (id, created_at, updated_at, ss_sync_id, title, a, b, ss_version, ss_created_version, ss_origin, ss_writer)
			SELECT `+ph(1)+`, created_at, updated_at, ss_sync_id, title, `+ph(2)+`, b, ss_version, ss_created_version, ss_origin, ss_writer
			FROM cyc_user WHERE id = `+ph(3), uuid.NewString(), uuid.NewString(), u.String())
		if err == nil || !b.Dialect.ForeignKey(err) {
			t.Fatalf("a dangling insert: %v, want a foreign key violation", err)
		}
		_, err = w.db.Exec("UPDATE cyc_user SET b = "+ph(1)+" WHERE id = "+ph(2), uuid.NewString(), u.String())
		if err == nil || !b.Dialect.ForeignKey(err) {
			t.Fatalf("a dangling update: %v, want a foreign key violation", err)
		}
		w.sync(a)
		w.check(a)
	})
}
