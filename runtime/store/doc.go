// Package store keeps the synchronized tables of one registry in a SQL
// database and implements the change-set operations over them: Push,
// Pull, PullStream, tombstone and attachment purging. It knows nothing of
// HTTP; package server serves a Store to devices.
//
// A Store is opened on a database/sql handle with a Dialect. The dialects
// ssync ships each live in their own package, so that a program links only
// the driver it uses:
//
//	sqlite.Dialect()   // runtime/store/sqlite (mattn/go-sqlite3, cgo)
//	postgres.Dialect() // runtime/store/postgres (any driver with SQLSTATE codes, e.g. pgx)
//	mysql.Dialect()    // runtime/store/mysql (go-sql-driver/mysql)
//
// A new database is one more Dialect value: the store builds every table,
// its own and the synchronized ones, from the registry's description
// (ssync.Column) through the dialect, so it needs no regenerated code.
//
// Checkpoints come from a counter that each push takes last and holds to
// its commit, so versions follow commit order and a pull never skips a row
// committed late; several Stores, in several processes, may share one
// database. Conflicts are decided by package conflict, the one policy the
// simulation's model also follows. Errors are typed (ErrForbidden,
// ErrConflict, ErrDanglingReference, ...) and database errors are told
// apart by their codes, never by their text, which never reaches a client.
package store
