// Package sqlddl writes the CREATE statements of a table, from the schema
// description that generated code carries (ssync.Column, ssync.Index), in
// the SQL that SQLite and PostgreSQL share. The device (runtime/client)
// builds its tables with it, and so do the server store dialects that do
// not write their own (runtime/server). Column types are the caller's: each
// database spells them.
package sqlddl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Table is one table to create, its columns named as in the database that
// creates it.
type Table struct {
	// Name is the table's name.
	Name string
	// Columns are the table's columns in order.
	Columns []ssync.Column
	// PrimaryKey names the primary key's columns in order: one is declared
	// on its column, more as a table constraint.
	PrimaryKey []string
	// Indexes are created after the table, in order.
	Indexes []Index
}

// Index is an index of a Table.
type Index struct {
	// Name is the index's name.
	Name string
	// Columns are the indexed columns in order.
	Columns []string
	// Where is the condition of a partial index, in SQL; empty for an index
	// of every row.
	Where string
}

// Quote quotes an identifier in double quotes, as standard SQL does.
func Quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// QuoteSQLite quotes an identifier for SQLite in backticks. SQLite reads a
// double-quoted name that matches no column as a string literal (its
// legacy "DQS" behaviour, on in go-sqlite3's build and not switchable per
// connection), so a missing column would read back as its own name; a
// backtick-quoted name is always an identifier, and a missing column is an
// error.
func QuoteSQLite(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// ColumnDef returns the definition of column c, as in CREATE TABLE and
// ALTER TABLE ... ADD COLUMN: its quoted name, type, NOT NULL, PRIMARY KEY
// when primary, DEFAULT and REFERENCES (checked at commit: DEFERRABLE
// INITIALLY DEFERRED).
func ColumnDef(c ssync.Column, primary bool, quote func(string) string, typ func(ssync.Column) string) string {
	def := quote(c.Name) + " " + typ(c)
	if !c.Nullable {
		def += " NOT NULL"
	}
	if primary {
		def += " PRIMARY KEY"
	}
	if c.Default != nil {
		def += " DEFAULT " + Literal(c.Default)
	}
	if c.Ref != "" {
		def += " REFERENCES " + quote(c.Ref) + " (" + quote(ssync.ColumnID) + ") DEFERRABLE INITIALLY DEFERRED"
	}
	return def
}

// Create returns the statements that create t, each idempotent: CREATE
// TABLE IF NOT EXISTS, then CREATE INDEX IF NOT EXISTS per index.
// Identifiers are quoted with quote and column types spelled by typ. A
// foreign key is declared on its column and checked at commit (DEFERRABLE
// INITIALLY DEFERRED), so that rows applied in one transaction may come in
// any order; rows are never hard-deleted while referenced, so a
// soft-deleted parent still satisfies it.
func Create(t Table, quote func(string) string, typ func(ssync.Column) string) []string {
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		defs[i] = ColumnDef(c, len(t.PrimaryKey) == 1 && c.Name == t.PrimaryKey[0], quote, typ)
	}
	if len(t.PrimaryKey) > 1 {
		defs = append(defs, "PRIMARY KEY ("+QuoteAll(t.PrimaryKey, quote)+")")
	}
	stmts := []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n\t%s\n)", quote(t.Name), strings.Join(defs, ",\n\t"))}
	for _, ix := range t.Indexes {
		stmts = append(stmts, CreateIndex(t.Name, ix, quote))
	}
	return stmts
}

// CreateIndex returns CREATE INDEX IF NOT EXISTS of ix on table.
func CreateIndex(table string, ix Index, quote func(string) string) string {
	stmt := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", quote(ix.Name), quote(table), QuoteAll(ix.Columns, quote))
	if ix.Where != "" {
		stmt += " WHERE " + ix.Where
	}
	return stmt
}

// AddColumn returns ALTER TABLE table ADD COLUMN with c's definition.
func AddColumn(table string, c ssync.Column, quote func(string) string, typ func(ssync.Column) string) string {
	return "ALTER TABLE " + quote(table) + " ADD COLUMN " + ColumnDef(c, false, quote, typ)
}

// QuoteAll quotes names and joins them with ", ".
func QuoteAll(names []string, quote func(string) string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// Literal spells a column default (see ssync.Column.Default) as an SQL
// literal: a string in single quotes, TRUE or FALSE, a number.
func Literal(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case bool:
		if v {
			return "TRUE"
		}
		return "FALSE"
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	// ssync.NewRegistry refuses any other default.
	panic(fmt.Sprintf("sqlddl: default %#v of unsupported type", v))
}

// SQLiteType is the declared type of a column in SQLite, on the device and
// in a server store. go-sqlite3 reads TIMESTAMP columns back as time.Time
// and BOOLEAN columns as bool.
func SQLiteType(c ssync.Column) string {
	switch c.Kind {
	case ssync.KindBool:
		return "BOOLEAN"
	case ssync.KindInt, ssync.KindUint:
		return "INTEGER"
	case ssync.KindFloat:
		return "REAL"
	case ssync.KindTime:
		return "TIMESTAMP"
	case ssync.KindBytes:
		return "BLOB"
	}
	// KindText, KindUUID, KindJSON.
	return "TEXT"
}
