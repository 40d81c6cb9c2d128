package ssync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnsafeSchemaChange is wrapped by the error of a database that cannot
// be brought to the registry's schema by additive changes alone: a
// column's type changed, a nullable column became NOT NULL, and the like.
// client.Open and store.Open return it (as a *SchemaChangeError) before
// changing anything.
var ErrUnsafeSchemaChange = errors.New("schema change that cannot be applied safely")

// SchemaChangeError names a change between a database's tables and the
// registry that migrations at open do not apply, and what to do about it.
// It matches ErrUnsafeSchemaChange with errors.Is.
type SchemaChangeError struct {
	// Database says which database: "device" or a store dialect's name.
	Database string
	// Table and Column name the column (Column is empty for a change of
	// the whole table).
	Table, Column string
	// Problem says what differs, e.g. "type INTEGER in the database, TEXT
	// in the model".
	Problem string
	// Fix says what to do.
	Fix string
}

// Error says which database, table and column, what differs and what to
// do.
func (e *SchemaChangeError) Error() string {
	where := fmt.Sprintf("table %q", e.Table)
	if e.Column != "" {
		where += fmt.Sprintf(" column %q", e.Column)
	}
	return fmt.Sprintf("%s database: %s: %v: %s; %s", e.Database, where, ErrUnsafeSchemaChange, e.Problem, e.Fix)
}

// Unwrap returns ErrUnsafeSchemaChange.
func (e *SchemaChangeError) Unwrap() error { return ErrUnsafeSchemaChange }

// TableSchema is the schema description of one collection, as Fingerprint
// reads it: what a registry's collection says of its table, without its
// rows' functions. ssyncgen builds the same description from the models to
// compute the fingerprint it emits.
type TableSchema struct {
	// Name is the collection (and table) name.
	Name string
	// Order is the foreign-key order: parents first.
	Order int
	// Columns are the user columns in declaration order.
	Columns []Column
	// Indexes are the secondary indexes on user columns.
	Indexes []Index
}

// Schema returns the schema description of every collection, in the
// registry's order (parents first).
func (r *Registry) Schema() []TableSchema {
	out := make([]TableSchema, len(r.ordered))
	for i, c := range r.ordered {
		out[i] = TableSchema{Name: c.CollectionName(), Order: c.CollectionOrder(), Columns: c.UserColumns(), Indexes: c.UserIndexes()}
	}
	return out
}

// Fingerprint returns an identifier of the registry's schema description:
// SchemaFingerprint of Schema. Two builds of the same models have the same
// fingerprint; any change to a column or index changes it. Databases
// record it when they open (ss_schema) and clients send it in the
// handshake; ssyncgen emits it as the constant SchemaFingerprint.
func (r *Registry) Fingerprint() string { return SchemaFingerprint(r.Schema()) }

// SchemaFingerprint returns "sha256:" and the hex digest of every table's
// name and order, its columns (names, kind, size, nullability, default,
// reference and its delete rule, attachment) and its indexes, tables
// taken in a registry's order (by order, then name) whatever the order of
// tables.
func SchemaFingerprint(tables []TableSchema) string {
	sorted := make([]TableSchema, len(tables))
	copy(sorted, tables)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Order != sorted[j].Order {
			return sorted[i].Order < sorted[j].Order
		}
		return sorted[i].Name < sorted[j].Name
	})
	var b strings.Builder
	for _, t := range sorted {
		fmt.Fprintf(&b, "collection %q order %d\n", t.Name, t.Order)
		for _, col := range t.Columns {
			fmt.Fprintf(&b, "column %q wire %q server %q kind %s size %d nullable %t default %#v indexed %t ref %q ondelete %q attachment %t\n",
				col.Name, col.Wire, col.Server, col.Kind, col.Size, col.Nullable, col.Default, col.Indexed, col.Ref, col.OnDelete, col.Attachment)
		}
		for _, ix := range t.Indexes {
			fmt.Fprintf(&b, "index %q on %q\n", ix.Name, ix.Columns)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ErrMigrationList is wrapped by the error of a list of data migrations
// that client.Open or store.Open refuses before running any: versions out
// of order or repeated, a migration without a name, or a list that does
// not fit what the database recorded (a migration it ran that the list
// lacks or names differently, or a new one below one it ran).
var ErrMigrationList = errors.New("data migrations do not fit")

// MigrationError is the error of a data migration that failed at open:
// its transaction was rolled back and the database is not opened. It
// unwraps to the migration's own error.
type MigrationError struct {
	// Database says which database: "device" or a store dialect's name.
	Database string
	// Version and Name name the migration.
	Version int
	Name    string
	// Err is what the migration (or its record) returned.
	Err error
}

// Error names the database and the migration, then its error.
func (e *MigrationError) Error() string {
	return fmt.Sprintf("%s database: data migration %d %q failed (rolled back): %v", e.Database, e.Version, e.Name, e.Err)
}

// Unwrap returns the migration's error.
func (e *MigrationError) Unwrap() error { return e.Err }
