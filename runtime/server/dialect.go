package server

import (
	"database/sql"
	"net/url"
	"strconv"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Dialect is what the store needs to know about one SQL database.
type Dialect struct {
	// Name names the dialect in errors and logs.
	Name string
	// Target selects the generated DDL for the synchronized tables.
	Target ssync.SchemaTarget
	// Placeholder returns the bind parameter for argument n (1-based).
	Placeholder func(n int) string
	// Quote quotes an identifier.
	Quote func(name string) string
	// Setup creates the store's own tables; each statement must be
	// idempotent.
	Setup []string
	// PullTx are the options of a pull's read transaction: it must see one
	// snapshot for all its statements.
	PullTx *sql.TxOptions
	// UpsertDevice records a device's checkpoint: args device, sync id,
	// checkpoint, seen at.
	UpsertDevice string
	// SetCounter sets a named counter: args name, value.
	SetCounter string
	// BeginPush, when set, is the first statement of every push
	// transaction. SQLite needs a write there: a transaction that reads
	// before its first write cannot take the write lock once another
	// writer has committed.
	BeginPush string
	// TxVersion, when set, is an SQL expression for the writing
	// transaction's own version (its transaction id), used with BumpFirst
	// instead of the counter: pushes then never wait for one another.
	// Horizon must go with it.
	TxVersion string
	// Horizon, with TxVersion, is a query for the highest version below
	// every push still running; a pull runs it before taking its snapshot
	// and returns nothing above it, so a push that commits late is never
	// skipped.
	Horizon string
	// Transient reports whether an error aborted a transaction only because
	// of another one (a deadlock, a serialization failure): running it again
	// may succeed.
	Transient func(err error) bool
	// ForeignKey reports whether an error is a foreign-key violation found
	// at commit (the generated keys are checked when the push commits).
	ForeignKey func(err error) bool
	// BumpFirst takes the push's version when the push begins and writes
	// rows with it. Right for a store with one writer at a time (SQLite);
	// elsewhere the version is taken last and stamped on the rows, so that
	// concurrent pushes hold the counter only while they commit.
	BumpFirst bool
	// ClaimKey inserts an idempotency key with an empty answer, doing
	// nothing (and affecting no row) when the user already has the key:
	// args sync id, key, request hash, created at.
	ClaimKey string
}

func quoteDouble(n string) string { return `"` + strings.ReplaceAll(n, `"`, `""`) + `"` }

// SQLite is the dialect of the embedded default store (mattn/go-sqlite3).
// Open the database in WAL mode with a busy timeout, e.g. with
// SQLiteDSN.
func SQLite() Dialect {
	return Dialect{
		Name:        "sqlite",
		Target:      ssync.ServerSQLite,
		Placeholder: func(int) string { return "?" },
		Quote:       quoteDouble,
		Setup: []string{
			`CREATE TABLE IF NOT EXISTS ss_counter (name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL)`,
			`INSERT INTO ss_counter (name, value) VALUES ('global', 0) ON CONFLICT(name) DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS ss_idempotency (
				sync_id TEXT NOT NULL,
				idem_key TEXT NOT NULL,
				request_hash TEXT NOT NULL,
				response TEXT NOT NULL,
				created_at TIMESTAMP NOT NULL,
				PRIMARY KEY (sync_id, idem_key))`,
			`CREATE TABLE IF NOT EXISTS ss_devices (
				device TEXT NOT NULL PRIMARY KEY,
				sync_id TEXT NOT NULL,
				checkpoint INTEGER NOT NULL,
				seen_at TIMESTAMP NOT NULL)`,
			sqliteBlobRefs, sqliteBlobRefsIndex, sqliteBlobHolders,
		},
		// SQLite read transactions see one snapshot from their first read.
		PullTx: nil,
		UpsertDevice: `INSERT INTO ss_devices (device, sync_id, checkpoint, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(device) DO UPDATE SET sync_id = excluded.sync_id, checkpoint = excluded.checkpoint, seen_at = excluded.seen_at`,
		SetCounter: `INSERT INTO ss_counter (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`,
		ClaimKey: `INSERT INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES (?, ?, ?, '', ?)
			ON CONFLICT (sync_id, idem_key) DO NOTHING`,
		BeginPush:  `UPDATE ss_counter SET value = value WHERE name = 'global'`,
		BumpFirst:  true,
		ForeignKey: errorMentions("FOREIGN KEY constraint failed"),
	}
}

// Postgres is the dialect of a PostgreSQL store (github.com/jackc/pgx/v5
// through its database/sql driver, "pgx"). A push's rows carry its
// transaction id as their version; every push holds a shared advisory lock
// (keyed by the schema) while it runs, and a pull, before taking its
// REPEATABLE READ snapshot, finds the oldest transaction id among the pushes
// still running and returns only versions below it. Pushes never wait for one
// another, and only ssync's own pushes on the same schema can hold a pull
// back.
//
// The advisory-lock key is (1397971278, hash of the schema name): other
// advisory locks of the application must not use 1397971278 as their first
// key.
func Postgres() Dialect {
	return Dialect{
		Name:        "postgres",
		Target:      ssync.ServerPostgres,
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Quote:       quoteDouble,
		Setup: []string{
			// Serializes schema setup between server instances starting at
			// the same time; released at commit.
			`SELECT pg_advisory_xact_lock(7170041386023)`,
			`CREATE TABLE IF NOT EXISTS ss_counter (name TEXT NOT NULL PRIMARY KEY, value BIGINT NOT NULL)`,
			`INSERT INTO ss_counter (name, value) VALUES ('global', 0) ON CONFLICT (name) DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS ss_idempotency (
				sync_id TEXT NOT NULL,
				idem_key TEXT NOT NULL,
				request_hash TEXT NOT NULL,
				response TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (sync_id, idem_key))`,
			`CREATE TABLE IF NOT EXISTS ss_devices (
				device TEXT NOT NULL PRIMARY KEY,
				sync_id TEXT NOT NULL,
				checkpoint BIGINT NOT NULL,
				seen_at TIMESTAMPTZ NOT NULL)`,
			postgresBlobRefs, postgresBlobRefsIndex, postgresBlobHolders,
		},
		PullTx:    &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		BeginPush: `SELECT pg_advisory_xact_lock_shared(1397971278, hashtext(current_schema()))`,
		// deadlock_detected, serialization_failure
		Transient: errorMentions("SQLSTATE 40P01", "SQLSTATE 40001"),
		// foreign_key_violation
		ForeignKey: errorMentions("SQLSTATE 23503"),
		BumpFirst:  true,
		TxVersion:  `pg_current_xact_id()::text::bigint`,
		Horizon:    postgresHorizon,
		UpsertDevice: `INSERT INTO ss_devices (device, sync_id, checkpoint, seen_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (device) DO UPDATE SET sync_id = excluded.sync_id, checkpoint = excluded.checkpoint, seen_at = excluded.seen_at`,
		SetCounter: `INSERT INTO ss_counter (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		ClaimKey: `INSERT INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES ($1, $2, $3, '', $4)
			ON CONFLICT (sync_id, idem_key) DO NOTHING`,
	}
}

// MySQL is the dialect of a MariaDB or MySQL store
// (github.com/go-sql-driver/mysql). Open the database with parseTime=true
// and loc=UTC. Pulls run in REPEATABLE READ (one InnoDB snapshot).
func MySQL() Dialect {
	return Dialect{
		Name:        "mysql",
		Target:      ssync.ServerMySQL,
		Placeholder: func(int) string { return "?" },
		Quote:       func(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" },
		Setup: []string{
			"CREATE TABLE IF NOT EXISTS ss_counter (name VARCHAR(64) NOT NULL PRIMARY KEY, value BIGINT NOT NULL) ENGINE=InnoDB",
			"INSERT IGNORE INTO ss_counter (name, value) VALUES ('global', 0)",
			"CREATE TABLE IF NOT EXISTS ss_idempotency (" +
				"sync_id VARCHAR(255) NOT NULL, idem_key VARCHAR(255) NOT NULL, request_hash CHAR(64) NOT NULL, " +
				"response TEXT NOT NULL, created_at DATETIME(6) NOT NULL, PRIMARY KEY (sync_id, idem_key)) " +
				"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			"CREATE TABLE IF NOT EXISTS ss_devices (" +
				"device VARCHAR(64) NOT NULL PRIMARY KEY, sync_id VARCHAR(255) NOT NULL, " +
				"checkpoint BIGINT NOT NULL, seen_at DATETIME(6) NOT NULL) " +
				"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			mysqlBlobRefs, mysqlBlobHolders,
		},
		PullTx: &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		UpsertDevice: "INSERT INTO ss_devices (device, sync_id, checkpoint, seen_at) VALUES (?, ?, ?, ?) " +
			"ON DUPLICATE KEY UPDATE sync_id = VALUES(sync_id), checkpoint = VALUES(checkpoint), seen_at = VALUES(seen_at)",
		SetCounter: "INSERT INTO ss_counter (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)",
		// ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
		Transient: errorMentions("Error 1213", "Error 1205"),
		// ER_NO_REFERENCED_ROW_2
		ForeignKey: errorMentions("Error 1452"),
		ClaimKey:   "INSERT IGNORE INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES (?, ?, ?, '', ?)",
	}
}

// SQLiteDSN returns the go-sqlite3 data source name for a server store file:
// WAL journal (readers never wait for the writer), a busy timeout, foreign
// keys on. Transactions begin deferred, so pulls only read; every push starts
// with a write, so it takes the write lock at once.
func SQLiteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=64"
}

// postgresHorizon is one less than the oldest transaction id among the
// running pushes of this schema (found through their advisory locks and the
// lock every transaction holds on its own id), or than the next transaction
// id when none runs. Lock-view ids are 32-bit: each is widened to the 64-bit
// id nearest the snapshot's xmax (live ids are within 2^31 of one another),
// so that a push that took its id after the snapshot (above xmax) counts as
// newer, not as one from the previous epoch.
const postgresHorizon = `WITH x AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax),
running AS (
	SELECT t.transactionid::text::bigint AS xid
	FROM pg_locks a
	JOIN pg_locks t ON t.pid = a.pid AND t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.granted
	WHERE a.locktype = 'advisory' AND a.granted AND a.classid = 1397971278 AND a.objsubid = 2
		AND a.objid::text::bigint = (hashtext(current_schema())::bigint & 4294967295)
		AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT LEAST(x.xmax, COALESCE(MIN(x.xmax + ((((r.xid - (x.xmax & 4294967295)) + 2147483648) & 4294967295) - 2147483648)), x.xmax)) - 1
FROM x LEFT JOIN running r ON true
GROUP BY x.xmax`

// errorMentions returns a Transient check that looks for any of the codes in
// the error's text (drivers put the database's error code there).
func errorMentions(codes ...string) func(error) bool {
	return func(err error) bool {
		msg := err.Error()
		for _, c := range codes {
			if strings.Contains(msg, c) {
				return true
			}
		}
		return false
	}
}
