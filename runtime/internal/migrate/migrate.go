// Package migrate compares the tables a database has with those the
// schema description (ssync.Column, ssync.Index) asks for, and plans the
// additive changes that bring the database there: new tables, new columns
// with their defaults, new indexes. A difference that no additive change
// resolves (a column's type changed, a nullable column became NOT NULL)
// is refused with an *ssync.SchemaChangeError, before anything changes. A
// NOT NULL constraint the model no longer asks for (a field made nullable,
// or a field dropped whose column has no default) is planned away. The device
// (runtime/client) and every server store (runtime/store) plan with it;
// each renders the plan in its own SQL.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Column is a column as a database has it.
type Column struct {
	// Name is the column's name.
	Name string
	// Type is its declared type, as the database reports it.
	Type string
	// Nullable is true when it accepts NULL.
	Nullable bool
	// HasDefault is true when it has a default value.
	HasDefault bool
}

// Table is a table as a database has it.
type Table struct {
	// Name is the table's name.
	Name string
	// Columns are its columns.
	Columns []Column
	// Indexes are the names of its indexes.
	Indexes []string
	// ForeignKeys are its foreign keys; read only where Rules.ForeignKeys
	// says so.
	ForeignKeys []ForeignKey
}

// ForeignKey is a foreign key of one column, to the id of a table.
type ForeignKey struct {
	// Column is the referencing column.
	Column string
	// Ref is the referenced table.
	Ref string
}

// Schema is the tables a database has, by name.
type Schema map[string]*Table

// Rules is how one database spells what it stores.
type Rules struct {
	// Database names the database in errors: "device" or a dialect's name.
	Database string
	// Type spells a column's type, as in the database's CREATE TABLE.
	Type func(ssync.Column) string
	// SameType reports whether a type the database reports is the type
	// want (spelled by Type); nil compares them ignoring case.
	SameType func(want, have string) bool
	// ZeroTime is the literal default of a new NOT NULL time column
	// without one: the zero time.Time, in a form the database reads.
	ZeroTime string
	// Recorded are the kinds an earlier open recorded; nil when none did.
	Recorded Recorded
	// ForeignKeys says that the database reported its foreign keys
	// (Table.ForeignKeys): Diff then plans the key of every reference
	// column of an existing table that lacks one. A database that commits
	// each DDL statement by itself (MariaDB) keeps a table created without
	// the key that a later statement was to add, when the process stopped
	// in between.
	ForeignKeys bool
}

// Kind is a column's storage kind and size, as ss_columns records them.
type Kind struct {
	// Kind is the ssync.Kind's name ("int", "text", ...).
	Kind string
	// Size is the column's ssync.Column.Size.
	Size int
}

// KindOf returns c's kind as recorded.
func KindOf(c ssync.Column) Kind { return Kind{Kind: c.Kind.String(), Size: c.Size} }

// String spells k as errors show it: "int(64)", "text", "text(80)".
func (k Kind) String() string {
	if k.Size == 0 {
		return k.Kind
	}
	return fmt.Sprintf("%s(%d)", k.Kind, k.Size)
}

// Recorded holds the kinds of the columns an earlier open recorded, by
// table and column. Databases report types, and several kinds share one
// (SQLite keeps every integer as INTEGER, most databases text and JSON as
// the same text type): the record tells them apart.
type Recorded map[string]map[string]Kind

// Changes returns the columns of want whose kind differs from rec or that
// rec lacks, in order: what to record after a migration.
func (rec Recorded) Changes(want []sqlddl.Table) []NewColumn {
	var out []NewColumn
	for _, t := range want {
		for _, c := range t.Columns {
			if k, ok := rec[t.Name][c.Name]; !ok || k != KindOf(c) {
				out = append(out, NewColumn{Table: t.Name, Column: c})
			}
		}
	}
	return out
}

// NewColumn is a column to add to an existing table.
type NewColumn struct {
	// Table is the table's name.
	Table string
	// Column is the column, with the default it is added with.
	Column ssync.Column
}

// NewIndex is an index to create on an existing table.
type NewIndex struct {
	// Table is the table's name.
	Table string
	// Index is the index.
	Index sqlddl.Index
}

// NewKey is a foreign key to add to an existing column.
type NewKey struct {
	// Table is the table's name.
	Table string
	// Column is the referencing column (Column.Ref names the table it
	// references).
	Column ssync.Column
}

// Plan is the additive changes that bring a database to the model, in the
// order to apply them: tables, then columns, then indexes (which may be on
// new columns), then foreign keys of existing columns.
type Plan struct {
	// Tables are the tables to create, whole.
	Tables []sqlddl.Table
	// Columns are the columns to add to tables that exist.
	Columns []NewColumn
	// Indexes are the indexes to create on tables that exist.
	Indexes []NewIndex
	// Relaxed are the columns of tables that exist to make nullable.
	Relaxed []Relax
	// Keys are the foreign keys that existing columns lack (only with
	// Rules.ForeignKeys).
	Keys []NewKey
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Tables)+len(p.Columns)+len(p.Indexes)+len(p.Relaxed)+len(p.Keys) == 0
}

// RelaxedIn returns the columns of table the plan makes nullable.
func (p Plan) RelaxedIn(table string) []string {
	var out []string
	for _, r := range p.Relaxed {
		if r.Table == table {
			out = append(out, r.Column)
		}
	}
	return out
}

// Grown returns the names of the existing tables that gain columns, each
// once, in plan order: their rows hold the new columns' defaults, not
// values.
func (p Plan) Grown() []string {
	var names []string
	for _, c := range p.Columns {
		if len(names) == 0 || names[len(names)-1] != c.Table {
			names = append(names, c.Table)
		}
	}
	return names
}

// Diff plans the changes from have to want. It returns every change it
// cannot apply safely, joined, each an *ssync.SchemaChangeError; the plan
// is then empty. Tables of have that want does not name are left alone.
func Diff(want []sqlddl.Table, have Schema, r Rules) (Plan, error) {
	var p Plan
	var errs []error
	for _, t := range want {
		h, ok := have[t.Name]
		if !ok {
			p.Tables = append(p.Tables, t)
			continue
		}
		errs = append(errs, diffTable(&p, t, h, r)...)
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}
	return p, nil
}

// diffTable adds to p what table t lacks of the model, and returns what
// cannot be applied.
func diffTable(p *Plan, t sqlddl.Table, h *Table, r Rules) []error {
	var errs []error
	fail := func(col, problem, fix string) {
		errs = append(errs, &ssync.SchemaChangeError{Database: r.Database, Table: t.Name, Column: col, Problem: problem, Fix: fix})
	}
	cols := make(map[string]Column, len(h.Columns))
	for _, c := range h.Columns {
		cols[c.Name] = c
	}
	wanted := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		wanted[c.Name] = true
		hc, ok := cols[c.Name]
		if !ok {
			if !c.Nullable && c.Ref != "" {
				fail(c.Name, "a new NOT NULL reference cannot hold a value for the rows that exist",
					"make the field nullable (a pointer), or add the column and fill it with a data migration first")
				continue
			}
			p.Columns = append(p.Columns, NewColumn{Table: t.Name, Column: WithDefault(c, r.ZeroTime)})
			continue
		}
		if problem, fix := compare(t.Name, c, hc, r); problem != "" {
			fail(c.Name, problem, fix)
			continue
		} else if !hc.Nullable && c.Nullable {
			p.Relaxed = append(p.Relaxed, Relax{Table: t.Name, Column: c.Name})
		}
		if r.ForeignKeys && c.Ref != "" && !slices.Contains(h.ForeignKeys, ForeignKey{Column: c.Name, Ref: c.Ref}) {
			p.Keys = append(p.Keys, NewKey{Table: t.Name, Column: c})
		}
	}
	for _, hc := range h.Columns {
		if !wanted[hc.Name] && !hc.Nullable && !hc.HasDefault {
			// Inserts leave it out: it must take NULL.
			p.Relaxed = append(p.Relaxed, Relax{Table: t.Name, Column: hc.Name})
		}
	}
	indexes := make(map[string]bool, len(h.Indexes))
	for _, name := range h.Indexes {
		indexes[name] = true
	}
	for _, ix := range t.Indexes {
		if !indexes[ix.Name] {
			p.Indexes = append(p.Indexes, NewIndex{Table: t.Name, Index: ix})
		}
	}
	return errs
}

// compare says what differs between the model's column c and the
// database's column h that no additive change resolves, and what to do;
// empty when nothing does.
func compare(table string, c ssync.Column, h Column, r Rules) (problem, fix string) {
	want := r.Type(c)
	same := r.SameType
	if same == nil {
		same = strings.EqualFold
	}
	const typeFix = "a column's type is not changed in place: revert the field's type, or add a new field (a new column) and copy the values over in a data migration"
	rec, recorded := r.Recorded[table][c.Name]
	switch {
	case !same(want, h.Type):
		return fmt.Sprintf("type %s in the database, %s in the model (kind %s)", h.Type, want, c.Kind), typeFix
	case recorded && rec != KindOf(c):
		return fmt.Sprintf("kind %s recorded in the database, %s in the model", rec, KindOf(c)), typeFix
	case h.Nullable && !c.Nullable:
		return "nullable in the database, NOT NULL in the model",
			"rows may hold NULL: keep the field nullable (a pointer or sql.Null type), or fill the NULLs and make the column NOT NULL in a data migration"
	}
	return "", ""
}

// WithDefault returns c with the default a new column needs: a NOT NULL
// column without one gets its kind's zero value (the value the generated
// code writes for a zero field), so that the rows that exist hold it.
// zeroTime is the database's literal of the zero time.
func WithDefault(c ssync.Column, zeroTime string) ssync.Column {
	if c.Nullable || c.Default != nil {
		return c
	}
	switch c.Kind {
	case ssync.KindBool:
		c.Default = false
	case ssync.KindInt, ssync.KindUint:
		c.Default = int64(0)
	case ssync.KindFloat:
		c.Default = float64(0)
	case ssync.KindTime:
		c.Default = zeroTime
	case ssync.KindUUID:
		c.Default = "00000000-0000-0000-0000-000000000000"
	case ssync.KindJSON:
		c.Default = "null"
	default: // KindText, KindBytes
		c.Default = ""
	}
	return c
}

// ReadRecorded reads the kinds recorded in ss_columns (columns tbl, col,
// kind, size), the same table on the device and every store.
func ReadRecorded(ctx context.Context, q Queryer) (Recorded, error) {
	rows, err := q.QueryContext(ctx, "SELECT tbl, col, kind, size FROM ss_columns")
	if err != nil {
		return nil, fmt.Errorf("read ss_columns: %w", err)
	}
	defer rows.Close()
	rec := Recorded{}
	for rows.Next() {
		var table, column string
		var k Kind
		if err := rows.Scan(&table, &column, &k.Kind, &k.Size); err != nil {
			return nil, fmt.Errorf("read ss_columns: %w", err)
		}
		if rec[table] == nil {
			rec[table] = map[string]Kind{}
		}
		rec[table][column] = k
	}
	return rec, rows.Err()
}
