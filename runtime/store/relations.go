package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/refval"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// relation is one reference column: rows of child hold in column the id of
// a row of parent, and rule says what deleting that row does to them.
type relation struct {
	parent, child *serverTable
	column        string // the column's server name
	index         int    // its place among the child's user columns
	rule          ssync.OnDelete
	// back: parent comes after child in the registry's order (a nullable
	// reference inside a cycle of tables). A push writes such a reference
	// to a row it also writes once both are written (see linkBack).
	back bool
	// linkMany sets the column on n rows: args child id and parent id per
	// row, then the n child ids.
	linkMany func(n int) string
	// live selects the live children of a parent id, locking them
	// (Dialect.ForUpdate): args parent id.
	live string
	// clear sets the column to NULL on one live child: args updated at,
	// version, child id.
	clear string
}

// relations returns every reference of the registry's tables, parents
// first.
func relations(d Dialect, reg *ssync.Registry, tables map[string]*serverTable) []*relation {
	q, p := d.Quote, d.Placeholder
	var out []*relation
	for _, c := range reg.Collections() {
		child := tables[c.CollectionName()]
		for i, col := range c.UserColumns() {
			if col.Ref == "" {
				continue
			}
			if tables[col.Ref] == nil {
				continue // NewRegistry's caller registered no such table
			}
			t, column := q(c.CollectionName()), q(col.ServerName())
			out = append(out, &relation{parent: tables[col.Ref], child: child, column: col.ServerName(), index: i, rule: col.Rule(),
				back:     reg.Index(col.Ref) > reg.Index(c.CollectionName()),
				linkMany: linkMany(d, t, column, d.ColumnType(col)),
				live: "SELECT " + q(ssync.ColumnID) + " FROM " + t + " WHERE " + column + " = " + p(1) +
					" AND " + q(ssync.ColumnDeletedAt) + " IS NULL" + d.ForUpdate,
				clear: "UPDATE " + t + " SET " + column + " = NULL, " + q(ssync.ColumnUpdatedAt) + " = " + p(1) + ", " +
					q(columnVersion) + " = " + p(2) + ", " + q(columnWriter) + " = '' WHERE " + q(ssync.ColumnID) + " = " + p(3) +
					" AND " + q(ssync.ColumnDeletedAt) + " IS NULL",
			})
		}
	}
	return out
}

// liveChildren returns the ids of the live rows that reference id through
// r, locked until the push ends.
func (p *pusher) liveChildren(ctx context.Context, r *relation, id uuid.UUID) ([]uuid.UUID, error) {
	rows, err := p.tx.QueryContext(ctx, r.live, id.String())
	if err != nil {
		return nil, fmt.Errorf("ssync store: push: rows referencing %s %s: %w", r.parent.coll.CollectionName(), id, err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var c uuid.UUID
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("ssync store: push: rows referencing %s %s: %w", r.parent.coll.CollectionName(), id, err)
		}
		ids = append(ids, c)
	}
	return ids, rows.Err()
}

// deletePlan is what deleting one row does to the rows that reference it,
// recursively: the rows cascading deletes reach, the references set null,
// and the first restrict rule a live row holds.
type deletePlan struct {
	deletes    []planned
	clears     []planned
	restricted *relation
	held       int // live rows holding the restricting reference
}

type planned struct {
	table    *serverTable
	relation *relation
	id       uuid.UUID
}

// plan walks the references to the row id of t. Rows this push deletes
// itself do not hold a restrict rule; cascades follow the tree (a
// self-reference included) and visit each row once.
//
// A forced plan (the row is deleted because its own parent is) treats
// restrict as cascade: the row cannot stay.
func (p *pusher) plan(ctx context.Context, t *serverTable, id uuid.UUID, dp *deletePlan, seen map[uuid.UUID]bool, forced bool) error {
	for _, r := range p.s.relations {
		if r.parent != t {
			continue
		}
		ids, err := p.liveChildren(ctx, r, id)
		if err != nil {
			return err
		}
		for _, c := range ids {
			if seen[c] {
				continue
			}
			rule := r.rule
			if forced && rule == ssync.OnDeleteRestrict {
				rule = ssync.OnDeleteCascade
			}
			switch rule {
			case ssync.OnDeleteRestrict:
				if !p.deleting[c] && dp.restricted == nil {
					dp.restricted, dp.held = r, 1
				} else if !p.deleting[c] && dp.restricted == r {
					dp.held++
				}
			case ssync.OnDeleteSetNull:
				dp.clears = append(dp.clears, planned{table: r.child, relation: r, id: c})
			default:
				seen[c] = true
				dp.deletes = append(dp.deletes, planned{table: r.child, relation: r, id: c})
				if err := p.plan(ctx, r.child, c, dp, seen, forced); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// restrictedDelete reports a delete that a restrict rule refuses: the row
// stays, and is stamped again so that the deleting device pulls it back.
func (p *pusher) restrictedDelete(ctx context.Context, t *serverTable, id uuid.UUID, dp *deletePlan) error {
	if err := p.restamp(ctx, t, id); err != nil {
		return err
	}
	p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: t.coll.CollectionName(), ID: id, Reason: wire.ReasonRestricted,
		Message: fmt.Sprintf("%d live %s rows reference it (%s, ondelete=restrict): delete them first",
			dp.held, dp.restricted.child.coll.CollectionName(), dp.restricted.column)})
	return nil
}

// applyPlan deletes and clears what deleting a row reaches. The rows are
// written with no writer, so that every device pulls them, the deleting
// one included.
func (p *pusher) applyPlan(ctx context.Context, dp *deletePlan) error {
	for _, c := range dp.clears {
		if _, err := p.tx.ExecContext(ctx, c.relation.clear, p.now, p.version, c.id.String()); err != nil {
			return &RowError{Collection: c.table.coll.CollectionName(), ID: c.id, Err: p.s.refused(err)}
		}
		p.noteWritten(c.table, c.id)
		p.noteUnowned(c.table, c.id.String())
	}
	for _, d := range dp.deletes {
		if _, err := p.tx.ExecContext(ctx, d.table.delete, p.now, p.now, p.version, "", d.id.String()); err != nil {
			return &RowError{Collection: d.table.coll.CollectionName(), ID: d.id, Err: p.s.refused(err)}
		}
		if err := p.releaseRow(ctx, d.table, d.id, ""); err != nil {
			return err
		}
		p.wrote[d.id] = true
		p.noteWritten(d.table, d.id)
		p.noteUnowned(d.table, d.id.String())
	}
	return nil
}

// restamp gives a row this push's version and no writer: every device
// pulls the server's row again.
func (p *pusher) restamp(ctx context.Context, t *serverTable, id uuid.UUID) error {
	if _, err := p.tx.ExecContext(ctx, t.restamp, p.version, id.String()); err != nil {
		return fmt.Errorf("ssync store: push %s %s: %w", t.coll.CollectionName(), id, err)
	}
	p.noteWritten(t, id)
	p.noteUnowned(t, id.String())
	return nil
}

// underDeleted is what a pushed row becomes because a row it references is
// deleted on the server.
type underDeleted struct {
	relation *relation // the first deleted parent's reference; nil: none
	clear    []int     // user columns to write as NULL (setnull)
}

// parentsOf checks the rows that row (of t) references, each read with a
// shared lock so that a concurrent delete of one waits for this push (or
// this push for it, and then sees it deleted). A parent this push wrote
// counts as this push left it. The references in links are left to
// linkBack.
func (p *pusher) parentsOf(ctx context.Context, t *serverTable, row any, links []backLink) (underDeleted, error) {
	var u underDeleted
	var values []any
	for _, r := range p.s.relations {
		if r.child != t || slices.ContainsFunc(links, func(l backLink) bool { return l.r == r }) {
			continue
		}
		if values == nil {
			values = t.coll.AppendValues(row, nil)
		}
		id, ok := refval.ID(values[r.index])
		if !ok {
			continue
		}
		deleted, err := p.parentDeleted(ctx, r.parent, id)
		if err != nil {
			return u, err
		}
		if !deleted {
			continue
		}
		if r.rule == ssync.OnDeleteSetNull {
			u.clear = append(u.clear, r.index)
		}
		if u.relation == nil || u.relation.rule == ssync.OnDeleteSetNull {
			u.relation = r
		}
	}
	return u, nil
}

// parentDeleted reports whether the row id of t exists and is deleted.
func (p *pusher) parentDeleted(ctx context.Context, t *serverTable, id uuid.UUID) (bool, error) {
	if e, ok := p.wrote[id]; ok {
		return e, nil
	}
	var deletedAt *time.Time
	err := p.tx.QueryRowContext(ctx, t.lookupShared, id.String()).Scan(&deletedAt)
	if errors.Is(err, sql.ErrNoRows) {
		// The foreign key answers for a missing parent.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ssync store: push: read %s %s: %w", t.coll.CollectionName(), id, err)
	}
	return deletedAt != nil, nil
}

// parentDeletedMessage explains an IgnoredRow of reason
// wire.ReasonParentDeleted or wire.ReasonReferenceCleared.
func parentDeletedMessage(r *relation) string {
	switch r.rule {
	case ssync.OnDeleteSetNull:
		return fmt.Sprintf("the %s row it references through %s is deleted on the server: the reference was cleared (ondelete=setnull)",
			r.parent.coll.CollectionName(), r.column)
	case ssync.OnDeleteRestrict:
		return fmt.Sprintf("the %s row it references through %s is deleted on the server: the row was refused (ondelete=restrict)",
			r.parent.coll.CollectionName(), r.column)
	}
	return fmt.Sprintf("the %s row it references through %s is deleted on the server: the row is deleted too (ondelete=cascade)",
		r.parent.coll.CollectionName(), r.column)
}

// cascadeFrom deletes and clears what the deletion of row id of t reaches.
// With forced, restrict rules cascade too; without, a restricted plan is
// returned unapplied.
func (p *pusher) cascadeFrom(ctx context.Context, t *serverTable, id uuid.UUID, forced bool) (*deletePlan, error) {
	dp := &deletePlan{}
	if !p.s.isParent[t] {
		return dp, nil
	}
	if err := p.plan(ctx, t, id, dp, map[uuid.UUID]bool{id: true}, forced); err != nil {
		return nil, err
	}
	if dp.restricted != nil {
		return dp, nil
	}
	return dp, p.applyPlan(ctx, dp)
}

// selfReferencing reports whether a column of t references t itself.
func (s *Store) selfReferencing(t *serverTable) bool {
	for _, r := range s.relations {
		if r.child == t && r.parent == t {
			return true
		}
	}
	return false
}

// orderByParents orders the rows created in one change set of a table that
// references itself so that each comes after the row it references when
// both are in the set: stores that check keys at each statement (MariaDB)
// then accept a tree created offline. A reference that closes a cycle
// inside the set (a row that references itself, or rows that reference
// each other) cannot be ordered: it is returned in cycle, by row id, and
// written once every row is (as a back reference, linkBack).
func orderByParents(t *serverTable, rels []*relation, rows []any) (out []any, cycle map[uuid.UUID][]*relation) {
	var self []*relation
	for _, r := range rels {
		if r.child == t && r.parent == t {
			self = append(self, r)
		}
	}
	if len(self) == 0 {
		return rows, nil
	}
	index := make(map[uuid.UUID]int, len(rows))
	for i, row := range rows {
		index[t.coll.RecordOf(row).ID] = i
	}
	out = make([]any, 0, len(rows))
	state := make([]byte, len(rows)) // 0 new, 1 visiting, 2 placed
	var place func(i int)
	place = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		values := t.coll.AppendValues(rows[i], nil)
		for _, r := range self {
			id, ok := refval.ID(values[r.index])
			j, in := index[id]
			switch {
			case !ok || !in:
			case state[j] == 1: // on the path to here: a cycle
				if cycle == nil {
					cycle = map[uuid.UUID][]*relation{}
				}
				rid := t.coll.RecordOf(rows[i]).ID
				cycle[rid] = append(cycle[rid], r)
			default:
				place(j)
			}
		}
		state[i] = 2
		out = append(out, rows[i])
	}
	for i := range rows {
		place(i)
	}
	return out, cycle
}

// underDeletedParent applies the rule of the reference u found to a
// deleted row: the pushed row is reported and becomes deleted (cascade; a
// new row under restrict), keeps the server's version (an existing row
// under restrict: done), or is written with the reference cleared
// (setnull).
func (p *pusher) underDeletedParent(ctx context.Context, t *serverTable, rec *ssync.Record, ex existing, u underDeleted) (done bool, err error) {
	reason := wire.ReasonParentDeleted
	if u.relation.rule == ssync.OnDeleteSetNull {
		reason = wire.ReasonReferenceCleared
	}
	p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: t.coll.CollectionName(), ID: rec.ID,
		Reason: reason, Message: parentDeletedMessage(u.relation)})
	switch {
	case u.relation.rule == ssync.OnDeleteSetNull:
		return false, nil
	case u.relation.rule == ssync.OnDeleteRestrict && ex.found:
		p.wrote[rec.ID] = ex.deleted
		return true, p.restamp(ctx, t, rec.ID)
	}
	if rec.DeletedAt == nil {
		at := p.now
		rec.DeletedAt = &at
	}
	return false, nil
}

// clearColumns sets the user columns at idx of a row's values to NULL.
func clearColumns(values []any, idx []int) {
	for _, i := range idx {
		values[i] = nil
	}
}
