package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Names of the server-only columns every synchronized table has. They are
// server-owned: nothing a client sends sets them.
const (
	// columnVersion is the counter value of the transaction that last wrote
	// the row; pulls select rows by it.
	columnVersion = "ss_version"
	// columnCreatedVersion is the counter value of the transaction that
	// created the row; pulls classify created versus updated by it.
	columnCreatedVersion = "ss_created_version"
	// columnOrigin is the device that created the row: the one device that
	// may hold it without having pulled it.
	columnOrigin = "ss_origin"
	// columnWriter is the device whose push wrote the row last; a pull by
	// that device leaves the row out (it has it already: no echo).
	columnWriter = "ss_writer"
)

// Store keeps the synchronized tables of one registry in a SQL database and
// implements pull and push over them. Checkpoints come from a counter that
// every writing transaction bumps and holds locked until commit, so versions
// follow commit order and a pull never skips a row committed late. Several
// Stores (in several processes) may share one database.
type Store struct {
	db        *sql.DB
	dialect   Dialect
	reg       *ssync.Registry
	tables    map[string]*serverTable
	now       func() time.Time
	hooks     map[string]Hooks
	resolver  Resolver
	retention time.Duration
	blob      blobState     // attachment content (WithBlobStore)
	pushGate  chan struct{} // one token per push writing at once (WithPushConcurrency)
	stmt      statements
	relations []*relation                  // every reference column, parents first
	isParent  map[*serverTable]bool        // tables some reference points at
	backRefs  map[*serverTable][]*relation // each table's back references (relation.back)
	// schemaVersion is the app's schema version (WithSchemaVersion).
	schemaVersion int
	// migrations are the app's data migrations (WithMigrations).
	migrations []Migration

	mu   sync.Mutex
	seen map[string]time.Time // user and device → when its checkpoint was last recorded

	feed   feed // change notifications (Watch)
	logger *slog.Logger
}

// StoreOption configures a Store.
type Option func(*Store) error

// WithHooks installs per-collection hooks (pull filters and push checks).
func WithHooks(collection string, h Hooks) Option {
	return func(s *Store) error {
		if _, err := s.reg.Lookup(collection); err != nil {
			return fmt.Errorf("WithHooks: %w", err)
		}
		s.hooks[collection] = h
		return nil
	}
}

// WithResolver installs the conflict resolver, called when a pushed row was
// changed on the server after the pushing client last pulled it. Without
// one, the push wins (last writer wins in server order).
func WithResolver(r Resolver) Option {
	return func(s *Store) error { s.resolver = r; return nil }
}

// WithTombstoneRetention sets how long deleted rows are kept for devices that
// have not pulled past them (default 90 days). See Store.PurgeTombstones.
func WithTombstoneRetention(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return errors.New("WithTombstoneRetention: retention must be positive")
		}
		s.retention = d
		return nil
	}
}

// DefaultPushConcurrency is how many pushes one Store writes at once unless
// WithPushConcurrency says otherwise.
const DefaultPushConcurrency = 4

// WithPushConcurrency sets how many pushes one Store writes at once (default
// DefaultPushConcurrency); more wait their turn, or until their context
// ends. Pushes take their version one at a time at the end anyway, so a few
// in flight keep the database busy; letting every request hold a
// connection while it waits for the counter would leave none for pulls,
// which then wait behind the pushes. Keep it well below the connection
// pool's size.
func WithPushConcurrency(n int) Option {
	return func(s *Store) error {
		if n < 1 {
			return errors.New("WithPushConcurrency: at least 1")
		}
		s.pushGate = make(chan struct{}, n)
		return nil
	}
}

// WithLogger sets where the store reports what it recovers from by
// itself (a failed read of its change notifications, retried); by default
// nowhere.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithClock replaces time.Now, for tests of time-dependent behaviour.
func WithClock(now func() time.Time) Option {
	return func(s *Store) error { s.now = now; return nil }
}

// ErrForbidden is wrapped by a push that touches a row the user may not
// write. The error does not tell whether the row exists.
var ErrForbidden = errors.New("forbidden")

// ErrIdempotencyMismatch is returned when a push reuses an Idempotency-Key
// with a different body.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

// ErrConflict is wrapped by a push refused by the conflict resolver.
var ErrConflict = errors.New("conflict")

// ErrStoreRefused is wrapped by the error of a pushed row the database
// refused (a value its column cannot hold, a constraint). The error's text
// names the row, never the database's own message, which may name
// databases, tables and constraints; errors.As reaches the driver's error
// for logging and classification.
var ErrStoreRefused = errors.New("the store refused the row's values")

// storeRefusal is a database error while writing one row.
type storeRefusal struct{ cause error }

func (e *storeRefusal) Error() string   { return ErrStoreRefused.Error() }
func (e *storeRefusal) Unwrap() []error { return []error{ErrStoreRefused, e.cause} }

// refused wraps a database error while writing a row of a push.
func (s *Store) refused(err error) error {
	if s.dialect.ForeignKey != nil && s.dialect.ForeignKey(err) {
		// Checked at the statement (MariaDB): the row is known.
		return ErrDanglingReference
	}
	return &storeRefusal{cause: err}
}

// RefusalCause returns the database's own error behind an ErrStoreRefused,
// for logs; nil for any other error.
func RefusalCause(err error) error {
	var r *storeRefusal
	if errors.As(err, &r) {
		return r.cause
	}
	return nil
}

// RowError names the row a push was refused for.
type RowError struct {
	// Collection and ID name the row.
	Collection string
	ID         uuid.UUID
	// Err is the reason; it wraps ErrForbidden for rows of other users.
	Err error
}

// Error names the collection and row, then the reason.
func (e *RowError) Error() string {
	return fmt.Sprintf("collection %q row %s: %v", e.Collection, e.ID, e.Err)
}

// Unwrap returns the reason.
func (e *RowError) Unwrap() error { return e.Err }

// Open prepares db for the collections of reg: it creates the store's
// own tables and brings every synchronized table to the registry's schema
// (idempotently, so every server instance may call it at start, while
// others serve), and records the registry's fingerprint in ss_schema.
//
// Migrations are automatic and additive, in the setup transaction (on
// MariaDB each DDL statement commits by itself; an interrupted migration
// is completed at the next Open): tables the database lacks are created,
// columns it lacks are added (a NOT NULL column without a default gets its
// kind's zero value), and so are indexes; a column whose field became
// nullable, or left the model while NOT NULL without a default, loses its
// NOT NULL constraint (Dialect.DropNotNull). A change that cannot be
// applied safely (a column's type changed, a nullable column became NOT
// NULL) fails with an error
// wrapping ssync.ErrUnsafeSchemaChange (an *ssync.SchemaChangeError naming
// the table and column), before anything changes. Tables and nullable
// columns no longer in the model are left as they are. Then the data
// migrations of WithMigrations that the database has not run yet run, each
// in its own transaction (see Migration); one that fails is rolled back,
// and Open returns an *ssync.MigrationError naming it.
//
// Connection pools: a pull holds one connection for its snapshot and a push
// one for its transaction, so size db for the requests served at once, and
// keep idle connections (db.SetMaxIdleConns equal to db.SetMaxOpenConns)
// so that busy servers do not open a new database session per request;
// database/sql keeps only 2 idle connections by default. Several instances
// over one PostgreSQL or MariaDB database share its connection limit.
func Open(ctx context.Context, db *sql.DB, d Dialect, reg *ssync.Registry, opts ...Option) (*Store, error) {
	s := &Store{db: db, dialect: d, reg: reg, tables: make(map[string]*serverTable), now: time.Now,
		hooks: map[string]Hooks{}, retention: 90 * 24 * time.Hour, seen: map[string]time.Time{},
		pushGate: make(chan struct{}, DefaultPushConcurrency), logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("ssync store: %w", err)
		}
	}
	if d.NextVersion == nil {
		s.dialect.NextVersion = bumpReturning
	}
	if d.Placeholder == nil || d.Quote == nil || d.ColumnType == nil {
		return nil, fmt.Errorf("ssync store: dialect %q needs Placeholder, Quote and ColumnType", d.Name)
	}
	s.stmt = newStatements(d)
	for _, c := range reg.Collections() {
		s.tables[c.CollectionName()] = newServerTable(s.dialect, c)
	}
	s.relations, s.isParent, s.backRefs = relations(s.dialect, reg, s.tables), map[*serverTable]bool{}, map[*serverTable][]*relation{}
	for _, r := range s.relations {
		s.isParent[r.parent] = true
		if r.back {
			s.backRefs[r.child] = append(s.backRefs[r.child], r)
		}
	}
	err := s.inSetup(ctx, func(tx execer) error { return s.setup(ctx, tx) })
	if err != nil && !errors.Is(err, ssync.ErrUnsafeSchemaChange) {
		// Another instance may have changed the schema at the same time
		// (MariaDB commits each DDL statement by itself): look again.
		err = s.inSetup(ctx, func(tx execer) error { return s.setup(ctx, tx) })
	}
	if err == nil {
		err = s.runMigrations(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("ssync store: open %s store: %w", d.Name, err)
	}
	return s, nil
}

// setup creates or migrates every table in tx and records the schema.
func (s *Store) setup(ctx context.Context, tx execer) error {
	if err := s.createOwnTables(ctx, tx); err != nil {
		return err
	}
	if err := s.migrate(ctx, tx); err != nil {
		return err
	}
	if err := s.recordSchema(ctx, tx); err != nil {
		return err
	}
	return s.raiseVersionFloor(ctx, tx)
}

// createOwnTables runs the dialect's Setup, then creates the store's own
// tables and counters.
func (s *Store) createOwnTables(ctx context.Context, tx execer) error {
	stmts := append(slices.Clip(s.dialect.Setup), "DROP TABLE IF EXISTS ss_devices") // keyed by device alone, replaced by ss_device_seen
	for _, t := range ownTables(s.dialect) {
		stmts = append(stmts, s.dialect.create(t)...)
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	for _, name := range []string{"global", migrationsLock} {
		if _, err := tx.ExecContext(ctx, s.stmt.addCounter, name, 0); err != nil {
			return err
		}
	}
	if !s.dialect.VersionLog {
		return nil
	}
	// Versions up to the floor are proven committed; the log keeps those
	// above it. A store from before the log starts at its counter.
	global, err := s.counterValue(ctx, tx, "global")
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.stmt.addCounter, "log_floor", int64(global))
	return err
}

// execer is what the setup runs statements on: a *sql.Tx or a *sql.Conn
// inside a transaction it began itself.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inSetup runs fn in one transaction, begun with the dialect's SetupBegin
// when it has one.
func (s *Store) inSetup(ctx context.Context, fn func(tx execer) error) error {
	if s.dialect.SetupBegin == "" {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer func() {
		for _, stmt := range s.dialect.SetupEnd {
			// A background context: it must run even when ctx ended.
			conn.ExecContext(context.Background(), stmt)
		}
	}()
	if _, err := conn.ExecContext(ctx, s.dialect.SetupBegin); err != nil {
		return err
	}
	if err := fn(conn); err != nil {
		// A background context: the rollback must run even when ctx ended.
		conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}

// raiseVersionFloor moves the counter past the checkpoints an older release
// may have handed out (Dialect.VersionFloor), once per database: on a store
// whose tables hold rows and that has no "counter_floor" mark yet.
func (s *Store) raiseVersionFloor(ctx context.Context, tx execer) error {
	if s.dialect.VersionFloor == "" {
		return nil
	}
	var marked int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM ss_counter WHERE name = 'counter_floor'").Scan(&marked); err != nil {
		return err
	}
	if marked > 0 {
		return nil
	}
	used := false
	for name := range s.tables {
		var n int
		q := "SELECT COUNT(*) FROM (SELECT 1 FROM " + s.dialect.Quote(name) + " LIMIT 1) t"
		if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return err
		}
		used = used || n > 0
	}
	floor := int64(0)
	if used {
		if err := tx.QueryRowContext(ctx, "SELECT "+s.dialect.VersionFloor).Scan(&floor); err != nil {
			return err
		}
		ph := s.dialect.Placeholder
		if _, err := tx.ExecContext(ctx, "UPDATE ss_counter SET value = "+ph(1)+" WHERE name = 'global' AND value < "+ph(2), floor, floor); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, s.stmt.setCounter, "counter_floor", floor)
	return err
}

// Registry returns the store's registry.
func (s *Store) Registry() *ssync.Registry { return s.reg }

// DB returns the store's database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the store's database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Current returns the store's newest checkpoint: a pull from it returns
// only changes committed after this call.
func (s *Store) Current(ctx context.Context) (Checkpoint, error) {
	v, err := s.counterValue(ctx, s.db, "global")
	return Checkpoint{Version: v}, err
}

// counterValue reads a named counter row.
func (s *Store) counterValue(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) (uint64, error) {
	var v uint64
	err := q.QueryRowContext(ctx, "SELECT value FROM ss_counter WHERE name = "+s.dialect.Placeholder(1), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// horizon returns the highest version every change up to which is visible
// in tx, a pull's snapshot, for a client at since: the counter, or, with a
// version log, the highest version up to which the snapshot holds every
// push (see Dialect.VersionLog).
func (s *Store) horizon(ctx context.Context, tx *sql.Tx, since uint64) (uint64, error) {
	if !s.dialect.VersionLog {
		return s.counterValue(ctx, tx, "global")
	}
	var top, floor uint64
	rows, err := tx.QueryContext(ctx, "SELECT name, value FROM ss_counter WHERE name IN ('global', 'log_floor')")
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			rows.Close()
			return 0, err
		}
		if name == "global" {
			top = v
		} else {
			floor = v
		}
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	return s.provenUpTo(ctx, tx, max(since, floor), top)
}

// provenUpTo returns the highest h ≤ top such that tx holds the log rows of
// every version in (from, h]; versions up to from are already proven.
func (s *Store) provenUpTo(ctx context.Context, tx *sql.Tx, from, top uint64) (uint64, error) {
	if top <= from {
		return top, nil
	}
	ph := s.dialect.Placeholder
	var n uint64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM ss_versions WHERE version > "+ph(1)+" AND version <= "+ph(2),
		int64(from), int64(top)).Scan(&n); err != nil {
		return 0, err
	}
	if n == top-from {
		return top, nil
	}
	// Rare: a push at or below the counter is not in this snapshot. Stop
	// before the first version missing.
	rows, err := tx.QueryContext(ctx, "SELECT version FROM ss_versions WHERE version > "+ph(1)+" AND version <= "+ph(2)+" ORDER BY version",
		int64(from), int64(top))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	h := from
	for rows.Next() {
		var v uint64
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		if v != h+1 {
			break
		}
		h = v
	}
	return h, rows.Err()
}

// conflictAttempts bounds how often a transaction aborted by the database
// for a deadlock or a serialization failure is run again.
const conflictAttempts = 5

// retryConflicts runs fn, and runs it again (after a short, growing pause)
// while it fails with an error the dialect says is a transient conflict
// between transactions. It stays apart from the client's retries (one
// exchange, runtime/client): a deadlock between two pushes is the store's
// own business, answered in the same request, and a client never sees it.
func (s *Store) retryConflicts(ctx context.Context, fn func() error) error {
	pause := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt >= conflictAttempts || s.dialect.Transient == nil || !s.dialect.Transient(err) {
			return err
		}
		t := time.NewTimer(pause + time.Duration(rand.Int64N(int64(pause))))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause *= 2
	}
}

// serverTable holds the SQL the store runs against one table.
type serverTable struct {
	coll         ssync.Collection
	insertBatch  int    // rows per multi-row INSERT
	insertHead   string // INSERT INTO t (columns) VALUES
	nInsert      int    // arguments per inserted row
	lookupHead   string // SELECT ... WHERE id IN (
	stampHead    string // UPDATE ... WHERE id IN (
	d            Dialect
	nUser        int
	columns      string // every column, quoted, comma separated
	lookup       string
	lookupLock   string // lookup of a row being deleted, locked (Dialect.ForUpdate)
	lookupShared string // deleted_at of a referenced row, with a shared lock
	restamp      string // args version, id: the row goes to every device again
	load         string
	insert       string
	update       string
	delete       string
	partial      sync.Map // updateWithout's statements, by set of absent columns

	// The bulk statements of a whole batch, built once: a push runs them
	// for every insertBatch rows or lookupChunk ids.
	insertFull, lookupFull, stampFull string
}

func newServerTable(d Dialect, c ssync.Collection) *serverTable {
	q := d.Quote
	t := q(c.CollectionName())
	meta := []string{ssync.ColumnID, ssync.ColumnCreatedAt, ssync.ColumnUpdatedAt, ssync.ColumnDeletedAt, ssync.ColumnSyncID}
	var user []string
	for _, col := range c.UserColumns() {
		user = append(user, col.ServerName())
	}
	all := append(append([]string(nil), meta...), user...)
	quoted := make([]string, len(all))
	for i, n := range all {
		quoted[i] = q(n)
	}
	cols := strings.Join(quoted, ", ")
	id := q(ssync.ColumnID)

	// INSERT: all columns, then version, created version, origin, writer.
	var ph []string
	for i := range len(all) + 4 {
		ph = append(ph, d.Placeholder(i+1))
	}
	insert := "INSERT INTO " + t + " (" + cols + ", " + q(columnVersion) + ", " + q(columnCreatedVersion) +
		", " + q(columnOrigin) + ", " + q(columnWriter) + ") VALUES (" + strings.Join(ph, ", ") + ")"

	// UPDATE: every column but id and owner, then version and writer, WHERE id.
	update := updateStmt(d, c, nil)

	del := "UPDATE " + t + " SET " + q(ssync.ColumnDeletedAt) + " = " + d.Placeholder(1) + ", " +
		q(ssync.ColumnUpdatedAt) + " = " + d.Placeholder(2) + ", " + q(columnVersion) + " = " + d.Placeholder(3) +
		", " + q(columnWriter) + " = " + d.Placeholder(4) + " WHERE " + id + " = " + d.Placeholder(5) +
		" AND " + q(ssync.ColumnDeletedAt) + " IS NULL"

	lookup := "SELECT " + q(ssync.ColumnSyncID) + ", " + q(ssync.ColumnDeletedAt) + ", " + q(columnVersion) +
		", " + q(columnWriter) + " FROM " + t + " WHERE " + id + " = " + d.Placeholder(1)
	load := "SELECT " + cols + " FROM " + t + " WHERE " + id + " = " + d.Placeholder(1)
	deletedAt := "SELECT " + q(ssync.ColumnDeletedAt) + " FROM " + t + " WHERE " + id + " = " + d.Placeholder(1)

	nInsert := len(all) + 4
	st := &serverTable{coll: c, d: d, nUser: len(user), columns: cols,
		lookup: lookup, load: load, lookupLock: deletedAt + d.ForUpdate, lookupShared: deletedAt + d.ForShare,
		restamp: "UPDATE " + t + " SET " + q(columnVersion) + " = " + d.Placeholder(1) + ", " + q(columnWriter) +
			" = '' WHERE " + id + " = " + d.Placeholder(2), insert: insert, update: update, delete: del,
		// Stay well under every driver's limit of bind parameters.
		insertBatch: max(1, min(200, 4000/nInsert)),
		insertHead: "INSERT INTO " + t + " (" + cols + ", " + q(columnVersion) + ", " + q(columnCreatedVersion) +
			", " + q(columnOrigin) + ", " + q(columnWriter) + ") VALUES ",
		nInsert: nInsert,
		stampHead: "UPDATE " + t + " SET " + q(columnVersion) + " = " + d.Placeholder(1) + ", " + q(columnCreatedVersion) +
			" = CASE WHEN " + q(columnCreatedVersion) + " = 0 THEN " + d.Placeholder(2) + " ELSE " + q(columnCreatedVersion) +
			" END WHERE " + id + " IN (",
		lookupHead: "SELECT " + id + ", " + q(ssync.ColumnSyncID) + ", " + q(ssync.ColumnDeletedAt) + ", " +
			q(columnVersion) + ", " + q(columnWriter) + " FROM " + t + " WHERE " + id + " IN (",
	}
	st.insertFull, st.lookupFull, st.stampFull = st.insertMany(st.insertBatch), st.lookupMany(lookupChunk), st.stampMany(lookupChunk)
	return st
}

// insertMany returns an INSERT of n rows.
func (t *serverTable) insertMany(n int) string {
	if n == t.insertBatch && t.insertFull != "" {
		return t.insertFull
	}
	var b strings.Builder
	b.WriteString(t.insertHead)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		t.placeholders(&b, 1+i*t.nInsert, t.nInsert)
		b.WriteByte(')')
	}
	return b.String()
}

// stampMany returns the stamp of n ids: args version, version, the ids.
func (t *serverTable) stampMany(n int) string {
	if n == lookupChunk && t.stampFull != "" {
		return t.stampFull
	}
	var b strings.Builder
	b.WriteString(t.stampHead)
	t.placeholders(&b, 3, n)
	b.WriteByte(')')
	return b.String()
}

// lookupMany returns the bulk lookup of n ids.
func (t *serverTable) lookupMany(n int) string {
	if n == lookupChunk && t.lookupFull != "" {
		return t.lookupFull
	}
	var b strings.Builder
	b.WriteString(t.lookupHead)
	t.placeholders(&b, 1, n)
	b.WriteByte(')')
	return b.String()
}

// placeholders writes n comma-separated bind parameters, numbered from.
func (t *serverTable) placeholders(b *strings.Builder, from, n int) {
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.d.Placeholder(from + i))
	}
}

// pullQuery returns the pull statement for n owners. Args: the cursor
// version, (the cursor version again and the cursor id when after is set),
// upto, the owners, then (with notWriter) the device whose own writes are
// left out.
func (t *serverTable) pullQuery(owners int, after, notWriter bool, limit int) string {
	q, p := t.d.Quote, t.d.Placeholder
	ver, id := q(columnVersion), q(ssync.ColumnID)
	n := 1
	var where string
	if after {
		where = "(" + ver + " > " + p(1) + " OR (" + ver + " = " + p(2) + " AND " + id + " > " + p(3) + "))"
		n = 4
	} else {
		where = ver + " > " + p(1)
		n = 2
	}
	where += " AND " + ver + " <= " + p(n)
	n++
	ph := make([]string, owners)
	for i := range ph {
		ph[i] = p(n + i)
	}
	stmt := "SELECT " + t.columns + ", " + q(columnCreatedVersion) + ", " + q(columnOrigin) + ", " + q(columnWriter) +
		", " + ver + " FROM " + q(t.coll.CollectionName()) +
		" WHERE " + where + " AND " + q(ssync.ColumnSyncID) + " IN (" + strings.Join(ph, ", ") + ")"
	if notWriter {
		stmt += " AND " + q(columnWriter) + " <> " + p(n+owners)
	}
	stmt += " ORDER BY " + ver + ", " + id
	if limit > 0 {
		stmt += fmt.Sprintf(" LIMIT %d", limit)
	}
	return stmt
}

// timeOrNil returns t as a SQL argument: nil (NULL) when t is nil, the
// stored form of *t (ssync.StoredTime) otherwise.
func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ssync.StoredTime(*t)
}

// metaValues appends the metadata column values of rec to dst, times in
// their stored form: a pushed time, whatever its zone and precision, is
// stored as every device stores it.
func metaValues(rec *ssync.Record, dst []any) []any {
	return append(dst, rec.ID.String(), ssync.StoredTime(rec.CreatedAt), ssync.StoredTime(rec.UpdatedAt), timeOrNil(rec.DeletedAt), rec.SyncID)
}

func metaTargets(rec *ssync.Record, dst []any) []any {
	return append(dst, &rec.ID, &rec.CreatedAt, &rec.UpdatedAt, &rec.DeletedAt, &rec.SyncID)
}
