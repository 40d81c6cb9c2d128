package client

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Migration is a data migration of the device database: what additive
// schema changes cannot express (filling a new column from others,
// splitting a value, removing rows a new rule forbids). Open runs each
// migration of Options.Migrations once per file, in order, after the
// additive schema migration and in the same transaction, and records its
// version and name with the time in ss_migrations.
type Migration struct {
	// Version orders the migrations: at least 1, each higher than the one
	// before in the list. A migration keeps its version and name for
	// good; a new one takes a version above every one the app ever
	// shipped.
	Version int
	// Name says what the migration does; errors and the record name it.
	Name string
	// Run changes the data through tx, and only through tx (the database
	// is not open yet: its repositories would wait for this transaction).
	// An error rolls back the whole open: schema changes, earlier
	// migrations of this open, and this one.
	Run func(ctx context.Context, tx *MigrationTx) error
}

// MigrationTx is the transaction a device's data migration runs in. Rows
// it writes with ExecContext are local: they are not pushed, and a later
// pull that brings the row from the server replaces them (so does the
// re-pull of a table that gained columns in the same open). MarkChanged
// makes written rows pending local changes, pushed at the next sync like
// an edit of the app.
type MigrationTx struct {
	tx *sql.Tx
	db *DB
}

// ExecContext runs a statement in the migration's transaction.
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

// MarkChanged marks the rows of collection that match where (an SQL
// condition on the device's columns, with ? for args; empty: every row)
// as changed locally, as an edit through a repository does: their
// updated_at becomes now and the next Synchronize pushes them. It returns
// how many rows it marked.
func (m *MigrationTx) MarkChanged(ctx context.Context, collection, where string, args ...any) (int64, error) {
	stmt := "UPDATE " + quote(collection) + " SET " + quote(ssync.ColumnUpdatedAt) + " = ?, " +
		quote(columnDirty) + " = " + quote(columnDirty) + " + 1"
	if where != "" {
		stmt += " WHERE " + where
	}
	res, err := m.tx.ExecContext(ctx, stmt, append([]any{m.db.timestamp()}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("mark %s rows changed: %w", collection, err)
	}
	if _, err := m.db.reg.Lookup(collection); err == nil {
		// The migration wrote the rows' fields without the device's
		// tracking: they are pushed whole.
		if err := markWhereWhole(ctx, m.tx, collection, where, args); err != nil {
			return 0, err
		}
	}
	return res.RowsAffected()
}

// checkMigrations checks the list of Options.Migrations before the file
// opens.
func checkMigrations(list []Migration) error {
	for _, m := range list {
		if m.Run == nil {
			return fmt.Errorf("%w: migration %d %q has no Run", ssync.ErrMigrationList, m.Version, m.Name)
		}
	}
	return migrate.CheckList(steps(list))
}

// steps returns the versions and names of list.
func steps(list []Migration) []migrate.Step {
	out := make([]migrate.Step, len(list))
	for i, m := range list {
		out[i] = migrate.Step{Version: m.Version, Name: m.Name}
	}
	return out
}

// runMigrations runs in tx the migrations of the list the file has not
// run, in order, and records each; it refuses a list that does not fit
// the file's record before running any.
func (db *DB) runMigrations(ctx context.Context, tx *sql.Tx, list []Migration) error {
	applied, err := appliedMigrations(ctx, tx)
	if err != nil {
		return err
	}
	pending, err := migrate.Pending(steps(list), applied)
	if err != nil {
		return err
	}
	byVersion := make(map[int]Migration, len(list))
	for _, m := range list {
		byVersion[m.Version] = m
	}
	mtx := &MigrationTx{tx: tx, db: db}
	for _, s := range pending {
		m := byVersion[s.Version]
		err := m.Run(ctx, mtx)
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO ss_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, db.timestamp())
		}
		if err != nil {
			return &ssync.MigrationError{Database: "device", Version: m.Version, Name: m.Name, Err: err}
		}
		db.logger.InfoContext(ctx, "ssync: data migration applied", "version", m.Version, "name", m.Name)
	}
	return nil
}

// appliedMigrations reads the migrations the file recorded.
func appliedMigrations(ctx context.Context, q queryer) ([]migrate.Step, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, name FROM ss_migrations ORDER BY version`)
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
	return out, rows.Err()
}
