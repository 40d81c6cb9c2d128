package ssync

import (
	"errors"
	"fmt"
	"slices"
)

// Kind is how a column's values are stored: one of a few storage kinds that
// each database spells in its own types when it builds its DDL (the device in
// runtime/client, every server store dialect in runtime/server). Generated
// code describes each column by its kind; it carries no SQL.
type Kind uint8

// The storage kinds. The zero Kind is invalid.
const (
	// KindText is a string.
	KindText Kind = iota + 1
	// KindBool is true or false.
	KindBool
	// KindInt is a signed integer of Column.Size bits.
	KindInt
	// KindUint is an unsigned integer of Column.Size bits.
	KindUint
	// KindFloat is a floating-point number of Column.Size bits.
	KindFloat
	// KindTime is an instant, kept in UTC at microsecond precision
	// (see [StoredTime]).
	KindTime
	// KindBytes is a byte string.
	KindBytes
	// KindUUID is a UUID.
	KindUUID
	// KindJSON is JSON text: a type stored as the text its Valuer writes, or
	// an [Attachment].
	KindJSON
)

var kindNames = [...]string{
	KindText: "text", KindBool: "bool", KindInt: "int", KindUint: "uint", KindFloat: "float",
	KindTime: "time", KindBytes: "bytes", KindUUID: "uuid", KindJSON: "json",
}

// String returns the kind's name, e.g. "int" or "json".
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Valid reports whether k is one of the storage kinds.
func (k Kind) Valid() bool { return k >= KindText && k <= KindJSON }

// Index is a secondary index of a table.
type Index struct {
	// Name is the index's name, the same on the device and in every server
	// store. Existing databases know their indexes by it: it never changes
	// for an index that exists.
	Name string
	// Columns are the indexed columns in order, by their device names; a
	// server store indexes the same columns by their server names.
	Columns []string
}

// RecordColumns returns the columns of [Record] that every synchronized
// table has before its user columns, in order: id (the primary key),
// created_at, updated_at, deleted_at and ss_sync_id.
func RecordColumns() []Column {
	return []Column{
		{Name: ColumnID, Wire: WireID, Kind: KindUUID},
		{Name: ColumnCreatedAt, Wire: WireCreatedAt, Kind: KindTime},
		{Name: ColumnUpdatedAt, Wire: WireUpdatedAt, Kind: KindTime},
		{Name: ColumnDeletedAt, Wire: WireDeletedAt, Kind: KindTime, Nullable: true},
		// Indexed: reads and pulls are scoped by owner.
		{Name: ColumnSyncID, Wire: WireSyncID, Kind: KindText, Indexed: true},
	}
}

// IndexName returns the name of the index of table on one user column:
// table_column. ssyncgen names the indexes it declares with it.
func IndexName(table, column string) string { return table + "_" + column }

// Names of the indexes the runtimes add to every synchronized table besides
// the declared ones. ssyncgen checks them for clashes and length.

// DirtyIndexName returns the name of the device's index of pending local
// changes of table.
func DirtyIndexName(table string) string { return table + "_ss_dirty" }

// ScopeIndexName returns the name of the device's index of table by owner,
// for reads scoped to the active user.
func ScopeIndexName(table string) string { return table + "_ss_scope" }

// ContentIndexName returns the name of the device's index of the rows of
// table whose attachment column holds content.
func ContentIndexName(table, column string) string { return table + "_" + column + "_content" }

// VersionIndexName returns the name of the server stores' index of table by
// owner and version, which pulls range over.
func VersionIndexName(table string) string { return table + "_ss_version" }

// checkColumn reports what is wrong with the description of c, or nil: an
// invalid kind, a size the kind does not take, a default of the wrong type.
func checkColumn(c Column) error {
	if c.Name == "" {
		return errors.New("column with an empty name")
	}
	if !c.Kind.Valid() {
		return fmt.Errorf("column %q: invalid kind %d", c.Name, c.Kind)
	}
	switch c.Kind {
	case KindInt, KindUint:
		if !slices.Contains([]int{8, 16, 32, 64}, c.Size) {
			return fmt.Errorf("column %q: %s of %d bits (want 8, 16, 32 or 64)", c.Name, c.Kind, c.Size)
		}
	case KindFloat:
		if c.Size != 32 && c.Size != 64 {
			return fmt.Errorf("column %q: float of %d bits (want 32 or 64)", c.Name, c.Size)
		}
	case KindText:
		if c.Size < 0 {
			return fmt.Errorf("column %q: negative text length %d", c.Name, c.Size)
		}
	default:
		if c.Size != 0 {
			return fmt.Errorf("column %q: kind %s takes no size", c.Name, c.Kind)
		}
	}
	if err := checkOnDelete(c); err != nil {
		return err
	}
	if c.Default == nil {
		return nil
	}
	var ok bool
	switch c.Default.(type) {
	case string:
		ok = c.Kind == KindText || c.Kind == KindUUID || c.Kind == KindJSON
	case bool:
		ok = c.Kind == KindBool
	case int64:
		ok = c.Kind == KindInt || c.Kind == KindUint
	case uint64:
		ok = c.Kind == KindUint
	case float64:
		ok = c.Kind == KindFloat
	}
	if !ok {
		return fmt.Errorf("column %q: default %#v does not suit kind %s", c.Name, c.Default, c.Kind)
	}
	return nil
}

// checkSchema checks the column and index descriptions of c.
// checkOnDelete checks a column's OnDelete: only on a reference, one of
// the rules, and setnull only on a nullable column.
func checkOnDelete(c Column) error {
	switch {
	case c.OnDelete == "":
		return nil
	case c.Ref == "":
		return fmt.Errorf("column %q: OnDelete %q on a column that references no table", c.Name, c.OnDelete)
	case c.OnDelete == OnDeleteSetNull && !c.Nullable:
		return fmt.Errorf("column %q: OnDelete setnull on a column that is not nullable", c.Name)
	case c.OnDelete != OnDeleteCascade && c.OnDelete != OnDeleteRestrict && c.OnDelete != OnDeleteSetNull:
		return fmt.Errorf("column %q: unknown OnDelete %q (want cascade, restrict or setnull)", c.Name, c.OnDelete)
	}
	return nil
}

func checkSchema(c Collection) error {
	cols := c.UserColumns()
	indexed := map[string]bool{}
	for _, ix := range c.UserIndexes() {
		if ix.Name == "" || len(ix.Columns) == 0 {
			return fmt.Errorf("index %q names no column", ix.Name)
		}
		for _, name := range ix.Columns {
			if !slices.ContainsFunc(cols, func(col Column) bool { return col.Name == name }) {
				return fmt.Errorf("index %q: unknown column %q", ix.Name, name)
			}
			indexed[name] = true
		}
	}
	for _, col := range cols {
		if err := checkColumn(col); err != nil {
			return err
		}
		if col.Indexed != indexed[col.Name] {
			return fmt.Errorf("column %q: Indexed is %t but the indexes say %t", col.Name, col.Indexed, indexed[col.Name])
		}
	}
	return nil
}
