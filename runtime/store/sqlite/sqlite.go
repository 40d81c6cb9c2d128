// Package sqlite is the dialect of the embedded default server store,
// SQLite through github.com/mattn/go-sqlite3 (cgo), which it imports and
// registers as database/sql driver "sqlite3".
package sqlite

import (
	"context"
	"errors"
	"net/url"

	"github.com/mattn/go-sqlite3"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/store"
)

// Dialect returns the SQLite dialect. Open the database with DSN: WAL mode,
// a busy timeout, foreign keys on.
//
// SQLite has one writer at a time: every push begins with a write, takes
// its version when it begins and holds the write lock to its commit, so
// versions follow commit order; a pull reads the counter inside its own
// snapshot.
func Dialect() store.Dialect {
	return store.Dialect{
		Name:        "sqlite",
		Placeholder: func(int) string { return "?" },
		// Backticks: SQLite reads a double-quoted name that matches no
		// column as a string.
		Quote: sqlddl.QuoteSQLite,
		// The device's types (go-sqlite3 reads TIMESTAMP columns back as
		// time.Time and BOOLEAN columns as bool).
		ColumnType: sqlddl.SQLiteType,
		// A read transaction sees one snapshot from its first read.
		PullTx:     nil,
		SetupBegin: "BEGIN IMMEDIATE",
		BeginPush:  `UPDATE ss_counter SET value = value WHERE name = 'global'`,
		BumpFirst:  true,
		Inspect:    inspect,
		// The CREATE TABLE text rewritten without the constraint, in the
		// setup transaction (see migrate.RelaxSQLite).
		DropNotNull: func(ctx context.Context, tx store.Execer, table string, columns []string) error {
			return migrate.RelaxSQLite(ctx, tx, table, columns)
		},
		ZeroTime: migrate.SQLiteZeroTime,
		// REFERENCES may name a table created later: keys are checked
		// when rows are written.
		ForwardReferences: true,
		ForeignKey: func(err error) bool {
			var e sqlite3.Error
			return errors.As(err, &e) && e.ExtendedCode == sqlite3.ErrConstraintForeignKey
		},
	}
}

// DSN returns the go-sqlite3 data source name for a server store file:
// WAL journal (readers never wait for the writer), a busy timeout, foreign
// keys on. Transactions begin deferred, so pulls only read; every push
// starts with a write, so it takes the write lock at once.
func DSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=64"
}

// inspect reads every table of the database (PRAGMA table_info and
// index_list).
func inspect(ctx context.Context, q store.Queryer) ([]store.ExistingTable, error) {
	rows, err := q.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	schema, err := migrate.InspectSQLite(ctx, q, names)
	if err != nil {
		return nil, err
	}
	var out []store.ExistingTable
	for _, t := range schema {
		et := store.ExistingTable{Name: t.Name, Indexes: t.Indexes}
		for _, c := range t.Columns {
			et.Columns = append(et.Columns, store.ExistingColumn(c))
		}
		out = append(out, et)
	}
	return out, nil
}
