// Package storetest gives tests a fresh, empty database on every server
// store ssync supports: a SQLite file, a PostgreSQL schema and a MariaDB
// database, each dropped when the test ends.
//
// PostgreSQL and MariaDB are found through SSYNC_TEST_POSTGRES and
// SSYNC_TEST_MYSQL (defaults: the local services on 127.0.0.1). When one is
// unreachable its tests are skipped with a loud message, unless
// SSYNC_REQUIRE_STORES=1 (CI sets it), in which case they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "github.com/mattn/go-sqlite3"    // database/sql driver "sqlite3"

	"github.com/ssync-go/ssync/runtime/store"
	smysql "github.com/ssync-go/ssync/runtime/store/mysql"
	"github.com/ssync-go/ssync/runtime/store/postgres"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// Default addresses of the local services.
const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQL    = "root@tcp(127.0.0.1:3306)/test"
)

// Backend is one kind of server store.
type Backend struct {
	// Name is "sqlite", "postgres" or "mysql".
	Name string
	// Dialect is the store dialect for it.
	Dialect store.Dialect
	// open returns a fresh database and the DSN that reaches it again.
	open func(t testing.TB) (db *sql.DB, dsn string)
}

// Open returns a fresh, empty database of this backend, closed and dropped
// when the test ends, and a function that opens another handle on the same
// database (a second server instance).
func (b Backend) Open(t testing.TB) (*sql.DB, func() *sql.DB) {
	t.Helper()
	db, dsn := b.open(t)
	again := func() *sql.DB {
		t.Helper()
		db2, err := sql.Open(driverName(b.Name), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db2.Close() })
		return db2
	}
	return db, again
}

func driverName(backend string) string {
	switch backend {
	case "postgres":
		return "pgx"
	case "mysql":
		return "mysql"
	}
	return "sqlite3"
}

func sqliteBackend() Backend {
	return Backend{Name: "sqlite", Dialect: ssqlite.Dialect(), open: openSQLite}
}

// Backends returns every backend reachable from here: SQLite always,
// PostgreSQL and MariaDB when their servers answer.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{sqliteBackend()}
	if pg, ok := reachable(t, "postgres", env("SSYNC_TEST_POSTGRES", DefaultPostgres)); ok {
		out = append(out, Backend{Name: "postgres", Dialect: postgres.Dialect(), open: func(t testing.TB) (*sql.DB, string) { return openPostgres(t, pg) }})
	}
	if my, ok := reachable(t, "mysql", env("SSYNC_TEST_MYSQL", DefaultMySQL)); ok {
		out = append(out, Backend{Name: "mysql", Dialect: smysql.Dialect(), open: func(t testing.TB) (*sql.DB, string) { return openMySQL(t, my) }})
	}
	return out
}

// Run runs f as a subtest on every reachable backend.
func Run(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// reachable pings a service; unreachable means skip (loudly) or, under
// SSYNC_REQUIRE_STORES=1, fail.
func reachable(t testing.TB, name, dsn string) (string, bool) {
	t.Helper()
	db, err := sql.Open(driverName(name), dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		msg := fmt.Sprintf("!!! %s store tests NOT RUN: %s unreachable (%v); start it or set SSYNC_TEST_%s", name, name, err, strings.ToUpper(name))
		if os.Getenv("SSYNC_REQUIRE_STORES") == "1" {
			t.Fatal(msg)
		}
		t.Log(msg)
		fmt.Fprintln(os.Stderr, msg)
		return "", false
	}
	return dsn, true
}

func randomName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

func openSQLite(t testing.TB) (*sql.DB, string) {
	dsn := ssqlite.DSN(filepath.Join(t.TempDir(), "server.db"))
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

func openPostgres(t testing.TB, base string) (*sql.DB, string) {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := randomName("ssync_test_")
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	return db, dsn
}

func openMySQL(t testing.TB, base string) (*sql.DB, string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	name := randomName("ssync_test_")
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	dsn := cfg.FormatDSN()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if _, err := admin.Exec("DROP DATABASE " + name); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	return db, dsn
}
