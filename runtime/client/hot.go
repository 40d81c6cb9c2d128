package client

import (
	"context"
	"database/sql"
)

// Hot paths (applying a pulled batch, writes inside a Transaction, reading
// the rows a push sends) run many short statements. go-sqlite3 starts a
// goroutine for every statement whose context can be cancelled, which costs
// more than a short statement itself, so these paths give their statements
// a context that cannot be cancelled (quiet) and check the caller's context
// themselves:
//
//   - applying a pulled batch checks it every checkRows rows, and its
//     transaction (begun with the caller's context) is rolled back by
//     database/sql as soon as the context ends, between two statements;
//   - a repository write inside a Transaction checks it before each
//     statement (the transaction holds the write lock, so no statement
//     waits for one);
//   - reading the rows to push checks it every checkRows rows (reads of a
//     WAL database wait for no lock).
//
// So a cancelled sync or Transaction stops within checkRows statements, a
// few milliseconds, and commits nothing of the batch in progress.
// Statements that may wait (a write outside a Transaction waits for the
// write lock up to the busy timeout) keep the caller's context.
const checkRows = 256

// quiet returns ctx without its cancellation, for the statements of a hot
// path; the caller checks ctx itself (see checkRows).
func quiet(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx // cannot be cancelled already
	}
	return context.WithoutCancel(ctx)
}

// cause returns ctx's error in place of err once ctx is done: a transaction
// whose context ended is rolled back, and the statement after that fails
// with sql.ErrTxDone, which would hide why.
func cause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && err != nil {
		return cerr
	}
	return err
}

// writeCtx returns the context a repository write runs its statement with:
// inside a Transaction of db, ctx without its cancellation once ctx is
// checked; outside one, ctx itself (an autocommit write may wait for the
// write lock, and must stop waiting when ctx ends).
func (db *DB) writeCtx(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{db}).(*sql.Tx); !ok {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return quiet(ctx), nil
}
