// Package dbopen opens the server store that a -db command-line value
// names, on any of the stores ssync supports:
//
//	notes-server.db, ./data/x.db       SQLite file (created when missing)
//	sqlite:<path>, sqlite:///abs/path  SQLite file
//	postgres://user:pass@host:5432/db?sslmode=disable
//	postgresql://...                   PostgreSQL, through pgx's database/sql driver
//	mysql://user:pass@host:3306/db?params
//	mariadb://...                      MariaDB or MySQL, through go-sql-driver/mysql
//
// The mysql:// URL is turned into the driver's own DSN form
// (user:pass@tcp(host:port)/db?params) with parseTime=true and loc=UTC
// forced, as the server store needs.
package dbopen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "github.com/mattn/go-sqlite3"    // database/sql driver "sqlite3"

	"github.com/ssync-go/ssync/runtime/store"
	smysql "github.com/ssync-go/ssync/runtime/store/mysql"
	"github.com/ssync-go/ssync/runtime/store/postgres"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// PingTimeout bounds how long Open waits for the store to answer.
const PingTimeout = 10 * time.Second

// Supported lists the accepted forms, for usage texts and errors.
const Supported = "a file path, sqlite:<path>, postgres://..., postgresql://..., mysql://user:pass@host:port/db or mariadb://..."

// Target is a parsed -db value: which store, and how to reach it.
type Target struct {
	// Kind is "sqlite", "postgres" or "mysql".
	Kind string
	// Driver is the database/sql driver name: "sqlite3", "pgx" or "mysql".
	Driver string
	// DSN is the driver's data source name. It holds the password, if any:
	// do not log it; log Display.
	DSN string
	// Display names the store in logs and errors, password hidden.
	Display string
	// Dialect is the server store dialect of the store.
	Dialect store.Dialect

	mysql *mysql.Config // set for Kind "mysql"
}

// schemeRE matches a URL scheme prefix. One letter is not a scheme: "C:" is
// a Windows drive.
var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// Parse reads a -db value; it opens nothing.
func Parse(spec string) (Target, error) {
	if strings.TrimSpace(spec) == "" {
		return Target{}, fmt.Errorf("empty store: want %s", Supported)
	}
	m := schemeRE.FindStringSubmatch(spec)
	if m == nil {
		return sqliteTarget(spec)
	}
	scheme := strings.ToLower(m[1])
	rest := spec[len(m[0]):]
	switch scheme {
	case "sqlite", "sqlite3":
		if strings.HasPrefix(rest, "//") {
			// URL form: only sqlite:///absolute/path (no host).
			if !strings.HasPrefix(rest, "///") {
				return Target{}, fmt.Errorf("sqlite store: %s://host/... is not supported: use %s:<path> or %s:///absolute/path", scheme, scheme, scheme)
			}
			rest = rest[2:]
		}
		if rest == "" {
			return Target{}, fmt.Errorf("sqlite store: %s: names no file (want %s:<path>)", scheme, scheme)
		}
		return sqliteTarget(rest)
	case "postgres", "postgresql":
		return postgresTarget(spec, scheme, rest)
	case "mysql", "mariadb":
		return mysqlTarget(spec, scheme, rest)
	}
	return Target{}, fmt.Errorf("unsupported store scheme %q: want %s", scheme+":", Supported)
}

func sqliteTarget(path string) (Target, error) {
	return Target{
		Kind:    "sqlite",
		Driver:  "sqlite3",
		DSN:     ssqlite.DSN(path),
		Display: "sqlite:" + path,
		Dialect: ssqlite.Dialect(),
	}, nil
}

// parseURL parses a store URL without echoing it in errors (it may hold a
// password).
func parseURL(spec, scheme, rest string) (*url.URL, error) {
	if !strings.HasPrefix(rest, "//") {
		return nil, fmt.Errorf("%s store: want a URL, %s://user:password@host:port/database", scheme, scheme)
	}
	u, err := url.Parse(spec)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s store: invalid URL: %v", scheme, err)
	}
	return u, nil
}

func postgresTarget(spec, scheme, rest string) (Target, error) {
	u, err := parseURL(spec, scheme, rest)
	if err != nil {
		return Target{}, err
	}
	return Target{
		Kind:    "postgres",
		Driver:  "pgx",
		DSN:     spec,
		Display: u.Redacted(),
		Dialect: postgres.Dialect(),
	}, nil
}

func mysqlTarget(spec, scheme, rest string) (Target, error) {
	u, err := parseURL(spec, scheme, rest)
	if err != nil {
		return Target{}, err
	}
	if u.Hostname() == "" {
		return Target{}, fmt.Errorf("%s store: URL names no host (want %s://user:password@host:port/database)", scheme, scheme)
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Target{}, fmt.Errorf("%s store: invalid port %q", scheme, port)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if dbName == "" || strings.Contains(dbName, "/") {
		return Target{}, fmt.Errorf("%s store: URL must name one database as its path (want %s://user:password@host:port/database)", scheme, scheme)
	}
	// The driver's parameter syntax is the URL query's; a '/' would be
	// taken for the DSN's database separator, so escape it.
	cfg, err := mysql.ParseDSN("/?" + strings.ReplaceAll(u.RawQuery, "/", "%2F"))
	if err != nil {
		return Target{}, fmt.Errorf("%s store: invalid parameters: %v", scheme, err)
	}
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	cfg.DBName = dbName
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	// The server store reads DATETIME columns as time.Time in UTC.
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	return Target{
		Kind:    "mysql",
		Driver:  "mysql",
		DSN:     cfg.FormatDSN(),
		Display: u.Redacted(),
		Dialect: smysql.Dialect(),
		mysql:   cfg,
	}, nil
}

// Open parses spec, opens the store it names and pings it (at most
// PingTimeout). It returns the handle and the store's dialect, ready for
// store.Open. Errors name the kind of store and show it with the
// password hidden.
func Open(ctx context.Context, spec string) (*sql.DB, store.Dialect, error) {
	t, err := Parse(spec)
	if err != nil {
		return nil, store.Dialect{}, err
	}
	db, err := t.Open(ctx)
	if err != nil {
		return nil, store.Dialect{}, err
	}
	return db, t.Dialect, nil
}

// Pool sizes a store's connection pool.
type Pool struct {
	// MaxOpen bounds the connections open at once (0: no bound).
	MaxOpen int
	// MaxIdle is how many connections stay open between requests. Below
	// the load's concurrency, every burst opens new database sessions.
	MaxIdle int
	// MaxIdleTime closes a connection idle that long (0: never).
	MaxIdleTime time.Duration
}

// DefaultPool suits one server instance: 32 connections, all kept idle
// for 5 minutes, so a busy server reuses its sessions instead of opening
// one per request (database/sql keeps only 2 idle by default). Several
// instances over one PostgreSQL database share its max_connections (100
// by default).
func DefaultPool() Pool { return Pool{MaxOpen: 32, MaxIdle: 32, MaxIdleTime: 5 * time.Minute} }

// Apply sets p on db.
func (p Pool) Apply(db *sql.DB) {
	db.SetMaxOpenConns(p.MaxOpen)
	db.SetMaxIdleConns(p.MaxIdle)
	db.SetConnMaxIdleTime(p.MaxIdleTime)
}

// Open opens and pings the store t names, with DefaultPool's sizes.
func (t Target) Open(ctx context.Context) (*sql.DB, error) {
	var db *sql.DB
	if t.mysql != nil {
		c, err := mysql.NewConnector(t.mysql)
		if err != nil {
			return nil, fmt.Errorf("%s store %s: %w", t.Kind, t.Display, err)
		}
		db = sql.OpenDB(c)
	} else {
		var err error
		if db, err = sql.Open(t.Driver, t.DSN); err != nil {
			return nil, fmt.Errorf("%s store %s: %w", t.Kind, t.Display, err)
		}
	}
	DefaultPool().Apply(db)
	pctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s store %s: cannot connect: %w", t.Kind, t.Display, err)
	}
	return db, nil
}
