package server

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Dialect is what the store needs to know about one SQL database.
type Dialect struct {
	// Name names the dialect in errors and logs.
	Name string
	// Placeholder returns the bind parameter for argument n (1-based).
	Placeholder func(n int) string
	// Quote quotes an identifier.
	Quote func(name string) string
	// ColumnType spells the type of a column of a synchronized table from
	// its description: its storage kind and size, and whether it is
	// indexed.
	ColumnType func(c ssync.Column) string
	// CreateTable, when set, returns the statements that create a
	// synchronized table; each must be idempotent, since every server
	// instance runs them at start. Nil writes the SQL that SQLite and
	// PostgreSQL share: CREATE TABLE IF NOT EXISTS with Quote and
	// ColumnType, each foreign key on its column and checked at commit
	// (DEFERRABLE INITIALLY DEFERRED), then CREATE INDEX IF NOT EXISTS per
	// index.
	CreateTable func(t TableDef) []string
	// Setup creates the store's own tables; each statement must be
	// idempotent.
	Setup []string
	// PullTx are the options of a pull's read transaction: it must see one
	// snapshot for all its statements.
	PullTx *sql.TxOptions
	// UpsertDevice records the checkpoint of a user's device in
	// ss_device_seen, keyed by (sync id, device) so that one user's
	// requests never touch another's records: args device, sync id,
	// checkpoint, seen at. (ss_devices, keyed by the device alone, is
	// dropped: devices are recorded again on their next pull.)
	UpsertDevice string
	// SetCounter sets a named counter: args name, value.
	SetCounter string
	// HoldBlob, when set, records (or refreshes) that a user has a blob's
	// content: args hash, sync id, seen at. Empty uses INSERT ... ON
	// CONFLICT (hash, sync_id) DO UPDATE.
	HoldBlob string
	// SetupBegin, when set, starts OpenStore's setup transaction on one
	// connection instead of database/sql's BEGIN. SQLite needs "BEGIN
	// IMMEDIATE": a deferred transaction that reads a table before creating
	// another cannot take the write lock once another process has written,
	// and fails at once instead of waiting out the busy timeout.
	SetupBegin string
	// BeginPush, when set, is the first statement of every push
	// transaction. SQLite needs a write there: a transaction that reads
	// before its first write cannot take the write lock once another
	// writer has committed.
	BeginPush string
	// NextVersion bumps the counter in tx and returns its new value, in one
	// round trip: the push holds the counter from here to its commit.
	NextVersion func(ctx context.Context, tx *sql.Tx) (uint64, error)
	// VersionLog makes every push record its version in ss_versions and
	// every pull prove its horizon from that log inside its snapshot: the
	// pull serves versions only up to the first one its snapshot does not
	// hold. Needed where a snapshot may show a transaction's commit without
	// the commit of one that released the counter to it (InnoDB read views
	// are assembled without one lock over the list of running
	// transactions; on MariaDB 10.11 a pull saw push N+1's counter without
	// push N's rows). Where one snapshot sees every transaction that
	// committed before the newest one it sees (SQLite, PostgreSQL), the
	// counter read in the snapshot is the horizon.
	VersionLog bool
	// VersionFloor, when set, is an SQL expression for a version above
	// every checkpoint an older release of ssync may have handed out on
	// this database (PostgreSQL stamped transaction ids). OpenStore raises
	// the counter to it once, on a store whose tables already hold rows.
	VersionFloor string
	// Transient reports whether an error aborted a transaction only because
	// of another one (a deadlock, a serialization failure): running it again
	// may succeed.
	Transient func(err error) bool
	// ForeignKey reports whether an error is a foreign-key violation found
	// at commit (the keys are checked when the push commits).
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

func quoteDouble(n string) string { return sqlddl.Quote(n) }

// TableDef is a synchronized table as a server store creates it, built at
// run time from the collection's description (ssync.Column, ssync.Index):
// adding a dialect needs no regenerated code.
type TableDef struct {
	// Name is the table's (and collection's) name.
	Name string
	// Columns are the record's columns (ssync.RecordColumns), the user's
	// by their server names, then the store's own: ss_version,
	// ss_created_version, ss_origin and ss_writer.
	Columns []ssync.Column
	// PrimaryKey names the primary key column, id.
	PrimaryKey string
	// Indexes are the index by owner and version that pulls range over,
	// then the declared indexes, on server column names.
	Indexes []ssync.Index
}

// storeColumns are the columns a server store adds to every synchronized
// table after the user's (see the column constants in store.go).
var storeColumns = []ssync.Column{
	{Name: columnVersion, Kind: ssync.KindInt, Size: 64},
	{Name: columnCreatedVersion, Kind: ssync.KindInt, Size: 64},
	{Name: columnOrigin, Kind: ssync.KindText, Size: 64, Default: ""},
	{Name: columnWriter, Kind: ssync.KindText, Size: 64, Default: ""},
}

// tableDef describes the server store's table of c.
func tableDef(c ssync.Collection) TableDef {
	name := c.CollectionName()
	user := c.UserColumns()
	server := make(map[string]string, len(user))
	cols := ssync.RecordColumns()
	for _, col := range user {
		server[col.Name] = col.ServerName()
		col.Name, col.Server = col.ServerName(), ""
		cols = append(cols, col)
	}
	cols = append(cols, storeColumns...)
	indexes := []ssync.Index{{Name: ssync.VersionIndexName(name), Columns: []string{ssync.ColumnSyncID, columnVersion}}}
	for _, ix := range c.UserIndexes() {
		on := make([]string, len(ix.Columns))
		for i, n := range ix.Columns {
			on[i] = server[n]
		}
		indexes = append(indexes, ssync.Index{Name: ix.Name, Columns: on})
	}
	return TableDef{Name: name, Columns: cols, PrimaryKey: ssync.ColumnID, Indexes: indexes}
}

// DDL returns the statements that create the store's table of collection c
// in this dialect, as OpenStore runs them.
func (d Dialect) DDL(c ssync.Collection) []string {
	t := tableDef(c)
	if d.CreateTable != nil {
		return d.CreateTable(t)
	}
	indexes := make([]sqlddl.Index, len(t.Indexes))
	for i, ix := range t.Indexes {
		indexes[i] = sqlddl.Index{Name: ix.Name, Columns: ix.Columns}
	}
	return sqlddl.Create(sqlddl.Table{Name: t.Name, Columns: t.Columns, PrimaryKey: t.PrimaryKey, Indexes: indexes},
		d.Quote, d.ColumnType)
}

// SQLite is the dialect of the embedded default store (mattn/go-sqlite3).
// Open the database in WAL mode with a busy timeout, e.g. with
// SQLiteDSN.
func SQLite() Dialect {
	return Dialect{
		Name:        "sqlite",
		Placeholder: func(int) string { return "?" },
		Quote:       quoteDouble,
		// The device's types (go-sqlite3 reads TIMESTAMP columns back as
		// time.Time and BOOLEAN columns as bool).
		ColumnType: sqlddl.SQLiteType,
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
			`DROP TABLE IF EXISTS ss_devices`,
			`CREATE TABLE IF NOT EXISTS ss_device_seen (
				sync_id TEXT NOT NULL,
				device TEXT NOT NULL,
				checkpoint INTEGER NOT NULL,
				seen_at TIMESTAMP NOT NULL,
				PRIMARY KEY (sync_id, device))`,
			sqliteBlobRefs, sqliteBlobRefsIndex, sqliteBlobHolders,
		},
		// SQLite read transactions see one snapshot from their first read.
		PullTx: nil,
		UpsertDevice: `INSERT INTO ss_device_seen (device, sync_id, checkpoint, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(sync_id, device) DO UPDATE SET checkpoint = excluded.checkpoint, seen_at = excluded.seen_at`,
		SetCounter: `INSERT INTO ss_counter (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`,
		ClaimKey: `INSERT INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES (?, ?, ?, '', ?)
			ON CONFLICT (sync_id, idem_key) DO NOTHING`,
		SetupBegin:  "BEGIN IMMEDIATE",
		NextVersion: bumpReturning,
		BeginPush:   `UPDATE ss_counter SET value = value WHERE name = 'global'`,
		BumpFirst:   true,
		// The store does not import the SQLite driver (cgo) to read its
		// error codes, so it matches SQLite's fixed message.
		ForeignKey: errorMentions("FOREIGN KEY constraint failed"),
	}
}

// Postgres is the dialect of a PostgreSQL store (github.com/jackc/pgx/v5
// through its database/sql driver, "pgx").
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
func Postgres() Dialect {
	return Dialect{
		Name:        "postgres",
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Quote:       quoteDouble,
		ColumnType:  postgresType,
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
			`DROP TABLE IF EXISTS ss_devices`,
			`CREATE TABLE IF NOT EXISTS ss_device_seen (
				sync_id TEXT NOT NULL,
				device TEXT NOT NULL,
				checkpoint BIGINT NOT NULL,
				seen_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (sync_id, device))`,
			postgresBlobRefs, postgresBlobRefsIndex, postgresBlobHolders,
		},
		PullTx: &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		// deadlock_detected, serialization_failure, and unique_violation:
		// two pushes created one id at once, and the one that runs again
		// finds the other's row.
		Transient: sqlStateIn("40P01", "40001", "23505"),
		// foreign_key_violation
		ForeignKey:   sqlStateIn("23503"),
		VersionFloor: `pg_current_xact_id()::text::bigint`,
		NextVersion:  bumpReturning,
		UpsertDevice: `INSERT INTO ss_device_seen (device, sync_id, checkpoint, seen_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sync_id, device) DO UPDATE SET checkpoint = excluded.checkpoint, seen_at = excluded.seen_at`,
		SetCounter: `INSERT INTO ss_counter (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		ClaimKey: `INSERT INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES ($1, $2, $3, '', $4)
			ON CONFLICT (sync_id, idem_key) DO NOTHING`,
	}
}

// MySQL is the dialect of a MariaDB or MySQL store
// (github.com/go-sql-driver/mysql). Open the database with parseTime=true
// and loc=UTC.
//
// Pushes take their version last from the counter row, as on PostgreSQL,
// and also record it in ss_versions. Pulls run in REPEATABLE READ (one
// InnoDB snapshot), but an InnoDB snapshot can show push N+1 without push N
// although N committed first (its read view is not taken atomically), so a
// pull does not trust the counter: it serves versions only up to the first
// one missing from ss_versions in its own snapshot (see
// Dialect.VersionLog). A snapshot that holds a push's log row holds all of
// that push's rows, because both are one transaction.
func MySQL() Dialect {
	return Dialect{
		Name:        "mysql",
		Placeholder: func(int) string { return "?" },
		Quote:       quoteMySQL,
		ColumnType:  mysqlType,
		CreateTable: mysqlCreateTable,
		Setup: []string{
			"CREATE TABLE IF NOT EXISTS ss_counter (name VARCHAR(64) NOT NULL PRIMARY KEY, value BIGINT NOT NULL) ENGINE=InnoDB",
			"INSERT IGNORE INTO ss_counter (name, value) VALUES ('global', 0)",
			"CREATE TABLE IF NOT EXISTS ss_idempotency (" +
				"sync_id VARCHAR(255) NOT NULL, idem_key VARCHAR(255) NOT NULL, request_hash CHAR(64) NOT NULL, " +
				"response TEXT NOT NULL, created_at DATETIME(6) NOT NULL, PRIMARY KEY (sync_id, idem_key)) " +
				"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			"DROP TABLE IF EXISTS ss_devices",
			"CREATE TABLE IF NOT EXISTS ss_device_seen (" +
				"sync_id VARCHAR(255) NOT NULL, device VARCHAR(64) NOT NULL, " +
				"checkpoint BIGINT NOT NULL, seen_at DATETIME(6) NOT NULL, PRIMARY KEY (sync_id, device)) " +
				"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			mysqlBlobRefs, mysqlBlobHolders,
			"CREATE TABLE IF NOT EXISTS ss_versions (version BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB",
			// Versions up to the floor are proven committed; the log keeps
			// those above it. A store from before the log starts at its counter.
			"INSERT IGNORE INTO ss_counter (name, value) SELECT 'log_floor', value FROM ss_counter WHERE name = 'global'",
		},
		VersionLog: true,
		// No UPDATE ... RETURNING: LAST_INSERT_ID(expr) hands the value
		// back in the statement's answer.
		NextVersion: func(ctx context.Context, tx *sql.Tx) (uint64, error) {
			res, err := tx.ExecContext(ctx, "UPDATE ss_counter SET value = LAST_INSERT_ID(value + 1) WHERE name = 'global'")
			if err != nil {
				return 0, err
			}
			v, err := res.LastInsertId()
			return uint64(v), err
		},
		PullTx: &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		UpsertDevice: "INSERT INTO ss_device_seen (device, sync_id, checkpoint, seen_at) VALUES (?, ?, ?, ?) " +
			"ON DUPLICATE KEY UPDATE checkpoint = VALUES(checkpoint), seen_at = VALUES(seen_at)",
		SetCounter: "INSERT INTO ss_counter (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)",
		HoldBlob:   "INSERT INTO ss_blob_holders (hash, sync_id, seen_at) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE seen_at = VALUES(seen_at)",
		// ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, and ER_DUP_ENTRY: two
		// pushes created one id at once (see Postgres).
		Transient: mysqlErrorIn(1213, 1205, 1062),
		// ER_NO_REFERENCED_ROW_2
		ForeignKey: mysqlErrorIn(1452),
		ClaimKey:   "INSERT IGNORE INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES (?, ?, ?, '', ?)",
	}
}

// postgresType is the PostgreSQL type of a column. PostgreSQL has no
// unsigned integers: an unsigned column takes the next wider type (a uint64
// must fit in a BIGINT).
func postgresType(c ssync.Column) string {
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

func quoteMySQL(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }

// mysqlType is the MariaDB/MySQL type of a column. Times are DATETIME(6) in
// UTC (open the database with parseTime=true and loc=UTC). An indexed string
// is a VARCHAR(255): InnoDB cannot index a whole LONGTEXT.
func mysqlType(c ssync.Column) string {
	switch c.Kind {
	case ssync.KindText:
		switch {
		case c.Size > 0:
			return "VARCHAR(" + strconv.Itoa(c.Size) + ")"
		case c.Indexed:
			return "VARCHAR(255)"
		}
		return "LONGTEXT"
	case ssync.KindBool:
		return "BOOLEAN"
	case ssync.KindInt, ssync.KindUint:
		t := map[int]string{8: "TINYINT", 16: "SMALLINT", 32: "INT"}[c.Size]
		if t == "" {
			t = "BIGINT"
		}
		if c.Kind == ssync.KindUint {
			t += " UNSIGNED"
		}
		return t
	case ssync.KindFloat:
		if c.Size == 32 {
			return "FLOAT"
		}
		return "DOUBLE"
	case ssync.KindTime:
		return "DATETIME(6)"
	case ssync.KindBytes:
		return "LONGBLOB"
	case ssync.KindUUID:
		return "CHAR(36)"
	}
	// KindJSON.
	return "LONGTEXT"
}

// mysqlCreateTable writes one CREATE TABLE (InnoDB, utf8mb4, binary
// collation) with the indexes and foreign keys inside it. MySQL ignores
// REFERENCES written on a column, so the keys are table constraints; they
// are checked at once (InnoDB has no deferred constraints), and pushes apply
// parents first.
func mysqlCreateTable(t TableDef) []string {
	q := quoteMySQL
	var defs []string
	for _, c := range t.Columns {
		def := q(c.Name) + " " + mysqlType(c)
		if c.Nullable {
			def += " NULL"
		} else {
			def += " NOT NULL"
		}
		if c.Name == t.PrimaryKey {
			def += " PRIMARY KEY"
		}
		if c.Default != nil {
			def += " DEFAULT " + mysqlLiteral(c.Default)
		}
		defs = append(defs, def)
	}
	for _, ix := range t.Indexes {
		defs = append(defs, "INDEX "+q(ix.Name)+" ("+sqlddl.QuoteAll(ix.Columns, q)+")")
	}
	for _, c := range t.Columns {
		if c.Ref != "" {
			defs = append(defs, "FOREIGN KEY ("+q(c.Name)+") REFERENCES "+q(c.Ref)+" ("+q(ssync.ColumnID)+")")
		}
	}
	return []string{"CREATE TABLE IF NOT EXISTS " + q(t.Name) + " (\n\t" + strings.Join(defs, ",\n\t") +
		"\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"}
}

// mysqlLiteral is sqlddl.Literal with backslashes escaped, which MySQL
// reads as escapes in a string.
func mysqlLiteral(v any) string {
	if s, ok := v.(string); ok {
		v = strings.ReplaceAll(s, `\`, `\\`)
	}
	return sqlddl.Literal(v)
}

// SQLiteDSN returns the go-sqlite3 data source name for a server store file:
// WAL journal (readers never wait for the writer), a busy timeout, foreign
// keys on. Transactions begin deferred, so pulls only read; every push starts
// with a write, so it takes the write lock at once.
func SQLiteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=64"
}

// bumpReturning is NextVersion for databases with UPDATE ... RETURNING.
func bumpReturning(ctx context.Context, tx *sql.Tx) (uint64, error) {
	var v uint64
	err := tx.QueryRowContext(ctx, "UPDATE ss_counter SET value = value + 1 WHERE name = 'global' RETURNING value").Scan(&v)
	return v, err
}

// sqlStateIn returns a check for errors that carry one of the SQLSTATE
// codes, as PostgreSQL drivers' errors do through a SQLState method
// (pgx's *pgconn.PgError).
func sqlStateIn(codes ...string) func(error) bool {
	return func(err error) bool {
		var e interface{ SQLState() string }
		return errors.As(err, &e) && slices.Contains(codes, e.SQLState())
	}
}

// mysqlErrorIn returns a check for MariaDB/MySQL server errors with one of
// the numbers.
func mysqlErrorIn(numbers ...uint16) func(error) bool {
	return func(err error) bool {
		var e *mysql.MySQLError
		return errors.As(err, &e) && slices.Contains(numbers, e.Number)
	}
}

// errorMentions returns a check that looks for any of the texts in the
// error's message.
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
