// Package postgres is the dialect of a PostgreSQL server store. It does not
// import a driver: use github.com/jackc/pgx/v5/stdlib (database/sql driver
// "pgx"), or any driver whose errors carry their SQLSTATE through a
// SQLState method, as pgx's *pgconn.PgError does.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// Dialect returns the PostgreSQL dialect.
//
// Pushes write their rows concurrently and take their version last, from
// the counter row, which they hold locked until they commit; then they stamp
// their rows with it. Version order is therefore commit order, and a pull
// needs no log: PostgreSQL makes a transaction visible to new snapshots
// before it releases its locks, and takes a snapshot atomically, so a
// REPEATABLE READ snapshot that sees counter value N sees every push up to
// N. A pull never waits for a push, and a long push holds nothing back
// until it reaches its last statements (bump, stamp, answer, commit). A push
// that stalls there (the database stops answering) holds back later pushes,
// never pulls; they wait for the counter until their request's context ends
// or the session's lock_timeout passes, and are then refused with an error
// the client retries.
func Dialect() store.Dialect {
	return store.Dialect{
		Name:        "postgres",
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Quote:       sqlddl.Quote,
		ColumnType:  ColumnType,
		// Serializes schema setup between server instances starting at the
		// same time; released at commit.
		Setup:     []string{`SELECT pg_advisory_xact_lock(7170041386023)`},
		ForUpdate: " FOR UPDATE",
		ForShare:  " FOR SHARE",
		PullTx:    &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		// deadlock_detected, serialization_failure, and unique_violation:
		// two pushes created one id at once, and the one that runs again
		// finds the other's row.
		Transient: sqlStateIn("40P01", "40001", "23505"),
		// foreign_key_violation
		ForeignKey: sqlStateIn("23503"),
		Inspect: store.InspectQueries(
			`SELECT table_name, column_name, data_type, is_nullable = 'YES', column_default IS NOT NULL
			FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
			`SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()`),
		// Setup is one transaction, so a key is never left out by a
		// stopped process; one dropped by hand is added again.
		ForeignKeys: store.ForeignKeysQuery(`SELECT cl.relname, a.attname, rf.relname
			FROM pg_constraint c
			JOIN pg_class cl ON cl.oid = c.conrelid
			JOIN pg_class rf ON rf.oid = c.confrelid
			JOIN pg_namespace n ON n.oid = cl.relnamespace
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
			WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND n.nspname = current_schema()`),
		SameType:    sameType,
		DropNotNull: dropNotNull,
		ZeroTime:    "0001-01-01 00:00:00+00",
		// Change notifications reach the other instances at commit.
		Notify: `NOTIFY ` + channel,
		Listen: listen,
		// Releases before the counter stamped rows with transaction ids.
		VersionFloor: `pg_current_xact_id()::text::bigint`,
	}
}

// ColumnType is the PostgreSQL type of a column. PostgreSQL has no
// unsigned integers: an unsigned column takes the next wider type (a uint64
// must fit in a BIGINT).
func ColumnType(c ssync.Column) string {
	switch c.Kind {
	case ssync.KindBool:
		return "BOOLEAN"
	case ssync.KindInt, ssync.KindUint:
		bits := c.Size
		if c.Kind == ssync.KindUint && bits < 64 {
			bits *= 2
		}
		switch {
		case bits <= 16:
			return "SMALLINT"
		case bits <= 32:
			return "INTEGER"
		}
		return "BIGINT"
	case ssync.KindFloat:
		if c.Size == 32 {
			return "REAL"
		}
		return "DOUBLE PRECISION"
	case ssync.KindTime:
		return "TIMESTAMPTZ"
	case ssync.KindBytes:
		return "BYTEA"
	case ssync.KindUUID:
		return "UUID"
	}
	// KindText (of any length), KindJSON.
	return "TEXT"
}

// sameType reports whether data_type, as information_schema spells it
// ("timestamp with time zone"), is the type ColumnType spells
// ("TIMESTAMPTZ").
func sameType(want, have string) bool {
	want = strings.ToLower(want)
	if want == "timestamptz" {
		want = "timestamp with time zone"
	}
	return want == strings.ToLower(have)
}

// sqlStateIn returns a check for errors that carry one of the SQLSTATE
// codes through a SQLState method (pgx's *pgconn.PgError).
func sqlStateIn(codes ...string) func(error) bool {
	return func(err error) bool {
		var e interface{ SQLState() string }
		return errors.As(err, &e) && slices.Contains(codes, e.SQLState())
	}
}

// dropNotNull makes the columns of table nullable (ALTER COLUMN ... DROP
// NOT NULL: no row is rewritten).
func dropNotNull(ctx context.Context, tx store.Execer, table string, columns []string) error {
	for _, c := range columns {
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+sqlddl.Quote(table)+" ALTER COLUMN "+sqlddl.Quote(c)+" DROP NOT NULL"); err != nil {
			return err
		}
	}
	return nil
}

// channel is the NOTIFY channel of pushes (store.Dialect.Notify).
const channel = "ssync_activity"

// listen holds a connection that LISTENs on the channel and calls wake for
// each notification, until ctx ends or the connection fails. The
// connection is then dropped, not returned to the pool (a wait cut by ctx
// leaves it unusable).
func listen(ctx context.Context, db *sql.DB, wake func()) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("%w: the database/sql driver is not pgx's (LISTEN needs it)", store.ErrListenUnsupported)
		}
		if _, err := pc.Conn().Exec(ctx, "LISTEN "+channel); err != nil {
			return errors.Join(err, driver.ErrBadConn)
		}
		// A push that committed before LISTEN took effect sent its
		// notification to no one: look once now.
		wake()
		for {
			if _, err := pc.Conn().WaitForNotification(ctx); err != nil {
				return errors.Join(err, driver.ErrBadConn)
			}
			wake()
		}
	})
}
