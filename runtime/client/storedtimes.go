package client

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// storedTimesKey marks in ss_meta a device database whose times are all in
// their stored form (ssync.StoredTime).
const storedTimesKey = "stored_times"

// normalizeStoredTimes rewrites, once per device database, the times it
// holds from before every time was stored in its stored form: in the zone
// and precision the app gave them, which SQLite compares as text, not as
// instants. Each becomes the same instant in UTC, in microseconds; no row
// becomes a change to push.
func (db *DB) normalizeStoredTimes(ctx context.Context, tx *sql.Tx) error {
	for _, c := range db.reg.Collections() {
		cols := []string{ssync.ColumnCreatedAt, ssync.ColumnUpdatedAt, ssync.ColumnDeletedAt}
		for _, col := range c.UserColumns() {
			if col.Kind == ssync.KindTime {
				cols = append(cols, col.Name)
			}
		}
		for _, col := range cols {
			if err := normalizeColumn(ctx, tx, c.CollectionName(), col); err != nil {
				return fmt.Errorf("ssync client: store the times of %s.%s in UTC: %w", c.CollectionName(), col, err)
			}
		}
	}
	return writeMeta(ctx, tx, storedTimesKey, "1")
}

// normalizeColumn rewrites the times of one column that are not in their
// stored form: not in UTC, or with more than six digits of fraction.
func normalizeColumn(ctx context.Context, tx *sql.Tx, table, col string) error {
	t, c := quote(table), quote(col)
	rows, err := tx.QueryContext(ctx, "SELECT `id`, "+c+" FROM "+t+" WHERE "+c+" IS NOT NULL AND ("+c+" NOT LIKE '%+00:00' OR "+
		c+" GLOB '*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*')")
	if err != nil {
		return err
	}
	type fix struct {
		id string
		at time.Time
	}
	var fixes []fix
	for rows.Next() {
		var id string
		var v any
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return err
		}
		if at, ok := v.(time.Time); ok {
			fixes = append(fixes, fix{id, ssync.StoredTime(at)})
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, f := range fixes {
		if _, err := tx.ExecContext(ctx, "UPDATE "+t+" SET "+c+" = ? WHERE `id` = ?", f.at, f.id); err != nil {
			return err
		}
	}
	return nil
}
