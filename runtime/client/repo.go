package client

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Repo is the sync-aware repository of one table with model type T. Every
// write sets ids, timestamps and change tracking so that the next
// Synchronize carries it; reads see only the active user's and linked users'
// rows. Generated accessors such as SyncNotes return a Repo.
type Repo[T any] struct {
	db    *DB
	table *ssync.Table[T]
	local *localTable
	known map[string]bool // the column names queries may use
	err   error
}

// NewRepo returns the repository of table t in db. When t is not in db's
// registry every method returns an error wrapping ErrUnregisteredTable.
func NewRepo[T any](db *DB, t *ssync.Table[T]) *Repo[T] {
	r := &Repo[T]{db: db, table: t, known: queryColumns(t.Columns)}
	r.local, r.err = db.table(t.Name)
	return r
}

// Table returns the repository's table descriptor.
func (r *Repo[T]) Table() *ssync.Table[T] { return r.table }

// Insert adds row. A nil ID gets a new time-ordered UUID, a zero CreatedAt
// the current time; UpdatedAt is set to now and the owner (SyncID) to the
// active user unless it names one of the linked users. The row's fields are
// updated in place.
func (r *Repo[T]) Insert(ctx context.Context, row *T) error {
	if r.err != nil {
		return r.err
	}
	active, _, allowed, err := r.db.activeScope()
	if err != nil {
		return err
	}
	rec := r.table.Record(row)
	if rec.SyncID == "" {
		rec.SyncID = active
	} else if !allowed(rec.SyncID) {
		return fmt.Errorf("insert into %s: %w: %q", r.table.Name, ErrForeignUser, rec.SyncID)
	}
	if rec.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("insert into %s: new id: %w", r.table.Name, err)
		}
		rec.ID = id
	}
	now := r.db.timestamp()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	} else {
		rec.CreatedAt = ssync.StoredTime(rec.CreatedAt)
	}
	rec.UpdatedAt = now
	rec.DeletedAt = nil
	args := r.table.Values(row, metaValues(rec, make([]any, 0, 5+len(r.table.Columns))))
	wctx, err := r.db.writeCtx(ctx)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", r.table.Name, err)
	}
	if err := r.db.checkParents(wctx, r.table.Name, args[5:]); err != nil {
		return fmt.Errorf("insert into %s: %w", r.table.Name, err)
	}
	if _, err := r.db.conn(wctx).ExecContext(wctx, r.local.insert, args...); err != nil {
		return fmt.Errorf("insert into %s: %w", r.table.Name, err)
	}
	r.db.wrote(ctx, r.table.Name)
	return nil
}

// Update writes row's fields over the stored row with the same ID and marks it
// changed. It returns ErrNotFound when no such live row is in the active
// scope. The owner of a row never changes.
func (r *Repo[T]) Update(ctx context.Context, row *T) error {
	if r.err != nil {
		return r.err
	}
	_, scope, _, err := r.db.activeScope()
	if err != nil {
		return err
	}
	rec := r.table.Record(row)
	now := r.db.timestamp()
	args := make([]any, 0, 3+len(r.table.Columns))
	args = append(args, now)
	args = r.table.Values(row, args)
	wctx, err := r.db.writeCtx(ctx)
	if err != nil {
		return fmt.Errorf("update %s %s: %w", r.table.Name, rec.ID, err)
	}
	if err := r.db.checkParents(wctx, r.table.Name, args[1:]); err != nil {
		return fmt.Errorf("update %s %s: %w", r.table.Name, rec.ID, err)
	}
	args = append(args, rec.ID.String(), scope)
	res, err := r.db.conn(wctx).ExecContext(wctx, r.local.update, args...)
	if err != nil {
		return fmt.Errorf("update %s %s: %w", r.table.Name, rec.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update %s %s: %w", r.table.Name, rec.ID, err)
	} else if n == 0 {
		return fmt.Errorf("update %s %s: %w", r.table.Name, rec.ID, ErrNotFound)
	}
	rec.UpdatedAt = now
	r.db.wrote(ctx, r.table.Name)
	return nil
}

// Delete soft-deletes the row with the given id: it stays in the table with
// DeletedAt set and syncs as a deletion. It returns ErrNotFound when no such
// live row is in the active scope.
func (r *Repo[T]) Delete(ctx context.Context, id uuid.UUID) error {
	if r.err != nil {
		return r.err
	}
	_, scope, _, err := r.db.activeScope()
	if err != nil {
		return err
	}
	now := r.db.timestamp()
	// The row and what its deletion does to the rows that reference it
	// (ondelete=) change together.
	return r.db.atomically(ctx, func(ctx context.Context) error {
		wctx, err := r.db.writeCtx(ctx)
		if err != nil {
			return fmt.Errorf("delete %s %s: %w", r.table.Name, id, err)
		}
		res, err := r.db.conn(wctx).ExecContext(wctx, r.local.delete, now, now, id.String(), scope)
		if err != nil {
			return fmt.Errorf("delete %s %s: %w", r.table.Name, id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete %s %s: %w", r.table.Name, id, err)
		} else if n == 0 {
			return fmt.Errorf("delete %s %s: %w", r.table.Name, id, ErrNotFound)
		}
		r.db.wrote(ctx, r.table.Name)
		if err := r.db.cascade(wctx, r.table.Name, id, now); err != nil {
			return fmt.Errorf("delete %s %s: %w", r.table.Name, id, err)
		}
		return nil
	})
}

// Get returns the live row with the given id in the active scope, or an error
// wrapping ErrNotFound.
func (r *Repo[T]) Get(ctx context.Context, id uuid.UUID) (*T, error) {
	rows, err := r.query(ctx, []SelectOption{whereID(id)})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("get %s %s: %w", r.table.Name, id, ErrNotFound)
	}
	return rows[0], nil
}

// Select returns the rows in the active scope (the active user's and its
// linked users'), oldest first (by CreatedAt, then ID) unless OrderBy says
// otherwise. Deleted rows are left out unless IncludeDeleted is given. Where
// narrows the rows; Limit and Offset page through them.
func (r *Repo[T]) Select(ctx context.Context, opts ...SelectOption) ([]*T, error) {
	return r.query(ctx, opts)
}

// Count returns how many rows Select would return with the same options,
// ignoring Limit, Offset and OrderBy.
func (r *Repo[T]) Count(ctx context.Context, opts ...SelectOption) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	q, args, err := r.buildQuery(opts, true)
	if err != nil {
		return 0, err
	}
	var n int
	if err := r.db.conn(ctx).QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", r.table.Name, err)
	}
	return n, nil
}

// SelectOption narrows or orders a Select: IncludeDeleted, Where, OrderBy,
// Limit, Offset, or the typed options of a generated repository.
type SelectOption func(*selectQuery)

// IncludeDeleted makes Select return soft-deleted rows too.
func IncludeDeleted() SelectOption { return func(q *selectQuery) { q.includeDeleted = true } }

// Limit makes Select return at most n rows.
func Limit(n int) SelectOption { return func(q *selectQuery) { q.limit = n } }

func whereID(id uuid.UUID) SelectOption { return Where(ssync.ColumnID, id.String()) }

func (r *Repo[T]) buildQuery(opts []SelectOption, count bool) (string, []any, error) {
	_, scope, _, err := r.db.activeScope()
	if err != nil {
		return "", nil, err
	}
	var sq selectQuery
	for _, o := range opts {
		if o != nil {
			o(&sq)
		}
	}
	return sq.sqlFor(r.table.Name, r.local.selectAll, scope, r.known, count)
}

func (r *Repo[T]) query(ctx context.Context, opts []SelectOption) ([]*T, error) {
	if r.err != nil {
		return nil, r.err
	}
	q, args, err := r.buildQuery(opts, false)
	if err != nil {
		return nil, err
	}
	rows, err := r.db.conn(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", r.table.Name, err)
	}
	defer rows.Close()
	var out []*T
	targets := make([]any, 0, 5+len(r.table.Columns))
	for rows.Next() {
		row := new(T)
		targets = r.table.Targets(row, metaTargets(r.table.Record(row), targets[:0]))
		if err := rows.Scan(targets...); err != nil {
			return nil, fmt.Errorf("select %s: %w", r.table.Name, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select %s: %w", r.table.Name, err)
	}
	return out, nil
}
