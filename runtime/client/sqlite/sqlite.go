// Package sqlite brings in the SQLite driver that client.Open opens device
// databases with: mattn/go-sqlite3, registered with database/sql as
// "sqlite3". The driver uses cgo, so a program that imports this package
// needs a C compiler to build.
//
// Import it, for its side effect, in the program that opens device
// databases:
//
//	import (
//		"github.com/ssync-go/ssync/runtime/client"
//		_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the device database's driver
//	)
//
//	db, err := client.Open(ctx, "device.db", generated.Registry(), client.Options{})
//
// Package client imports no driver itself: generated code uses its
// repository types, and a server that imports the generated package (for
// its registry) would otherwise need cgo even on PostgreSQL or MariaDB.
// Without a registered driver, client.Open returns client.ErrNoDriver.
package sqlite

import _ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"
