package ssync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

// Fingerprint returns an identifier of the registry's schema description:
// "sha256:" and the hex digest of every collection's name and order, its
// columns (names, kind, size, nullability, default, reference and its
// delete rule, attachment)
// and its indexes. Two builds of the same models have the same
// fingerprint; any change to a column or index changes it. Databases
// record it when they open (ss_schema) and clients send it in the
// handshake.
func (r *Registry) Fingerprint() string {
	var b strings.Builder
	for _, c := range r.ordered {
		fmt.Fprintf(&b, "collection %q order %d\n", c.CollectionName(), c.CollectionOrder())
		for _, col := range c.UserColumns() {
			fmt.Fprintf(&b, "column %q wire %q server %q kind %s size %d nullable %t default %#v indexed %t ref %q ondelete %q attachment %t\n",
				col.Name, col.Wire, col.Server, col.Kind, col.Size, col.Nullable, col.Default, col.Indexed, col.Ref, col.OnDelete, col.Attachment)
		}
		for _, ix := range c.UserIndexes() {
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
