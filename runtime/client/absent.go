package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Rows with pending changes when a migration adds columns to their table
// hold the new columns' defaults, not values: the app that changed them
// did not know the columns. ss_absent lists them, with the change counter
// they had then; until the row changes again, its push leaves those
// fields out (wire.ChangeSet.Absent), so the server keeps its values, and
// the re-pull that follows brings them.
//
// Every other row of the table holds the defaults too, until that re-pull
// reaches it. The migration records the columns it added per scope in
// ss_meta (addedKey); while the re-pull is pending, a row pushed whole
// (SyncOptions.WholeRows, or a change not known field by field) leaves out
// the added columns that the device did not change since its last
// acknowledged push (the side table of changed fields says which; for a
// change not known field by field, those that still hold their default),
// and a field push carries only what changed anyway. finishResync forgets the
// record, unless the re-pull left such a row as it was (see there).

// markAbsent records the rows of table with pending changes, which lack
// the columns cols, in the migration's transaction.
func markAbsent(ctx context.Context, tx queryer, table string, cols []string) error {
	for _, col := range cols {
		_, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO ss_absent (collection, id, col, dirty) SELECT ?, "+quote("id")+
			", ?, "+quote(columnDirty)+" FROM "+quote(table)+" WHERE "+quote(columnDirty)+" > 0 AND "+quote(columnKnown)+" = 1",
			table, col)
		if err != nil {
			return fmt.Errorf("record the fields pending rows of %s lack: %w", table, err)
		}
	}
	return nil
}

// loadAbsent notes whether ss_absent holds rows, so that syncs of a file
// that has none (nearly always) read and write nothing of it.
func (db *DB) loadAbsent(ctx context.Context, q queryer) error {
	rows, err := q.QueryContext(ctx, `SELECT 1 FROM ss_absent LIMIT 1`)
	if err != nil {
		return fmt.Errorf("read ss_absent: %w", err)
	}
	defer rows.Close()
	db.absentRows.Store(rows.Next())
	return rows.Err()
}

// absentRow is what ss_absent says of one row.
type absentRow struct {
	dirty int64
	cols  []string
}

// absentOf returns the rows of table whose pending change lacks fields,
// by id.
func (db *DB) absentOf(ctx context.Context, table string) (map[string]*absentRow, error) {
	if !db.absentRows.Load() {
		return nil, nil
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, col, dirty FROM ss_absent WHERE collection = ? ORDER BY id, col`, table)
	if err != nil {
		return nil, fmt.Errorf("ssync client: read ss_absent: %w", err)
	}
	defer rows.Close()
	var out map[string]*absentRow
	for rows.Next() {
		var id, col string
		var dirty int64
		if err := rows.Scan(&id, &col, &dirty); err != nil {
			return nil, fmt.Errorf("ssync client: read ss_absent: %w", err)
		}
		if out == nil {
			out = map[string]*absentRow{}
		}
		a := out[id]
		if a == nil {
			a = &absentRow{dirty: dirty}
			out[id] = a
		}
		a.cols = append(a.cols, col)
	}
	return out, rows.Err()
}

// dropAbsent forgets the rows of ss_absent whose change was acknowledged
// or changed again since (their counter moved).
func (db *DB) dropAbsent(ctx context.Context) error {
	if !db.absentRows.Load() {
		return nil
	}
	for _, name := range db.reg.Names() {
		t := quote(name)
		_, err := db.sql.ExecContext(ctx, "DELETE FROM ss_absent WHERE collection = ? AND NOT EXISTS (SELECT 1 FROM "+t+
			" WHERE "+t+"."+quote("id")+" = ss_absent.id AND "+t+"."+quote(columnDirty)+" = ss_absent.dirty)", name)
		if err != nil {
			return fmt.Errorf("ssync client: forget acknowledged rows in ss_absent: %w", err)
		}
	}
	return db.loadAbsent(ctx, db.sql)
}

// addedColumns returns the columns a migration added to table whose
// re-pull in scope has not finished (addedKey).
func (db *DB) addedColumns(ctx context.Context, scope, table string) ([]string, error) {
	var v string
	err := db.sql.QueryRowContext(ctx, `SELECT value FROM ss_meta WHERE key = ?`, addedKey(scope, table)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || v == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssync client: read ss_meta: %w", err)
	}
	return strings.Split(v, ","), nil
}

// union returns a with the names of b it lacks appended.
func union(a, b []string) []string {
	a = slices.Clip(a)
	for _, n := range b {
		if !slices.Contains(a, n) {
			a = append(a, n)
		}
	}
	return a
}

// unchanged returns the columns of cols that row, of c, holds as a
// migration added them: those that f, the row's changed fields, does not
// list, or, when f is nil (its changes are not known field by field),
// those that hold their zero value, the default the migration gave them.
func unchanged(c ssync.Collection, row any, cols []string, f *wire.FieldChange) []string {
	var out []string
	if f == nil {
		for i, differs := range wire.DiffFields(c, row, c.NewRow(), cols) {
			if !differs {
				out = append(out, cols[i])
			}
		}
		return out
	}
	for _, col := range cols {
		if !slices.Contains(f.Changed, col) {
			out = append(out, col)
		}
	}
	return out
}
