package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/refval"
	"github.com/ssync-go/ssync/runtime/ssync"
)

var (
	// ErrReferenced is returned by Delete when live rows reference the row
	// through a reference with ondelete=restrict: delete them first.
	ErrReferenced = errors.New("ssync client: live rows reference the row (ondelete=restrict)")
	// ErrDeletedReference is returned by Insert and Update when the row
	// references (ref=) a row that is deleted.
	ErrDeletedReference = errors.New("ssync client: the row references a deleted row")
	// ErrMissingReference is returned by Insert and Update when the row
	// references (ref=) a row the device does not have.
	ErrMissingReference = errors.New("ssync client: the row references a row the device does not have")
)

// localRef is a reference column of the registry: rows of child hold in
// column the id of a row of parent.
type localRef struct {
	parent, child string
	column        string
	index         int // among the child's user columns
	rule          ssync.OnDelete
	nullable      bool
}

// refs returns the registry's references.
func (db *DB) refs() []localRef {
	var out []localRef
	for _, c := range db.reg.Collections() {
		for i, col := range c.UserColumns() {
			if col.Ref != "" {
				out = append(out, localRef{parent: col.Ref, child: c.CollectionName(), column: col.Name, index: i, rule: col.Rule(), nullable: col.Nullable})
			}
		}
	}
	return out
}

// atomically runs fn in the caller's transaction, or in one of its own.
func (db *DB) atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	if inTransaction(ctx, db) {
		return fn(ctx)
	}
	return db.Transaction(ctx, fn)
}

// checkParents refuses a row that references a deleted row (the server
// would delete it, refuse it or clear the reference as it arrives) or a
// row the device does not have, naming the reference.
func (db *DB) checkParents(ctx context.Context, table string, values []any) error {
	for _, r := range db.refs() {
		if r.child != table {
			continue
		}
		id, ok := refval.ID(values[r.index])
		if !ok {
			continue
		}
		var deleted bool
		err := db.conn(ctx).QueryRowContext(ctx, "SELECT deleted_at IS NOT NULL FROM "+quote(r.parent)+" WHERE id = ?", id.String()).Scan(&deleted)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: %s.%s = %s, a row of %s", ErrMissingReference, table, r.column, id, r.parent)
		case err != nil:
			return fmt.Errorf("ssync client: check %s.%s: %w", table, r.column, err)
		case deleted:
			return fmt.Errorf("%w: %s.%s = %s, a row of %s", ErrDeletedReference, table, r.column, id, r.parent)
		}
	}
	return nil
}

// cascade applies the ondelete rules of the rows that reference the row id
// of table, which is being deleted at now, recursively: their changes are
// local changes like any other, pushed by the next Synchronize.
func (db *DB) cascade(ctx context.Context, table string, id uuid.UUID, now time.Time) error {
	for _, r := range db.refs() {
		if r.parent != table {
			continue
		}
		children, err := referencing(ctx, db.conn(ctx), r, id, false)
		if err != nil {
			return err
		}
		if len(children) == 0 {
			continue
		}
		switch r.rule {
		case ssync.OnDeleteRestrict:
			return fmt.Errorf("%w: %d live %s rows (%s)", ErrReferenced, len(children), r.child, r.column)
		case ssync.OnDeleteSetNull:
			db.wrote(ctx, r.child)
			for _, c := range children {
				if err := clearRef(ctx, db.conn(ctx), r, c, now); err != nil {
					return err
				}
			}
		default:
			db.wrote(ctx, r.child)
			for _, c := range children {
				if err := deleteChild(ctx, db.conn(ctx), r, c, now); err != nil {
					return err
				}
				if err := db.cascade(ctx, r.child, c, now); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// referencing returns the live rows that reference id through r; with
// pending, only those with local changes.
func referencing(ctx context.Context, q queryer, r localRef, id uuid.UUID, pending bool) ([]uuid.UUID, error) {
	query := "SELECT id FROM " + quote(r.child) + " WHERE " + quote(r.column) + ` = ? AND "deleted_at" IS NULL`
	if pending {
		query = withColumns(query + " AND {dirty} > 0")
	}
	rows, err := q.QueryContext(ctx, query, id.String())
	if err != nil {
		return nil, fmt.Errorf("rows referencing %s %s: %w", r.parent, id, err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var c uuid.UUID
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("rows referencing %s %s: %w", r.parent, id, err)
		}
		ids = append(ids, c)
	}
	return ids, rows.Err()
}

// clearRef sets the reference r of live row c to NULL at now, as a local
// change (ondelete=setnull).
func clearRef(ctx context.Context, q queryer, r localRef, c uuid.UUID, now time.Time) error {
	if _, err := q.ExecContext(ctx, withColumns("UPDATE "+quote(r.child)+" SET "+quote(r.column)+
		` = NULL, "updated_at" = ?, {dirty} = {dirty} + 1 WHERE "id" = ? AND "deleted_at" IS NULL`), now, c.String()); err != nil {
		return fmt.Errorf("clear %s %s: %w", r.child, c, err)
	}
	return nil
}

// deleteChild soft-deletes live row c of r's child table at now, as a
// local change (ondelete=cascade).
func deleteChild(ctx context.Context, q queryer, r localRef, c uuid.UUID, now time.Time) error {
	if _, err := q.ExecContext(ctx, withColumns("UPDATE "+quote(r.child)+
		` SET "deleted_at" = ?, "updated_at" = ?, {dirty} = {dirty} + 1 WHERE "id" = ? AND "deleted_at" IS NULL`), now, now, c.String()); err != nil {
		return fmt.Errorf("delete %s %s: %w", r.child, c, err)
	}
	return nil
}

// cascadePulled applies the ondelete rules of the rows referencing the row
// id of table, which a pull deleted, to the live rows with local changes
// the server has not seen (written after the sync's push, or offline under
// a row another device deleted): cascade and restrict delete them (the
// server would delete them as they arrive), setnull clears the reference;
// each is a local change, pushed by the next Synchronize. The rows without
// local changes follow the server's rules in the same pull. It runs in the
// pull's transaction, recursively.
func (db *DB) cascadePulled(ctx context.Context, tx *sql.Tx, table string, id uuid.UUID, now time.Time) error {
	for _, r := range db.refs() {
		if r.parent != table {
			continue
		}
		pending, err := referencing(ctx, tx, r, id, true)
		if err != nil {
			return err
		}
		for _, c := range pending {
			if r.rule == ssync.OnDeleteSetNull {
				if err := clearRef(ctx, tx, r, c, now); err != nil {
					return err
				}
				continue
			}
			if err := deleteChild(ctx, tx, r, c, now); err != nil {
				return err
			}
			if err := db.cascadePulled(ctx, tx, r.child, c, now); err != nil {
				return err
			}
		}
	}
	return nil
}
