package client

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// txKey marks a context as inside a Transaction of one database.
type txKey struct{ db *DB }

// Transaction runs fn in one local transaction: repository calls made with
// the context fn receives take part in it, and all of them commit together
// or (when fn returns an error or panics) not at all. Synchronize refuses
// such a context with ErrInTransaction.
func (db *DB) Transaction(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if inTransaction(ctx, db) {
		return fmt.Errorf("ssync client: nested Transaction: %w", ErrInTransaction)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ssync client: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
		}
	}()
	wrote := &touched{}
	ctx = context.WithValue(context.WithValue(ctx, txKey{db}, tx), touchedKey{db}, wrote)
	if err = fn(ctx); err != nil {
		return err
	}
	if err = checkMissing(ctx, tx, wrote.missing); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: commit: %w", err)
	}
	db.changed(OriginLocal, wrote.tables...)
	return nil
}

func inTransaction(ctx context.Context, db *DB) bool {
	_, ok := ctx.Value(txKey{db}).(*sql.Tx)
	return ok
}

// conn returns the transaction of ctx, or the database.
func (db *DB) conn(ctx context.Context) interface {
	queryer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
} {
	if tx, ok := ctx.Value(txKey{db}).(*sql.Tx); ok {
		return tx
	}
	return db.sql
}

// beginApply starts a transaction for writing what the server sent, on a
// connection with foreign-key checks off: the server already enforced them,
// and the pull holds references to rows the device does not have yet
// (held.go). Local writes through repositories keep the checks. end must be
// called after the transaction is committed or rolled back.
func (db *DB) beginApply(ctx context.Context) (tx *sql.Tx, end func(), err error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		conn.Close()
		return nil, nil, err
	}
	end = func() {
		// A connection whose checks cannot be turned back on is dropped
		// from the pool rather than reused.
		if _, err := conn.ExecContext(context.Background(), "PRAGMA foreign_keys = ON"); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	tx, err = conn.BeginTx(ctx, nil)
	if err != nil {
		end()
		return nil, nil, err
	}
	return tx, end, nil
}
