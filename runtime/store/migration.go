package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Migration is a data migration of a server store: what additive schema
// changes cannot express (filling a new column from others, normalizing
// values). Open runs each migration of WithMigrations once per database,
// in order, after the additive schema migration, each in its own
// transaction, and records its version and name with the time in
// ss_migrations. Server instances opening one database at once run each
// migration exactly once: a migration's transaction holds a lock (a row of
// ss_counter) that the others wait for, and they then find it recorded.
type Migration struct {
	// Version orders the migrations: at least 1, each higher than the one
	// before in the list. A migration keeps its version and name for
	// good; a new one takes a version above every one the app ever
	// shipped.
	Version int
	// Name says what the migration does; errors and the record name it.
	Name string
	// Run changes the data through tx, and only through tx. An error rolls
	// its transaction back, and Open fails with an *ssync.MigrationError;
	// the migrations before it stay applied and recorded. On MariaDB and
	// MySQL a DDL statement commits by itself (and what came before it in
	// the transaction): keep DDL out of data migrations there.
	Run func(ctx context.Context, tx *MigrationTx) error
}

// WithMigrations sets the app's data migrations, in increasing version
// order, every one it ever shipped: Open runs those the database has not
// run (see Migration) and refuses, with an error wrapping
// ssync.ErrMigrationList, a list that does not fit the database's record.
func WithMigrations(list ...Migration) Option {
	return func(s *Store) error {
		for _, m := range list {
			if m.Run == nil {
				return fmt.Errorf("WithMigrations: %w: migration %d %q has no Run", ssync.ErrMigrationList, m.Version, m.Name)
			}
		}
		if err := migrate.CheckList(steps(list)); err != nil {
			return fmt.Errorf("WithMigrations: %w", err)
		}
		s.migrations = list
		return nil
	}
}

// MigrationTx is the transaction a store's data migration runs in. Rows
// it writes with ExecContext keep their version: devices that have them
// are not told. MarkChanged stamps written rows with a new version, so
// that every device's next pull carries them, as it carries a push.
type MigrationTx struct {
	s       *Store
	tx      *sql.Tx
	version uint64 // taken by the first MarkChanged; 0 until then
}

// ExecContext runs a statement in the migration's transaction, with the
// dialect's placeholders.
func (m *MigrationTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return m.tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the migration's transaction.
func (m *MigrationTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return m.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query that returns at most one row in the
// migration's transaction.
func (m *MigrationTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return m.tx.QueryRowContext(ctx, query, args...)
}

// Dialect returns the store's dialect, for its Quote and Placeholder.
func (m *MigrationTx) Dialect() Dialect { return m.s.dialect }

// MarkChanged stamps the rows of collection that match where (an SQL
// condition on the store's columns, with the dialect's placeholders for
// args, numbered from 1; empty: every row) with a new version, so that
// the next pull of every device carries them, including the device that
// wrote them last. It returns how many rows it stamped. The first call
// takes the version, which every later call of the migration reuses; the
// transaction then holds the store's counter until it commits, and pushes
// wait for it.
func (m *MigrationTx) MarkChanged(ctx context.Context, collection, where string, args ...any) (int64, error) {
	if _, err := m.s.reg.Lookup(collection); err != nil {
		return 0, fmt.Errorf("MarkChanged: %w", err)
	}
	if m.version == 0 {
		v, err := m.s.dialect.NextVersion(ctx, m.tx)
		if err != nil {
			return 0, fmt.Errorf("MarkChanged: bump counter: %w", err)
		}
		if m.s.dialect.VersionLog {
			if err := m.s.logVersion(ctx, m.tx, v); err != nil {
				return 0, fmt.Errorf("MarkChanged: version log: %w", err)
			}
		}
		m.version = v
	}
	q := m.s.dialect.Quote
	stmt := "UPDATE " + q(collection) + " SET " + q(columnVersion) + " = " + strconv.FormatUint(m.version, 10) +
		", " + q(columnWriter) + " = ''"
	if where != "" {
		stmt += " WHERE " + where
	}
	res, err := m.tx.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, fmt.Errorf("MarkChanged %s: %w", collection, err)
	}
	return res.RowsAffected()
}

// steps returns the versions and names of list.
func steps(list []Migration) []migrate.Step {
	out := make([]migrate.Step, len(list))
	for i, m := range list {
		out[i] = migrate.Step{Version: m.Version, Name: m.Name}
	}
	return out
}

// migrationsLock is the ss_counter row a migration's transaction locks.
const migrationsLock = "migrations"

// runMigrations runs the migrations of the list the database has not
// run, one transaction each, and refuses a list that does not fit its
// record. Each transaction first locks the migrations row, then reads the
// record: an instance that waited finds what the other ran.
func (s *Store) runMigrations(ctx context.Context) error {
	if len(s.migrations) == 0 {
		// Nothing to run; a database that ran migrations still refuses an
		// app without them.
		applied, err := s.appliedMigrations(ctx, s.db, "")
		if err != nil {
			return err
		}
		_, err = migrate.Pending(nil, applied)
		return err
	}
	byVersion := make(map[int]Migration, len(s.migrations))
	for _, m := range s.migrations {
		byVersion[m.Version] = m
	}
	for {
		done, err := s.migrateOnce(ctx, byVersion)
		if err != nil || done {
			return err
		}
	}
}

// migrateOnce runs, in one transaction, the first migration the database
// has not run; done reports that none was left.
func (s *Store) migrateOnce(ctx context.Context, byVersion map[int]Migration) (done bool, err error) {
	tx, err := s.lockMigrations(ctx)
	if err != nil {
		return false, fmt.Errorf("data migrations: lock: %w", err)
	}
	defer tx.Rollback()
	applied, err := s.appliedMigrations(ctx, tx, s.dialect.ForUpdate)
	if err != nil {
		return false, err
	}
	pending, err := migrate.Pending(steps(s.migrations), applied)
	if err != nil || len(pending) == 0 {
		return len(pending) == 0, err
	}
	m := byVersion[pending[0].Version]
	fail := func(err error) (bool, error) {
		return false, &ssync.MigrationError{Database: s.dialect.Name, Version: m.Version, Name: m.Name, Err: err}
	}
	if err := m.Run(ctx, &MigrationTx{s: s, tx: tx}); err != nil {
		return fail(err)
	}
	ph := s.dialect.Placeholder
	if _, err := tx.ExecContext(ctx, "INSERT INTO ss_migrations (version, name, applied_at) VALUES ("+ph(1)+", "+ph(2)+", "+ph(3)+")",
		int64(m.Version), m.Name, s.now().UTC().Truncate(time.Microsecond)); err != nil {
		return fail(fmt.Errorf("record: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w", err))
	}
	return false, nil
}

// lockMigrations begins a transaction holding the migrations row of
// ss_counter; a lock wait that times out (another instance runs a long
// migration) is tried again until ctx ends.
func (s *Store) lockMigrations(ctx context.Context) (*sql.Tx, error) {
	for {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, "UPDATE ss_counter SET value = value + 1 WHERE name = "+s.dialect.Placeholder(1), migrationsLock)
		if err == nil {
			return tx, nil
		}
		tx.Rollback()
		if s.dialect.Transient == nil || !s.dialect.Transient(err) || ctx.Err() != nil {
			return nil, err
		}
	}
}

// appliedMigrations reads the migrations the database recorded; lock ends
// the query (Dialect.ForUpdate: a locking read sees the latest record, not
// a snapshot taken before the lock).
func (s *Store) appliedMigrations(ctx context.Context, q execer, lock string) ([]migrate.Step, error) {
	rows, err := q.QueryContext(ctx, "SELECT version, name FROM ss_migrations ORDER BY version"+lock)
	if err != nil {
		return nil, fmt.Errorf("read ss_migrations: %w", err)
	}
	defer rows.Close()
	var out []migrate.Step
	for rows.Next() {
		var s migrate.Step
		if err := rows.Scan(&s.Version, &s.Name); err != nil {
			return nil, fmt.Errorf("read ss_migrations: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ss_migrations: %w", err)
	}
	return out, nil
}
