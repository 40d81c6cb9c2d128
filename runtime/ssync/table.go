package ssync

import (
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"
)

// Record is the sync metadata every synchronized row carries. Embed it in a
// model struct and put the table tag on it:
//
//	ssync.Record `ssync:"table=ss_tb_note,order=2"`
//
// The repositories generated for the model fill these fields; application code
// reads them but should not set them, except ID before an insert when it wants
// to choose the id itself.
type Record struct {
	// ID identifies the row on every device and on the server.
	ID uuid.UUID
	// CreatedAt is when the row was first inserted, on the device that made it.
	CreatedAt time.Time
	// UpdatedAt is when the row was last changed, on the device that changed it.
	UpdatedAt time.Time
	// DeletedAt is set when the row is deleted; deletes are soft, so a deleted
	// row stays in the table and syncs as a deletion.
	DeletedAt *time.Time
	// SyncID is the user who owns the row.
	SyncID string
}

// Deleted reports whether the row is soft-deleted.
func (r *Record) Deleted() bool { return r.DeletedAt != nil }

// Names of the columns every synchronized table has, on the client and on the
// server. User fields may not take these names.
const (
	ColumnID        = "id"
	ColumnCreatedAt = "created_at"
	ColumnUpdatedAt = "updated_at"
	ColumnDeletedAt = "deleted_at"
	ColumnSyncID    = "ss_sync_id"
)

// Wire names of the metadata every row carries in a change set.
const (
	WireID        = "id"
	WireCreatedAt = "createdAt"
	WireUpdatedAt = "updatedAt"
	WireDeletedAt = "deletedAt"
	WireSyncID    = "syncId"
)

// Column describes one column of a table: its names on the device, in the
// server store and on the wire, and what each database needs to create it
// (its storage kind, size, nullability, default, index and reference).
// Tables list their user columns; [RecordColumns] describes those of
// [Record] the same way.
type Column struct {
	// Name is the column's name in the device's SQLite database.
	Name string
	// Wire is the field's name in the JSON change set.
	Wire string
	// Server is the column's name in the server store when it differs from
	// Name (NETCoreSync-style field-name mapping); empty means Name.
	Server string
	// Kind is how the column's values are stored.
	Kind Kind
	// Size is the width in bits of a KindInt or KindUint column (8, 16, 32
	// or 64) and of a KindFloat column (32 or 64), and the maximum length in
	// characters of a KindText column (0: unbounded). Other kinds take none.
	Size int
	// Nullable is true when the column accepts NULL (a pointer or sql.Null
	// field); other columns are NOT NULL.
	Nullable bool
	// Default is the value the database gives the column when an insert
	// leaves it out; nil means none. It is a string for KindText, KindUUID
	// and KindJSON, a bool for KindBool, an int64 for KindInt and KindUint
	// (or a uint64 for KindUint), and a float64 for KindFloat.
	Default any
	// Indexed is true when one of the table's indexes covers the column
	// (`index` tag, or a foreign key). A database may store an indexed
	// column differently (MySQL indexes a VARCHAR, not a LONGTEXT).
	Indexed bool
	// Ref is the name of the table whose id the column holds when it is a
	// foreign key (`ref=` tag); empty otherwise. Every database declares
	// the key; a runtime that hard-deletes rows (purging tombstones,
	// dropping rows on a resync) must keep parents that live rows still
	// reference.
	Ref string
	// OnDelete says what deleting the referenced row does to the rows
	// whose Ref column holds its id (`ondelete=` after `ref=`); empty is
	// OnDeleteCascade. Servers enforce it in the push that deletes the
	// parent or writes the child, in whichever order pushes arrive.
	OnDelete OnDelete
	// Attachment is true for an attachment column (`ssync:"attachment"`):
	// it holds an [Attachment] as JSON text, whose content syncs as a blob.
	Attachment bool
}

// OnDelete is what deleting a referenced row does to the live rows that
// reference it.
type OnDelete string

// The ondelete= values.
const (
	// OnDeleteCascade deletes the referencing rows too, recursively; a row
	// written under an already deleted parent is deleted as it arrives.
	// The default.
	OnDeleteCascade OnDelete = "cascade"
	// OnDeleteRestrict refuses to delete a row that live rows reference,
	// and refuses a row written under an already deleted parent.
	OnDeleteRestrict OnDelete = "restrict"
	// OnDeleteSetNull clears the reference of the referencing rows (the
	// column must be nullable); a row written under an already deleted
	// parent is written with its reference cleared.
	OnDeleteSetNull OnDelete = "setnull"
)

// Rule returns the column's OnDelete, or OnDeleteCascade when it is empty.
func (c Column) Rule() OnDelete {
	if c.OnDelete == "" {
		return OnDeleteCascade
	}
	return c.OnDelete
}

// ServerName returns the column's name in the server store.
func (c Column) ServerName() string {
	if c.Server != "" {
		return c.Server
	}
	return c.Name
}

// DecodeOptions controls how rows are read from the wire.
type DecodeOptions struct {
	// Strict refuses fields the table does not know. Servers decode strictly;
	// clients skip unknown fields so that a newer server does not break them.
	Strict bool
	// RefuseNUL refuses a row whose text (a text or JSON column, or its
	// syncId) holds NUL (U+0000), which PostgreSQL cannot store: servers
	// refuse it on every store alike. It is checked by the change-set
	// decoder (runtime/wire), after each row is read.
	RefuseNUL bool
	// TrackAbsent makes the change-set decoder (runtime/wire) record, for
	// each row, the user fields its object leaves out (ChangeSet.Absent):
	// the fields an older app's schema lacks. Servers track them, so that
	// such a push never overwrites what it does not know.
	TrackAbsent bool
}

// Table describes one synchronized table of model type T. ssyncgen emits one
// constructor per model returning a Table; every function field is
// straight-line generated code. Its columns and indexes are described, not
// written as SQL: the device and each server store build their DDL from the
// description when they open a database.
type Table[T any] struct {
	// Name is the collection (and table) name from the `table=` tag.
	Name string
	// Order is the foreign-key order from the `order=` tag: parents first.
	// Only a nullable reference inside a cycle of tables (a back
	// reference) names a table of greater order; the runtimes write it
	// once the row it names is written.
	Order int
	// Columns lists the user columns in declaration order.
	Columns []Column
	// Indexes lists the secondary indexes on user columns.
	Indexes []Index
	// Record returns the row's embedded sync metadata.
	Record func(row *T) *Record
	// Values appends the row's user column values, in Columns order, to dst.
	Values func(row *T, dst []any) []any
	// Targets appends scan destinations for the user columns, in Columns
	// order, to dst.
	Targets func(row *T, dst []any) []any
	// Encode writes the row as one JSON object, metadata included.
	Encode func(w *jwriter.Writer, row *T)
	// Decode reads one JSON object into row, metadata included.
	Decode func(l *jlexer.Lexer, row *T, opts DecodeOptions) error
	// Attachments returns the row's attachment fields in Columns order, a
	// nil entry for each field without one; it is nil when the table has no
	// attachment columns.
	Attachments func(row *T) []*Attachment
}

// Collection is the type-erased view of a [Table] that the client and server
// runtimes use. Rows are passed as pointers to the model type, held in an any.
type Collection interface {
	// CollectionName is the collection and table name.
	CollectionName() string
	// CollectionOrder is the foreign-key order: parents first.
	CollectionOrder() int
	// UserColumns lists the user columns in declaration order.
	UserColumns() []Column
	// UserIndexes lists the secondary indexes on user columns.
	UserIndexes() []Index
	// NewRow returns a new zero row (a pointer to the model type).
	NewRow() any
	// RecordOf returns the metadata embedded in row.
	RecordOf(row any) *Record
	// AppendValues appends the user column values of row to dst.
	AppendValues(row any, dst []any) []any
	// AppendTargets appends scan destinations for the user columns of row.
	AppendTargets(row any, dst []any) []any
	// EncodeRow writes row as one JSON object.
	EncodeRow(w *jwriter.Writer, row any)
	// DecodeRow reads one JSON object into row.
	DecodeRow(l *jlexer.Lexer, row any, opts DecodeOptions) error
	// AttachmentsOf returns the attachments row holds (nil entries left
	// out); nil for a table without attachment columns.
	AttachmentsOf(row any) []*Attachment
}

// CollectionName implements [Collection].
func (t *Table[T]) CollectionName() string { return t.Name }

// CollectionOrder implements [Collection].
func (t *Table[T]) CollectionOrder() int { return t.Order }

// UserColumns implements [Collection].
func (t *Table[T]) UserColumns() []Column { return t.Columns }

// UserIndexes implements [Collection].
func (t *Table[T]) UserIndexes() []Index { return t.Indexes }

// NewRow implements [Collection].
func (t *Table[T]) NewRow() any { return new(T) }

// RecordOf implements [Collection].
func (t *Table[T]) RecordOf(row any) *Record { return t.Record(row.(*T)) }

// AppendValues implements [Collection].
func (t *Table[T]) AppendValues(row any, dst []any) []any { return t.Values(row.(*T), dst) }

// AppendTargets implements [Collection].
func (t *Table[T]) AppendTargets(row any, dst []any) []any { return t.Targets(row.(*T), dst) }

// EncodeRow implements [Collection].
func (t *Table[T]) EncodeRow(w *jwriter.Writer, row any) { t.Encode(w, row.(*T)) }

// DecodeRow implements [Collection].
func (t *Table[T]) DecodeRow(l *jlexer.Lexer, row any, opts DecodeOptions) error {
	return t.Decode(l, row.(*T), opts)
}

// AttachmentsOf implements [Collection].
func (t *Table[T]) AttachmentsOf(row any) []*Attachment {
	if t.Attachments == nil {
		return nil
	}
	all := t.Attachments(row.(*T))
	out := all[:0:0]
	for _, a := range all {
		if !a.IsZero() {
			out = append(out, a)
		}
	}
	return out
}
