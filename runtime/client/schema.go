package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// deviceColumns are the columns the device adds to every synchronized table
// after the user's: the change counter and the known flag.
var deviceColumns = []ssync.Column{
	{Name: columnDirty, Kind: ssync.KindInt, Size: 64, Default: int64(0)},
	{Name: columnKnown, Kind: ssync.KindInt, Size: 64, Default: int64(0)},
}

// deviceTable describes the device's table of c: the record's columns, the
// user's and the device's own; an index of pending changes, one for reads
// scoped to the user, the declared indexes, and for each attachment column
// an index of the rows that hold content (each sync checks only those for
// content the device lacks).
func deviceTable(c ssync.Collection) sqlddl.Table {
	name := c.CollectionName()
	cols := append(append(ssync.RecordColumns(), c.UserColumns()...), deviceColumns...)
	indexes := []sqlddl.Index{
		{Name: ssync.DirtyIndexName(name), Columns: []string{columnDirty}, Where: quote(columnDirty) + " > 0"},
		{Name: ssync.ScopeIndexName(name), Columns: []string{ssync.ColumnSyncID, ssync.ColumnCreatedAt}},
	}
	for _, ix := range c.UserIndexes() {
		indexes = append(indexes, sqlddl.Index{Name: ix.Name, Columns: ix.Columns})
	}
	for _, col := range c.UserColumns() {
		if col.Attachment {
			indexes = append(indexes, sqlddl.Index{Name: ssync.ContentIndexName(name, col.Name),
				Columns: []string{col.Name}, Where: attachmentPresent(col.Name)})
		}
	}
	return sqlddl.Table{Name: name, Columns: cols, PrimaryKey: []string{ssync.ColumnID}, Indexes: indexes}
}

// tableDDL returns the statements that create the device's table of c
// from its description (deviceTable). Every statement is idempotent.
func tableDDL(c ssync.Collection) []string {
	return sqlddl.Create(deviceTable(c), quote, sqlddl.SQLiteType)
}

// attachmentPresent is the SQL condition that an attachment column holds
// content. Queries for such rows use the same text, so that SQLite picks
// the partial index it matches.
func attachmentPresent(column string) string {
	c := quote(column)
	return c + " IS NOT NULL AND " + c + " <> 'null'"
}

// deviceRules are how the device's SQLite spells its columns.
var deviceRules = migrate.Rules{Database: "device", Type: sqlddl.SQLiteType, ZeroTime: migrate.SQLiteZeroTime}

// migrate brings the device's synchronized tables to the registry in tx:
// it creates the tables the file lacks, adds new columns (with their
// defaults) and new indexes, drops the NOT NULL constraints the model no
// longer asks for (migrate.RelaxSQLite), records every column's kind in
// ss_columns (a later open refuses a kind changed from it, which SQLite's
// types do not show), and fails with an *ssync.SchemaChangeError,
// changing nothing, when a difference cannot be applied safely. Tables
// that gained columns are pulled again from the start at the next sync,
// so that their rows get the server's values.
func (db *DB) migrate(ctx context.Context, tx queryer) error {
	var want []sqlddl.Table
	names := db.reg.Names()
	for _, c := range db.reg.Collections() {
		want = append(want, deviceTable(c), changedTable(c))
		names = append(names, changedName(c.CollectionName()))
	}
	have, err := migrate.InspectSQLite(ctx, tx, names)
	if err != nil {
		return err
	}
	rules := deviceRules
	if rules.Recorded, err = migrate.ReadRecorded(ctx, tx); err != nil {
		return err
	}
	plan, err := migrate.Diff(want, have, rules)
	if err != nil {
		return err
	}
	var stmts []string
	for _, t := range plan.Tables {
		create := sqlddl.Create(t, quote, sqlddl.SQLiteType)
		if isChangedTable(db.reg, t.Name) {
			// One b-tree keyed by id: the tracking trigger writes it on
			// every first change of a row.
			create[0] += " WITHOUT ROWID"
		}
		stmts = append(stmts, create...)
	}
	for _, c := range plan.Columns {
		stmts = append(stmts, sqlddl.AddColumn(c.Table, c.Column, quote, sqlddl.SQLiteType))
	}
	for _, ix := range plan.Indexes {
		stmts = append(stmts, sqlddl.CreateIndex(ix.Table, ix.Index, quote))
	}
	for _, c := range db.reg.Collections() {
		stmts = append(stmts, trackDDL(c)...)
		stmts = append(stmts, heldTriggerDDL(c)...)
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	for _, name := range db.reg.Names() {
		if cols := plan.RelaxedIn(name); len(cols) > 0 {
			if err := migrate.RelaxSQLite(ctx, tx, name, cols); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
	}
	if err := recordKinds(ctx, tx, rules.Recorded, want); err != nil {
		return err
	}
	if err := db.migrateFields(ctx, tx, have, plan); err != nil {
		return err
	}
	for _, name := range plan.Grown() {
		if _, ok := have[name]; !ok || !slices.Contains(db.reg.Names(), name) {
			continue // a side table of changed fields (fields.go)
		}
		if err := repullAll(ctx, tx, name, added(plan, name)); err != nil {
			return err
		}
		if err := markAbsent(ctx, tx, name, added(plan, name)); err != nil {
			return err
		}
		db.logger.InfoContext(ctx, "ssync: columns added; the next sync pulls the table again from the start", "table", name)
	}
	return nil
}

// recordKinds records in ss_columns the kind of every column of want that
// recorded does not have as it is.
func recordKinds(ctx context.Context, tx queryer, recorded migrate.Recorded, want []sqlddl.Table) error {
	for _, c := range recorded.Changes(want) {
		k := migrate.KindOf(c.Column)
		if _, err := tx.ExecContext(ctx, `INSERT INTO ss_columns (tbl, col, kind, size) VALUES (?, ?, ?, ?)
			ON CONFLICT (tbl, col) DO UPDATE SET kind = excluded.kind, size = excluded.size`, c.Table, c.Column.Name, k.Kind, k.Size); err != nil {
			return fmt.Errorf("record column kinds: %w", err)
		}
	}
	return nil
}

// repullAll makes every scope that has pulled collection name pull it
// again in full at its next sync (a resync: resumable, and rows with
// pending local changes keep them), and records for each the columns cols
// the migration added (see addedKey). It runs in the migration's
// transaction.
func repullAll(ctx context.Context, tx queryer, name string, cols []string) error {
	meta, err := readMeta(ctx, tx)
	if err != nil {
		return err
	}
	prefix := checkpointKey("", name)
	for key, cp := range meta {
		scope, ok := strings.CutPrefix(key, prefix)
		if !ok || cp == "" {
			continue
		}
		if err := startResyncTx(ctx, tx, scope, []string{name}); err != nil {
			return err
		}
		all := cols
		if before := meta[addedKey(scope, name)]; before != "" {
			all = union(strings.Split(before, ","), cols)
		}
		if err := writeMeta(ctx, tx, addedKey(scope, name), strings.Join(all, ",")); err != nil {
			return err
		}
	}
	return nil
}

// recordSchema records in ss_schema that the file holds the registry's
// schema (its fingerprint and the app's schema version).
func (db *DB) recordSchema(ctx context.Context, tx queryer, version int) error {
	now := db.timestamp()
	_, err := tx.ExecContext(ctx, `INSERT INTO ss_schema (fingerprint, version, first_opened_at, last_opened_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(fingerprint) DO UPDATE SET version = excluded.version, last_opened_at = excluded.last_opened_at`,
		db.reg.Fingerprint(), version, now, now)
	if err != nil {
		return fmt.Errorf("record schema: %w", err)
	}
	return nil
}

// added returns the names of the columns plan adds to table.
func added(plan migrate.Plan, table string) []string {
	var out []string
	for _, c := range plan.Columns {
		if c.Table == table {
			out = append(out, c.Column.Name)
		}
	}
	return out
}
