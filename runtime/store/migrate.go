package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// schemaTable records the schemas the store has held: the registry's
// fingerprint, the app's schema version (WithSchemaVersion), and when a
// store with it first and last opened.
var schemaTable = TableDef{Name: "ss_schema", PrimaryKey: []string{"fingerprint"}, Columns: []ssync.Column{
	text("fingerprint", 80), {Name: "version", Kind: ssync.KindInt, Size: 64},
	{Name: "first_opened_at", Kind: ssync.KindTime}, {Name: "last_opened_at", Kind: ssync.KindTime},
}}

// WithSchemaVersion sets the app's schema version that Open records with
// the registry's fingerprint in ss_schema.
func WithSchemaVersion(v int) Option {
	return func(s *Store) error { s.schemaVersion = v; return nil }
}

// migrate brings the synchronized tables to the registry in tx: with the
// dialect's Inspect, it creates the tables the database lacks and adds the
// columns and indexes it lacks, drops the NOT NULL constraints the model
// no longer asks for and records every column's kind in ss_columns (a
// later open refuses a kind changed from it), or fails with an *ssync.SchemaChangeError
// before changing anything; without it, it creates what does not exist.
func (s *Store) migrate(ctx context.Context, tx execer) error {
	d := s.dialect
	defs := make(map[string]TableDef)
	var want []sqlddl.Table
	for _, c := range s.reg.Collections() {
		t := tableDef(c)
		defs[t.Name] = t
		want = append(want, sqlTable(t))
	}
	recorded, err := migrate.ReadRecorded(ctx, tx)
	if err != nil {
		return err
	}
	if d.Inspect == nil {
		if err := s.run(ctx, tx, createAll(d, s.reg.Collections())); err != nil {
			return err
		}
		return s.recordKinds(ctx, tx, recorded, want)
	}
	found, err := d.Inspect(ctx, tx)
	if err != nil {
		return fmt.Errorf("inspect tables: %w", err)
	}
	have := inspected(found)
	if d.ForeignKeys != nil {
		keys, err := d.ForeignKeys(ctx, tx)
		if err != nil {
			return fmt.Errorf("inspect foreign keys: %w", err)
		}
		for _, k := range keys {
			if t := have[k.Table]; t != nil {
				t.ForeignKeys = append(t.ForeignKeys, migrate.ForeignKey{Column: k.Column, Ref: k.Ref})
			}
		}
	}
	// The store's own table that gained columns since it was created.
	own := append(slices.Clip(want), sqlTable(activityTable))
	plan, err := migrate.Diff(own, have, migrate.Rules{Database: d.Name, Type: d.ColumnType, SameType: d.SameType,
		ZeroTime: d.ZeroTime, Recorded: recorded, ForeignKeys: d.ForeignKeys != nil})
	if err != nil {
		return err
	}
	if err := s.checkKeys(ctx, tx, plan.Keys); err != nil {
		return err
	}
	var create []TableDef
	for _, t := range plan.Tables {
		create = append(create, defs[t.Name])
	}
	stmts := d.createTables(create)
	for _, c := range plan.Columns {
		stmts = append(stmts, d.addColumn(c.Table, c.Column)...)
	}
	for _, ix := range plan.Indexes {
		stmts = append(stmts, d.createIndex(ix.Table, ssync.Index{Name: ix.Index.Name, Columns: ix.Index.Columns}))
	}
	for _, k := range plan.Keys {
		s.logger.WarnContext(ctx, "ssync store: adding a missing foreign key", "table", k.Table, "column", k.Column.Name, "references", k.Column.Ref)
		stmts = append(stmts, d.addForeignKey(k.Table, k.Column))
	}
	if err := s.relax(ctx, tx, plan); err != nil {
		return err
	}
	if err := s.run(ctx, tx, stmts); err != nil {
		return err
	}
	return s.recordKinds(ctx, tx, recorded, want)
}

// recordKinds records in ss_columns the kind of every column of want that
// recorded does not have as it is: a later open compares the model with
// it, and so finds a kind changed that the database's types do not show.
func (s *Store) recordKinds(ctx context.Context, tx execer, recorded migrate.Recorded, want []sqlddl.Table) error {
	for _, c := range recorded.Changes(want) {
		k := migrate.KindOf(c.Column)
		if _, err := tx.ExecContext(ctx, s.stmt.recordKind, c.Table, c.Column.Name, k.Kind, k.Size); err != nil {
			return fmt.Errorf("record column kinds: %w", err)
		}
	}
	return nil
}

// checkKeys refuses, before anything changes, to add a foreign key that
// rows of its table already violate: it counts, for each key, the rows
// whose reference names no row of the referenced table, and returns an
// *ssync.SchemaChangeError for each key with any (joined).
func (s *Store) checkKeys(ctx context.Context, tx execer, keys []migrate.NewKey) error {
	q := s.dialect.Quote
	var errs []error
	for _, k := range keys {
		col := "c." + q(k.Column.Name)
		var n int64
		err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q(k.Table)+" c WHERE "+col+" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "+
			q(k.Column.Ref)+" p WHERE p."+q(ssync.ColumnID)+" = "+col+")").Scan(&n)
		if err != nil {
			return fmt.Errorf("migrate: check rows of %s.%s against %s: %w", k.Table, k.Column.Name, k.Column.Ref, err)
		}
		if n > 0 {
			errs = append(errs, &ssync.SchemaChangeError{Database: s.dialect.Name, Table: k.Table, Column: k.Column.Name,
				Problem: fmt.Sprintf("the foreign key to %s is missing and %d rows reference ids %s does not have", k.Column.Ref, n, k.Column.Ref),
				Fix:     fmt.Sprintf("set those references to NULL or delete those rows (or restore the %s rows), then open again: the key is added then", k.Column.Ref)})
		}
	}
	return errors.Join(errs...)
}

// relax makes the columns plan relaxes nullable (Dialect.DropNotNull), or
// refuses them when the dialect cannot.
func (s *Store) relax(ctx context.Context, tx execer, plan migrate.Plan) error {
	if len(plan.Relaxed) == 0 {
		return nil
	}
	if s.dialect.DropNotNull == nil {
		var errs []error
		for _, r := range plan.Relaxed {
			errs = append(errs, &ssync.SchemaChangeError{Database: s.dialect.Name, Table: r.Table, Column: r.Column,
				Problem: "NOT NULL in the database, nullable in the model (or no longer in it)",
				Fix:     "the dialect cannot drop a NOT NULL constraint: drop it by hand, or keep the field non-nullable"})
		}
		return errors.Join(errs...)
	}
	var tables []string
	for _, r := range plan.Relaxed {
		if !slices.Contains(tables, r.Table) {
			tables = append(tables, r.Table)
		}
	}
	for _, t := range tables {
		if err := s.dialect.DropNotNull(ctx, tx, t, plan.RelaxedIn(t)); err != nil {
			return fmt.Errorf("migrate: make %s nullable: %w", t, err)
		}
	}
	return nil
}

// createAll returns the statements that create the tables of colls.
func createAll(d Dialect, colls []ssync.Collection) []string {
	defs := make([]TableDef, len(colls))
	for i, c := range colls {
		defs[i] = tableDef(c)
	}
	return d.createTables(defs)
}

// run runs stmts in tx.
func (s *Store) run(ctx context.Context, tx execer, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

// recordSchema records the registry's fingerprint and the schema version.
func (s *Store) recordSchema(ctx context.Context, tx execer) error {
	now := ssync.StoredTime(s.now())
	_, err := tx.ExecContext(ctx, s.stmt.recordSchema, s.reg.Fingerprint(), int64(s.schemaVersion), now, now)
	if err != nil {
		return fmt.Errorf("record schema: %w", err)
	}
	return nil
}

// sqlTable is t as the migration plans it.
func sqlTable(t TableDef) sqlddl.Table {
	ix := make([]sqlddl.Index, len(t.Indexes))
	for i, x := range t.Indexes {
		ix[i] = sqlddl.Index{Name: x.Name, Columns: x.Columns}
	}
	return sqlddl.Table{Name: t.Name, Columns: t.Columns, PrimaryKey: t.PrimaryKey, Indexes: ix}
}

// inspected turns what Inspect found into the migration's schema.
func inspected(found []ExistingTable) migrate.Schema {
	out := migrate.Schema{}
	for _, t := range found {
		mt := &migrate.Table{Name: t.Name, Indexes: t.Indexes}
		for _, c := range t.Columns {
			mt.Columns = append(mt.Columns, migrate.Column(c))
		}
		out[t.Name] = mt
	}
	return out
}

// addColumn returns the dialect's AddColumn, or the shared ALTER TABLE.
func (d Dialect) addColumn(table string, c ssync.Column) []string {
	if d.AddColumn != nil {
		return d.AddColumn(table, c)
	}
	return []string{sqlddl.AddColumn(table, c, d.Quote, d.ColumnType)}
}

// createIndex returns the dialect's CreateIndex, or the shared CREATE
// INDEX IF NOT EXISTS.
func (d Dialect) createIndex(table string, ix ssync.Index) string {
	if d.CreateIndex != nil {
		return d.CreateIndex(table, ix)
	}
	return sqlddl.CreateIndex(table, sqlddl.Index{Name: ix.Name, Columns: ix.Columns}, d.Quote)
}

// InspectQueries returns a Dialect.Inspect that runs two queries: columns,
// whose rows are table name, column name, declared type, nullable (a
// boolean) and has-default (a boolean), and indexes, whose rows are table
// name and index name (each index once). information_schema answers both
// on PostgreSQL and MariaDB.
func InspectQueries(columns, indexes string) func(ctx context.Context, q Queryer) ([]ExistingTable, error) {
	return func(ctx context.Context, q Queryer) ([]ExistingTable, error) {
		byName := map[string]*ExistingTable{}
		var order []string
		table := func(name string) *ExistingTable {
			if t, ok := byName[name]; ok {
				return t
			}
			byName[name] = &ExistingTable{Name: name}
			order = append(order, name)
			return byName[name]
		}
		err := scanRows(ctx, q, columns, func(scan func(...any) error) error {
			var name string
			var c ExistingColumn
			if err := scan(&name, &c.Name, &c.Type, &c.Nullable, &c.HasDefault); err != nil {
				return err
			}
			t := table(name)
			t.Columns = append(t.Columns, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
		err = scanRows(ctx, q, indexes, func(scan func(...any) error) error {
			var name, index string
			if err := scan(&name, &index); err != nil {
				return err
			}
			if t, ok := byName[name]; ok {
				t.Indexes = append(t.Indexes, index)
			}
			return nil
		})
		out := make([]ExistingTable, len(order))
		for i, name := range order {
			out[i] = *byName[name]
		}
		return out, err
	}
}

// ForeignKeysQuery returns a Dialect.ForeignKeys that runs query, whose
// rows are the referencing table, its column and the referenced table, for
// every foreign key of one column.
func ForeignKeysQuery(query string) func(ctx context.Context, q Queryer) ([]ExistingKey, error) {
	return func(ctx context.Context, q Queryer) ([]ExistingKey, error) {
		var out []ExistingKey
		err := scanRows(ctx, q, query, func(scan func(...any) error) error {
			var k ExistingKey
			if err := scan(&k.Table, &k.Column, &k.Ref); err != nil {
				return err
			}
			out = append(out, k)
			return nil
		})
		return out, err
	}
}

// scanRows runs query and calls each with the scan of every row.
func scanRows(ctx context.Context, q Queryer, query string, each func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
