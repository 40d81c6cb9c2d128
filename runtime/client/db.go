// Package client is the device side of ssync: a local SQLite database whose
// synchronized tables track their own changes, the repositories that
// generated code builds on, and Synchronize, which exchanges changes with a
// server over HTTP.
//
// The package imports no database driver, so that a server importing
// generated code builds without cgo. A program that opens device databases
// imports the driver with package runtime/client/sqlite:
//
//	import _ "github.com/ssync-go/ssync/runtime/client/sqlite"
package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Names of the client-only columns every synchronized table has.
const (
	// columnDirty counts local changes not yet acknowledged by the server;
	// 0 means clean. Acknowledging compares it, so an edit made while a push
	// is in flight stays dirty.
	columnDirty = "ss_dirty"
	// columnKnown is 1 once the server is known to have the row.
	columnKnown = "ss_known"
)

// The client's own tables: settings and checkpoints, pushes in flight (so a
// push cut off by a crash is resent with the same idempotency key), and the
// ids seen during a full resync.
var clientDDL = []string{
	`CREATE TABLE IF NOT EXISTS ss_meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS ss_outbox (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		idem_key TEXT NOT NULL,
		scope TEXT NOT NULL,
		query TEXT NOT NULL,
		body BLOB NOT NULL,
		pending TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS ss_resync (collection TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (collection, id))`,
	// Rows whose pending change predates a column (see absent.go).
	`CREATE TABLE IF NOT EXISTS ss_absent (
		collection TEXT NOT NULL,
		id TEXT NOT NULL,
		col TEXT NOT NULL,
		dirty INTEGER NOT NULL,
		PRIMARY KEY (collection, id, col))`,
	// The schemas the file has held: the registry's fingerprint, the app's
	// schema version, and when a database with it was first and last
	// opened.
	`CREATE TABLE IF NOT EXISTS ss_schema (
		fingerprint TEXT NOT NULL PRIMARY KEY,
		version INTEGER NOT NULL,
		first_opened_at TIMESTAMP NOT NULL,
		last_opened_at TIMESTAMP NOT NULL)`,
	// The kind and size of every column of the synchronized tables, as
	// the last open that changed them recorded them: types alone do not
	// tell every kind apart (see migrate.Recorded).
	`CREATE TABLE IF NOT EXISTS ss_columns (
		tbl TEXT NOT NULL,
		col TEXT NOT NULL,
		kind TEXT NOT NULL,
		size INTEGER NOT NULL,
		PRIMARY KEY (tbl, col))`,
	// The data migrations the file has run (Options.Migrations).
	`CREATE TABLE IF NOT EXISTS ss_migrations (
		version INTEGER NOT NULL PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMP NOT NULL)`,
}

// driverName is the database/sql driver of device databases:
// mattn/go-sqlite3's, which package runtime/client/sqlite registers.
const driverName = "sqlite3"

// ErrNoDriver is returned (wrapped) by Open when no SQLite driver is
// registered: the program does not import runtime/client/sqlite.
var ErrNoDriver = errors.New(`ssync client: no SQLite driver registered (import _ "github.com/ssync-go/ssync/runtime/client/sqlite")`)

// Options configures a client database.
type Options struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil uses time.Now. Tests set it to make
	// timestamps predictable.
	Now func() time.Time
	// BlobDir is the folder that keeps attachment content; empty means
	// "<path>.blobs" beside the database. It is created on first use.
	BlobDir string
	// SchemaVersion is the app's version of its models, recorded in the
	// file with the registry's fingerprint (ss_schema) and sent in the
	// handshake unless SyncOptions.SchemaVersion is set.
	SchemaVersion int
	// Migrations are the app's data migrations, in increasing version
	// order, every one it ever shipped: Open runs those the file has not
	// run (see Migration) and refuses, with an error wrapping
	// ssync.ErrMigrationList, a list that does not fit the file's record.
	Migrations []Migration
}

// DB is a device's local database: the synchronized tables of one registry
// plus the sync state (device id, active user, checkpoints). It is safe for
// concurrent use.
type DB struct {
	sql *sql.DB
	reg *ssync.Registry
	// streamPush is set when no row can reference a row a push sends
	// after it: pushes are then sent while they are read (pushStreamed).
	streamPush bool
	logger     *slog.Logger
	now        func() time.Time
	tables     map[string]*localTable
	// referenced names the tables some column references (ref=): a pulled
	// delete of their rows follows the rules of the local changes under
	// them (cascadePulled).
	referenced map[string]bool

	schemaVersion int         // Options.SchemaVersion
	fingerprint   string      // reg.Fingerprint(), sent in the handshake
	watch         watchers    // subscriptions to committed changes (Subscribe)
	absentRows    atomic.Bool // ss_absent may hold rows (see absent.go)

	syncSem chan struct{} // one Synchronize at a time
	closed  atomic.Bool
	att     attachments // attachment content and the server to fetch it from

	helloMu sync.Mutex
	hello   hello // the last successful handshake (see SyncOptions.HandshakeInterval)

	mu       sync.RWMutex
	deviceID string
	syncID   string
	linked   []string
	active   string // the user new rows belong to: syncID or a linked user
	scope    string // JSON array of syncID and linked, for json_each
}

// Open opens (creating if needed) the SQLite database at path, brings its
// tables to the schema of reg, and loads the device id and active user.
//
// Migrations are automatic and additive, in one transaction: tables the
// file lacks are created, columns it lacks are added (a NOT NULL column
// without a default gets its kind's zero value), and so are indexes; a
// column whose field became nullable, or left the model while NOT NULL
// without a default, loses its NOT NULL constraint. A
// table that gained columns is pulled again from the start at the next
// Synchronize, so that its rows get the server's values; pending local
// changes stay pending. A change that cannot be applied safely (a
// column's type changed, a nullable column became NOT NULL) fails with an error wrapping
// ssync.ErrUnsafeSchemaChange (an *ssync.SchemaChangeError naming the
// table and column), before anything changes. Tables and nullable
// columns no longer in the model are left as they are. Then the data
// migrations of opts.Migrations that the file has not run yet run in the
// same transaction (see Migration); one that fails rolls the whole open
// back, and Open returns an *ssync.MigrationError naming it. The program must
// import the driver (package runtime/client/sqlite); without it Open returns
// an error wrapping ErrNoDriver.
func Open(ctx context.Context, path string, reg *ssync.Registry, opts Options) (*DB, error) {
	if reg == nil {
		return nil, errors.New("ssync client: Open: nil registry")
	}
	if !slices.Contains(sql.Drivers(), driverName) {
		return nil, fmt.Errorf("open %s: %w", path, ErrNoDriver)
	}
	sqldb, err := sql.Open(driverName, DSN(path))
	if err != nil {
		return nil, fmt.Errorf("ssync client: open %s: %w", path, err)
	}
	db := &DB{
		sql:     sqldb,
		reg:     reg,
		logger:  opts.Logger,
		now:     opts.Now,
		tables:  make(map[string]*localTable),
		syncSem: make(chan struct{}, 1),
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	if db.now == nil {
		db.now = time.Now
	}
	if err := checkMigrations(opts.Migrations); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("ssync client: open %s: %w", path, err)
	}
	db.schemaVersion, db.fingerprint = opts.SchemaVersion, reg.Fingerprint()
	db.att.dir = opts.BlobDir
	if db.att.dir == "" {
		db.att.dir = path + ".blobs"
	}
	if err := db.init(ctx, opts.Migrations); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("ssync client: open %s: %w", path, err)
	}
	return db, nil
}

// DSN returns the go-sqlite3 data source name ssync uses for a database file:
// WAL journal, a busy timeout, foreign keys on, and write transactions that
// take the write lock when they begin.
func DSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL&_stmt_cache_size=64"
}

func (db *DB) init(ctx context.Context, migrations []Migration) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range slices.Concat(clientDDL, heldDDL) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create sync tables: %w", err)
		}
	}
	if err := db.migrate(ctx, tx); err != nil {
		return err
	}
	if err := db.recordSchema(ctx, tx, db.schemaVersion); err != nil {
		return err
	}
	if err := db.runMigrations(ctx, tx, migrations); err != nil {
		return err
	}
	if err := db.loadAbsent(ctx, tx); err != nil {
		return err
	}
	db.referenced = map[string]bool{}
	db.streamPush = streamablePush(db.reg)
	for _, c := range db.reg.Collections() {
		db.tables[c.CollectionName()] = newLocalTable(c)
		for _, col := range c.UserColumns() {
			if col.Ref != "" {
				db.referenced[col.Ref] = true
			}
		}
	}
	for _, r := range db.refs() {
		lt := db.tables[r.child]
		lt.refs = append(lt.refs, r)
	}
	meta, err := readMeta(ctx, tx)
	if err != nil {
		return err
	}
	if meta[storedTimesKey] == "" {
		if err := db.normalizeStoredTimes(ctx, tx); err != nil {
			return err
		}
	}
	db.deviceID = meta["device_id"]
	if db.deviceID == "" {
		db.deviceID = uuid.NewString()
		if err := writeMeta(ctx, tx, "device_id", db.deviceID); err != nil {
			return err
		}
	}
	var linked []string
	if s := meta["linked_sync_ids"]; s != "" {
		if err := json.Unmarshal([]byte(s), &linked); err != nil {
			return fmt.Errorf("ss_meta linked_sync_ids: %w", err)
		}
	}
	db.setScope(meta["sync_id"], linked, meta["active_sync_id"])
	return tx.Commit()
}

// Close closes the database; every later call fails with ErrClosed.
func (db *DB) Close() error {
	if db == nil || db.sql == nil {
		return ErrNotInitialized
	}
	db.closed.Store(true)
	return db.sql.Close()
}

// SQL returns the underlying database handle, for reads the repositories do
// not cover. Writes to synchronized tables through it are not tracked and
// will not sync.
func (db *DB) SQL() *sql.DB { return db.sql }

// Registry returns the registry the database was opened with.
func (db *DB) Registry() *ssync.Registry { return db.reg }

// DeviceID returns the id of this database, created once and kept in the
// file (NETCoreSync's knowledge id).
func (db *DB) DeviceID() string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.deviceID
}

// User returns the signed-in user and the users it is linked to.
func (db *DB) User() (syncID string, linked []string) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.syncID, append([]string(nil), db.linked...)
}

// ActiveUser returns the user new rows belong to: the signed-in user, or the
// linked user chosen with SetActiveUser.
func (db *DB) ActiveUser() string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.active
}

// SetActiveUser makes new rows belong to syncID, which must be the signed-in
// user or one of its linked users (NETCoreSync's netCoreSyncSetActiveSyncId);
// otherwise it returns ErrForeignUser. Reads always see the rows of the
// signed-in user and all its linked users.
func (db *DB) SetActiveUser(ctx context.Context, syncID string) error {
	db.mu.RLock()
	user, linked := db.syncID, db.linked
	db.mu.RUnlock()
	if user == "" {
		return ErrNoActiveUser
	}
	if syncID != user && !slices.Contains(linked, syncID) {
		return fmt.Errorf("SetActiveUser %q: %w", syncID, ErrForeignUser)
	}
	if err := writeMeta(ctx, db.sql, "active_sync_id", syncID); err != nil {
		return fmt.Errorf("ssync client: SetActiveUser: %w", err)
	}
	db.mu.Lock()
	db.active = syncID
	db.mu.Unlock()
	return nil
}

// SetUser signs in syncID, with the users it is linked to, and keeps the
// choice in the database. New rows belong to syncID until SetActiveUser picks
// a linked user; reads see the rows of syncID and every linked user.
func (db *DB) SetUser(ctx context.Context, syncID string, linked ...string) error {
	if syncID == "" {
		return errors.New("ssync client: SetUser: empty sync id")
	}
	clean := make([]string, 0, len(linked))
	for _, l := range linked {
		if l != "" && l != syncID {
			clean = append(clean, l)
		}
	}
	enc, err := json.Marshal(clean)
	if err != nil {
		return err
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ssync client: SetUser: %w", err)
	}
	defer tx.Rollback()
	if err := writeMeta(ctx, tx, "sync_id", syncID); err != nil {
		return err
	}
	if err := writeMeta(ctx, tx, "linked_sync_ids", string(enc)); err != nil {
		return err
	}
	if err := writeMeta(ctx, tx, "active_sync_id", syncID); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: SetUser: %w", err)
	}
	db.setScope(syncID, clean, syncID)
	return nil
}

func (db *DB) setScope(syncID string, linked []string, active string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if active == "" || (active != syncID && !slices.Contains(linked, active)) {
		active = syncID
	}
	db.syncID = syncID
	db.linked = linked
	db.active = active
	sorted := slices.Clone(linked)
	slices.Sort(sorted)
	all := append([]string{syncID}, slices.Compact(sorted)...)
	enc, _ := json.Marshal(all) // strings always marshal
	db.scope = string(enc)
}

// activeScope returns the active user (new rows' owner), the JSON scope of
// readable owners, and a check of owners, or ErrNoActiveUser.
func (db *DB) activeScope() (syncID, scope string, allowed func(string) bool, err error) {
	if db == nil || db.sql == nil {
		return "", "", nil, ErrNotInitialized
	}
	if db.closed.Load() {
		return "", "", nil, ErrClosed
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.syncID == "" {
		return "", "", nil, ErrNoActiveUser
	}
	id, linked := db.syncID, db.linked
	allowed = func(s string) bool {
		if s == id {
			return true
		}
		for _, l := range linked {
			if s == l {
				return true
			}
		}
		return false
	}
	return db.active, db.scope, allowed, nil
}

func (db *DB) table(name string) (*localTable, error) {
	t, ok := db.tables[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnregisteredTable, name)
	}
	return t, nil
}

// timestamp returns the current time as stored: UTC, microsecond precision
// (the precision every server store keeps).
func (db *DB) timestamp() time.Time {
	return ssync.StoredTime(db.now())
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func readMeta(ctx context.Context, q queryer) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM ss_meta`)
	if err != nil {
		return nil, fmt.Errorf("read ss_meta: %w", err)
	}
	defer rows.Close()
	m := make(map[string]string)
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read ss_meta: %w", err)
		}
		m[k] = v
	}
	return m, rows.Err()
}

func writeMeta(ctx context.Context, q queryer, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO ss_meta (key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write ss_meta %s: %w", key, err)
	}
	return nil
}

// localTable holds the SQL the client runs against one synchronized table,
// built once from its columns.
type localTable struct {
	coll      ssync.Collection
	selectAll string // SELECT <all columns> FROM t
	insert    string
	update    string
	delete    string
	dirty     string
	// countDirty counts the rows dirty reads.
	countDirty string
	apply      string
	// applyDel applies a pulled delete: args the server's deletedAt (nil
	// from an older server), the device's clock, the id.
	applyDel string
	// applyStamp gives a row the device had deleted already the server's
	// deletedAt: args that time (twice), the id.
	applyStamp string
	// resyncDrop removes clean rows in scope that a full resync did not
	// return: they are gone on the server.
	resyncDrop string
	// keptWhole counts the live known rows in scope with pending changes
	// that a pull left as they were, not merged field by field: all of them
	// when the first arg is true (the sync keeps pending rows whole),
	// else those whose changes are not known field by field.
	keptWhole string
	// fields are the statements of the table's changed fields (fields.go).
	fields fieldStatements
	// refs are the table's references (ref=).
	refs []localRef
}

// nMeta is how many metadata columns (metaValues) come before the user
// columns in the statements of localTable.
const nMeta = 5

// quote quotes an identifier for SQLite (sqlddl.QuoteSQLite): in
// backticks, so that a missing column is an error, never a string.
func quote(name string) string { return sqlddl.QuoteSQLite(name) }

// withColumns spells the device's own columns in a statement written with
// {dirty} and {known} for columnDirty and columnKnown.
func withColumns(stmt string) string {
	return strings.NewReplacer("{dirty}", quote(columnDirty), "{known}", quote(columnKnown)).Replace(stmt)
}

func newLocalTable(c ssync.Collection) *localTable {
	t := quote(c.CollectionName())
	meta := []string{ssync.ColumnID, ssync.ColumnCreatedAt, ssync.ColumnUpdatedAt, ssync.ColumnDeletedAt, ssync.ColumnSyncID}
	var user []string
	for _, col := range c.UserColumns() {
		user = append(user, col.Name)
	}
	all := append(append([]string(nil), meta...), user...)
	q := make([]string, len(all))
	for i, n := range all {
		q[i] = quote(n)
	}
	cols := strings.Join(q, ", ")
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(all)), ", ")

	var set []string
	for _, n := range user {
		set = append(set, quote(n)+" = ?")
	}
	userSet := ""
	if len(set) > 0 {
		userSet = ", " + strings.Join(set, ", ")
	}
	var excluded []string
	for _, n := range all[1:] {
		excluded = append(excluded, quote(n)+" = excluded."+quote(n))
	}
	scope := " AND `ss_sync_id` IN (SELECT value FROM json_each(?))"
	lt := &localTable{
		coll:      c,
		selectAll: "SELECT " + cols + " FROM " + t,
		insert:    "INSERT INTO " + t + " (" + cols + `, {dirty}, {known}) VALUES (` + ph + ", 1, 0)",
		update: "UPDATE " + t + " SET `updated_at` = ?" + userSet +
			", {dirty} = {dirty} + 1 WHERE `id` = ? AND `deleted_at` IS NULL" + scope,
		delete: "UPDATE " + t + " SET `deleted_at` = ?, `updated_at` = ?, {dirty} = {dirty} + 1" +
			" WHERE `id` = ? AND `deleted_at` IS NULL" + scope,
		// The unary + keeps SQLite on the partial index of pending changes
		// instead of the owner index, which would scan every row of the user.
		dirty: "SELECT " + cols + `, {dirty}, {known} FROM ` + t + ` WHERE {dirty} > 0` +
			" AND +`ss_sync_id` IN (SELECT value FROM json_each(?))",
		countDirty: "SELECT COUNT(*) FROM " + t + ` WHERE {dirty} > 0` +
			" AND +`ss_sync_id` IN (SELECT value FROM json_each(?))",
		apply: "INSERT INTO " + t + " (" + cols + `, {dirty}, {known}) VALUES (` + ph + ", 0, 1)" +
			" ON CONFLICT(`id`) DO UPDATE SET " + strings.Join(excluded, ", ") + `, {known} = 1 WHERE ` + t + `.{dirty} = 0`,
		resyncDrop: "DELETE FROM " + t + ` WHERE {dirty} = 0` + scope +
			" AND `id` NOT IN (SELECT id FROM ss_resync WHERE collection = ?)",
		keptWhole: "SELECT COUNT(*) FROM " + t + " WHERE {dirty} > 0 AND {known} = 1 AND `deleted_at` IS NULL AND (? OR NOT EXISTS (SELECT 1 FROM " +
			quote(changedName(c.CollectionName())) + " AS c WHERE c.`id` = " + t + ".`id` AND c." + quote(changedWhole) + " = 0))" + scope,
		applyDel: "UPDATE " + t + " SET `deleted_at` = COALESCE(?, `deleted_at`, ?), {dirty} = 0, {known} = 1" +
			" WHERE `id` = ? AND (`deleted_at` IS NULL OR {dirty} > 0)",
		applyStamp: "UPDATE " + t + " SET `deleted_at` = ? WHERE `id` = ? AND `deleted_at` IS NOT NULL AND `deleted_at` IS NOT ?",
	}
	for _, stmt := range []*string{&lt.insert, &lt.update, &lt.delete, &lt.dirty, &lt.countDirty, &lt.apply, &lt.resyncDrop, &lt.keptWhole, &lt.applyDel} {
		*stmt = withColumns(*stmt)
	}
	lt.fields = newFieldStatements(c)
	return lt
}

// metaValues appends the metadata column values of rec to dst.
func metaValues(rec *ssync.Record, dst []any) []any {
	var deleted any
	if rec.DeletedAt != nil {
		deleted = ssync.StoredTime(*rec.DeletedAt)
	}
	return append(dst, rec.ID.String(), ssync.StoredTime(rec.CreatedAt), ssync.StoredTime(rec.UpdatedAt), deleted, rec.SyncID)
}

// metaTargets appends scan destinations for the metadata columns.
func metaTargets(rec *ssync.Record, dst []any) []any {
	return append(dst, &rec.ID, &rec.CreatedAt, &rec.UpdatedAt, &rec.DeletedAt, &rec.SyncID)
}
