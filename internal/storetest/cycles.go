package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// CycleTable returns the descriptor of one table of Cycles:
//
//	cyc_user  a → cyc_task (setnull: a favorite task), b → cyc_step (restrict: a pinned step)
//	cyc_task  a → cyc_user (cascade: the owner), b → cyc_task (cascade: subtasks)
//	cyc_step  a → cyc_task (cascade)
//
// cyc_user's references point to tables of greater order (back
// references), so users and tasks form a cycle of two tables inside one of
// three (user → step → task → user).
func CycleTable(name string) *ssync.Table[Node] {
	switch name {
	case "cyc_task":
		return relTable(name, 2, "cyc_user", ssync.OnDeleteCascade, "cyc_task", ssync.OnDeleteCascade)
	case "cyc_step":
		return relTable(name, 3, "cyc_task", ssync.OnDeleteCascade, "", "")
	}
	return relTable("cyc_user", 1, "cyc_task", ssync.OnDeleteSetNull, "cyc_step", ssync.OnDeleteRestrict)
}

// LoopTable returns the descriptor of one table of Loop: loop_x.a →
// loop_y and loop_y.a → loop_x, both nullable and both cascade, so that a
// delete goes around the cycle.
func LoopTable(name string) *ssync.Table[Node] {
	if name == "loop_y" {
		return relTable(name, 2, "loop_x", ssync.OnDeleteCascade, "", "")
	}
	return relTable("loop_x", 1, "loop_y", ssync.OnDeleteCascade, "", "")
}

// Loop is a schema of two tables that reference each other, cascading both
// ways (see LoopTable).
func Loop(t testing.TB) *ssync.Registry {
	t.Helper()
	reg, err := ssync.NewRegistry(LoopTable("loop_x"), LoopTable("loop_y"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// Cycles is a schema whose tables reference each other through nullable
// fields (see CycleTable).
func Cycles(t testing.TB) *ssync.Registry {
	t.Helper()
	reg, err := ssync.NewRegistry(CycleTable("cyc_user"), CycleTable("cyc_task"), CycleTable("cyc_step"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// Dangling returns a description of the first live row of db (a server
// store of reg with server true, else a device file) that references a
// missing or deleted row, or "" when there is none. Table and column names
// must need no quoting.
func Dangling(ctx context.Context, db *sql.DB, reg *ssync.Registry, server bool) (string, error) {
	for _, c := range reg.Collections() {
		for _, col := range c.UserColumns() {
			if col.Ref == "" {
				continue
			}
			child, column := c.CollectionName(), col.Name
			if server {
				column = col.ServerName()
			}
			q := "SELECT c.id FROM " + child + " c WHERE c.deleted_at IS NULL AND c." + column + " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " +
				col.Ref + " p WHERE p.id = c." + column + " AND p.deleted_at IS NULL)"
			var id string
			switch err := db.QueryRowContext(ctx, q).Scan(&id); err {
			case sql.ErrNoRows:
			case nil:
				return fmt.Sprintf("live %s %s references through %s a missing or deleted %s row", child, id, column, col.Ref), nil
			default:
				return "", fmt.Errorf("%s.%s: %w", child, column, err)
			}
		}
	}
	return "", nil
}

// ForeignKeyCheck returns what SQLite's PRAGMA foreign_key_check reports
// on a device file, or "" when every key holds.
func ForeignKeyCheck(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	if !rows.Next() {
		return "", rows.Err()
	}
	var table, parent string
	var rowid sql.NullInt64
	var fk int
	if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
		return "", err
	}
	return fmt.Sprintf("row %d of %s references a missing %s row", rowid.Int64, table, parent), nil
}
