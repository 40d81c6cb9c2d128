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
// would delete it, refuse it or clear the reference as it arrives). A
// reference to a row the device does not have is checked again when the
// transaction commits (the row may come later in it: a cycle), and then
// refused with ErrMissingReference, naming it.
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
			ref := missingRef{ref: r, id: id}
			t, ok := ctx.Value(touchedKey{db}).(*touched)
			if !ok {
				return ref.error()
			}
			t.missing = append(t.missing, ref)
		case err != nil:
			return fmt.Errorf("ssync client: check %s.%s: %w", table, r.column, err)
		case deleted:
			return fmt.Errorf("%w: %s.%s = %s, a row of %s", ErrDeletedReference, table, r.column, id, r.parent)
		}
	}
	return nil
}

// missingRef is a reference to a row the device did not have when it was
// written.
type missingRef struct {
	ref localRef
	id  uuid.UUID
}

func (m missingRef) error() error {
	return fmt.Errorf("%w: %s.%s = %s, a row of %s", ErrMissingReference, m.ref.child, m.ref.column, m.id, m.ref.parent)
}

// checkMissing refuses, before a transaction commits, the first of refs
// whose row it did not write after all.
func checkMissing(ctx context.Context, tx *sql.Tx, refs []missingRef) error {
	for _, m := range refs {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+quote(m.ref.parent)+" WHERE id = ?", m.id.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return m.error()
		}
		if err != nil {
			return fmt.Errorf("ssync client: check %s.%s: %w", m.ref.child, m.ref.column, err)
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
		children, err := referencing(ctx, db.conn(ctx), r, id, anyRows)
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

// Which rows referencing returns.
const (
	anyRows     = ""
	pendingRows = " AND {dirty} > 0"
	cleanRows   = " AND {dirty} = 0"
)

// referencing returns the live rows that reference id through r, those of
// which (anyRows, pendingRows, cleanRows). A row whose reference through r
// is held (held.go) does not reference id on the server: it is left out.
func referencing(ctx context.Context, q queryer, r localRef, id uuid.UUID, which string) ([]uuid.UUID, error) {
	t := quote(r.child)
	query := withColumns("SELECT id FROM " + t + " WHERE " + quote(r.column) + ` = ? AND "deleted_at" IS NULL` + which +
		" AND NOT EXISTS (SELECT 1 FROM ss_held h WHERE h.collection = ? AND h.id = " + t + ".`id` AND h.col = ?)")
	rows, err := q.QueryContext(ctx, query, id.String(), r.child, r.column)
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

// ownChange reports whether the pending change of row c (of r's child
// table) is what references through r: the row is new to the server, its
// change is pushed whole (whole: the device pushes whole rows), or it
// changed that reference.
func ownChange(ctx context.Context, tx *sql.Tx, r localRef, c uuid.UUID, whole bool) (bool, error) {
	if whole {
		return true, nil
	}
	var own bool
	err := tx.QueryRowContext(ctx, withColumns("SELECT t.{known} = 0 OR ch."+quote(ssync.ColumnID)+" IS NULL OR ch."+quote(changedWhole)+
		" <> 0 OR ch."+quote(fieldDirty(r.column))+" IS NOT NULL FROM "+quote(r.child)+" t LEFT JOIN "+quote(changedName(r.child))+
		" ch ON ch."+quote(ssync.ColumnID)+" = t."+quote(ssync.ColumnID)+" WHERE t."+quote(ssync.ColumnID)+" = ?"), c.String()).Scan(&own)
	if err != nil {
		return false, fmt.Errorf("read the pending change of %s %s: %w", r.child, c, err)
	}
	return own, nil
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
// id of table, which a pull deleted, recursively, in the pull's
// transaction, so that no live row references a deleted one even when the
// pull is cut before the server's own changes to those rows arrive:
//
//   - live rows whose local change put them there (new rows, rows moved
//     there, rows pushed whole: whole is set when the device pushes whole
//     rows), written after the sync's push or offline under a row another
//     device deleted: cascade and restrict delete them (the server would
//     delete them as they arrive), setnull clears the reference; each is a
//     local change, pushed by the next Synchronize;
//   - live rows with other local changes (pushed field by field) stay as
//     they are: the server's version of them, which this pull brings
//     later, is merged into them (the server may have moved them away);
//   - the other live rows get what the server did to them, without
//     becoming local changes: deleted (cascade, and restrict, whose rows
//     the server moved or deleted before it deleted this one) or their
//     reference cleared (setnull). The server's versions of them come
//     later in the pull and replace these; a row deleted here because its
//     parent was comes back with that parent if the server moved the
//     parent away instead (held.go).
//
// touched is called with each table it changes.
func (db *DB) cascadePulled(ctx context.Context, tx *sql.Tx, table string, id uuid.UUID, now time.Time, whole bool, touched func(string)) error {
	for _, r := range db.refs() {
		if r.parent != table {
			continue
		}
		if !r.nullable {
			// Rows that show id only in place of a held reference.
			if err := db.waitWhole(ctx, tx, r, id, now, touched); err != nil {
				return err
			}
		}
		for _, which := range []string{pendingRows, cleanRows} {
			children, err := referencing(ctx, tx, r, id, which)
			if err != nil {
				return err
			}
			for _, c := range children {
				pending := which == pendingRows
				if pending {
					own, err := ownChange(ctx, tx, r, c, whole)
					if err != nil {
						return err
					}
					if !own {
						continue
					}
				}
				touched(r.child)
				if err := pulledRule(ctx, tx, r, c, id, now, pending); err != nil {
					return err
				}
				if r.rule == ssync.OnDeleteSetNull {
					continue
				}
				if err := db.cascadePulled(ctx, tx, r.child, c, now, whole, touched); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pulledRule applies r's rule to the live row c whose referenced row, the
// row cause, a pull deleted: as a local change when pending, else as the
// server did. A row deleted so waits in ss_held for its cause to come
// back (held.go): the server may have moved the row between them away.
func pulledRule(ctx context.Context, tx *sql.Tx, r localRef, c, cause uuid.UUID, now time.Time, pending bool) error {
	switch {
	case pending && r.rule == ssync.OnDeleteSetNull:
		return clearRef(ctx, tx, r, c, now)
	case pending:
		return deleteChild(ctx, tx, r, c, now)
	case r.rule == ssync.OnDeleteSetNull:
		_, err := tx.ExecContext(ctx, "UPDATE "+quote(r.child)+" SET "+quote(r.column)+" = NULL WHERE `id` = ? AND `deleted_at` IS NULL", c.String())
		if err != nil {
			return fmt.Errorf("clear %s %s: %w", r.child, c, err)
		}
		// Held: the reference comes back if cause does (it went down
		// with a row the server moved away).
		return holdLinks(ctx, tx, nil, c, []heldLink{{ref: r, target: cause}}, false)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+quote(r.child)+" SET `deleted_at` = ? WHERE `id` = ? AND `deleted_at` IS NULL", now, c.String()); err != nil {
		return fmt.Errorf("delete %s %s: %w", r.child, c, err)
	}
	return holdCascade(ctx, tx, r.child, c, cause)
}
