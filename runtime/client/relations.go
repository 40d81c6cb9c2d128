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
)

// localRef is a reference column of the registry: rows of child hold in
// column the id of a row of parent.
type localRef struct {
	parent, child string
	column        string
	index         int // among the child's user columns
	rule          ssync.OnDelete
}

// refs returns the registry's references.
func (db *DB) refs() []localRef {
	var out []localRef
	for _, c := range db.reg.Collections() {
		for i, col := range c.UserColumns() {
			if col.Ref != "" {
				out = append(out, localRef{parent: col.Ref, child: c.CollectionName(), column: col.Name, index: i, rule: col.Rule()})
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

// checkParents refuses a row that references a deleted row: the server
// would delete it, refuse it or clear the reference as it arrives. A
// missing row is the foreign key's business.
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
		if err == nil && deleted {
			return fmt.Errorf("%w: %s %s (%s)", ErrDeletedReference, r.parent, id, r.column)
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
		children, err := db.liveChildren(ctx, r, id)
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
				if _, err := db.conn(ctx).ExecContext(ctx, withColumns("UPDATE "+quote(r.child)+" SET "+quote(r.column)+
					` = NULL, "updated_at" = ?, {dirty} = {dirty} + 1 WHERE "id" = ? AND "deleted_at" IS NULL`), now, c.String()); err != nil {
					return fmt.Errorf("clear %s %s: %w", r.child, c, err)
				}
			}
		default:
			db.wrote(ctx, r.child)
			for _, c := range children {
				if _, err := db.conn(ctx).ExecContext(ctx, withColumns("UPDATE "+quote(r.child)+
					` SET "deleted_at" = ?, "updated_at" = ?, {dirty} = {dirty} + 1 WHERE "id" = ? AND "deleted_at" IS NULL`), now, now, c.String()); err != nil {
					return fmt.Errorf("delete %s %s: %w", r.child, c, err)
				}
				if err := db.cascade(ctx, r.child, c, now); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (db *DB) liveChildren(ctx context.Context, r localRef, id uuid.UUID) ([]uuid.UUID, error) {
	rows, err := db.conn(ctx).QueryContext(ctx, "SELECT id FROM "+quote(r.child)+" WHERE "+quote(r.column)+` = ? AND "deleted_at" IS NULL`, id.String())
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
		children, err := pendingChildren(ctx, tx, r, id)
		if err != nil {
			return err
		}
		for _, c := range children {
			if r.rule == ssync.OnDeleteSetNull {
				if _, err := tx.ExecContext(ctx, withColumns("UPDATE "+quote(r.child)+" SET "+quote(r.column)+
					` = NULL, "updated_at" = ?, {dirty} = {dirty} + 1 WHERE "id" = ? AND "deleted_at" IS NULL`), now, c.String()); err != nil {
					return fmt.Errorf("clear %s %s: %w", r.child, c, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, withColumns("UPDATE "+quote(r.child)+
				` SET "deleted_at" = ?, "updated_at" = ?, {dirty} = {dirty} + 1 WHERE "id" = ? AND "deleted_at" IS NULL`), now, now, c.String()); err != nil {
				return fmt.Errorf("delete %s %s: %w", r.child, c, err)
			}
			if err := db.cascadePulled(ctx, tx, r.child, c, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// pendingChildren returns the live rows with local changes that reference
// id through r.
func pendingChildren(ctx context.Context, tx *sql.Tx, r localRef, id uuid.UUID) ([]uuid.UUID, error) {
	rows, err := tx.QueryContext(ctx, withColumns("SELECT id FROM "+quote(r.child)+" WHERE "+quote(r.column)+
		` = ? AND "deleted_at" IS NULL AND {dirty} > 0`), id.String())
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
