// Package sqlite is the dialect of the embedded default server store,
// SQLite through github.com/mattn/go-sqlite3 (cgo), which it imports and
// registers as database/sql driver "sqlite3".
package sqlite

import (
	"errors"
	"net/url"

	"github.com/mattn/go-sqlite3"

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
		Quote:       sqlddl.Quote,
		// The device's types (go-sqlite3 reads TIMESTAMP columns back as
		// time.Time and BOOLEAN columns as bool).
		ColumnType: sqlddl.SQLiteType,
		// A read transaction sees one snapshot from its first read.
		PullTx:     nil,
		SetupBegin: "BEGIN IMMEDIATE",
		BeginPush:  `UPDATE ss_counter SET value = value WHERE name = 'global'`,
		BumpFirst:  true,
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
