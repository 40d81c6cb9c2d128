package client

import (
	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// deviceColumns are the columns the device adds to every synchronized table
// after the user's: the change counter and the known flag.
var deviceColumns = []ssync.Column{
	{Name: columnDirty, Kind: ssync.KindInt, Size: 64, Default: int64(0)},
	{Name: columnKnown, Kind: ssync.KindInt, Size: 64, Default: int64(0)},
}

// tableDDL returns the statements that create the device's table of c from
// its description: the record's columns, the user's and the device's own;
// an index of pending changes, one for reads scoped to the user, the
// declared indexes, and for each attachment column an index of the rows
// that hold content (each sync checks only those for content the device
// lacks). Every statement is idempotent.
func tableDDL(c ssync.Collection) []string {
	name := c.CollectionName()
	q := sqlddl.Quote
	cols := append(append(ssync.RecordColumns(), c.UserColumns()...), deviceColumns...)
	indexes := []sqlddl.Index{
		{Name: ssync.DirtyIndexName(name), Columns: []string{columnDirty}, Where: q(columnDirty) + " > 0"},
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
	return sqlddl.Create(sqlddl.Table{Name: name, Columns: cols, PrimaryKey: []string{ssync.ColumnID}, Indexes: indexes},
		q, sqlddl.SQLiteType)
}

// attachmentPresent is the SQL condition that an attachment column holds
// content. Queries for such rows use the same text, so that SQLite picks
// the partial index it matches.
func attachmentPresent(column string) string {
	c := sqlddl.Quote(column)
	return c + " IS NOT NULL AND " + c + " <> 'null'"
}
