package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/conflict"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// A field push (wire.ChangeSet.Fields) is a row whose absent fields are
// those the device did not change: the store writes only the changed
// ones, and the conflict policy (conflict.MergeFields) says whether the
// row is merged and which fields were overwritten.
//
// A push from an app whose schema lacks some of a collection's columns
// (an older version) carries rows without those fields (wire.ChangeSet
// Absent). The store never writes such a column: an update leaves it as
// the server has it, and a create gives it the value of a zero field, the
// default the migration gave the column. Before the hooks and the
// resolver see an updated row, its absent fields are read from the
// server's row, so that they see it whole.

// updateStmt returns the UPDATE of one row of c: every column but id, the
// owner and the user columns at the indexes in skip, then version and
// writer, WHERE id (and not deleted). Args: created at, updated at,
// deleted at, the user values not skipped, version, writer, id.
func updateStmt(d Dialect, c ssync.Collection, skip []int) string {
	q := d.Quote
	var set []string
	n := 1
	add := func(name string) {
		set = append(set, q(name)+" = "+d.Placeholder(n))
		n++
	}
	add(ssync.ColumnCreatedAt)
	add(ssync.ColumnUpdatedAt)
	add(ssync.ColumnDeletedAt)
	for i, col := range c.UserColumns() {
		if !slices.Contains(skip, i) {
			add(col.ServerName())
		}
	}
	add(columnVersion)
	add(columnWriter)
	// "deleted_at IS NULL": a row deleted by a push that committed after this
	// one looked it up stays deleted (delete wins); the write then changes
	// nothing and is reported as ignored.
	return "UPDATE " + q(c.CollectionName()) + " SET " + strings.Join(set, ", ") + " WHERE " + q(ssync.ColumnID) +
		" = " + d.Placeholder(n) + " AND " + q(ssync.ColumnDeletedAt) + " IS NULL"
}

// updateWithout returns the UPDATE that leaves the user columns at absent
// as they are, built once per set of columns.
func (t *serverTable) updateWithout(absent []int) string {
	if len(absent) == 0 {
		return t.update
	}
	key := fmt.Sprint(absent)
	if s, ok := t.partial.Load(key); ok {
		return s.(string)
	}
	s := updateStmt(t.d, t.coll, absent)
	t.partial.Store(key, s)
	return s
}

// userIndexes returns the positions among the user columns of the columns
// named (device names), in column order.
func (t *serverTable) userIndexes(names []string) []int {
	var out []int
	for i, c := range t.coll.UserColumns() {
		if slices.Contains(names, c.Name) {
			out = append(out, i)
		}
	}
	return out
}

// withoutUser returns args without the user values at absent; the user
// values begin at args[from].
func withoutUser(args []any, from int, absent []int) []any {
	if len(absent) == 0 {
		return args
	}
	out := args[:from:from]
	for i, a := range args[from:] {
		if !slices.Contains(absent, i) {
			out = append(out, a)
		}
	}
	return out
}

// fill reads the server's values of the user columns at absent into row,
// from current (the server's whole row) when the push read it, and
// returns the row.
func (p *pusher) fill(ctx context.Context, t *serverTable, row any, absent []int, current any) (any, error) {
	if len(absent) == 0 {
		return row, nil
	}
	if current != nil {
		filled, err := wire.WithFields(t.coll, row, current, t.names(absent))
		if err != nil {
			return nil, fmt.Errorf("ssync store: push %s: %w", t.coll.CollectionName(), err)
		}
		return filled, nil
	}
	targets := t.coll.AppendTargets(row, nil)
	cols := t.coll.UserColumns()
	names := make([]string, len(absent))
	dst := make([]any, len(absent))
	for i, a := range absent {
		names[i], dst[i] = t.d.Quote(cols[a].ServerName()), targets[a]
	}
	rec := t.coll.RecordOf(row)
	q := "SELECT " + strings.Join(names, ", ") + " FROM " + t.d.Quote(t.coll.CollectionName()) +
		" WHERE " + t.d.Quote(ssync.ColumnID) + " = " + t.d.Placeholder(1)
	if err := p.tx.QueryRowContext(ctx, q, rec.ID.String()).Scan(dst...); err != nil {
		return nil, fmt.Errorf("ssync store: push %s %s: read the fields the pushing app lacks: %w", t.coll.CollectionName(), rec.ID, err)
	}
	return row, nil
}

// prefetchFields reads in bulk, locked, the server rows of the
// field-pushed rows of cs: what the store has of them (p.known) and, when
// it has them, their whole rows, which the per-field rule compares with
// their bases (load hands each out once). A locking read sees the latest
// committed rows, also where a transaction's plain reads see its snapshot
// (REPEATABLE READ on MariaDB): a push of other fields by another device
// that committed meanwhile is seen, and the row is merged.
func (p *pusher) prefetchFields(ctx context.Context, t *serverTable, cs *wire.ChangeSet) error {
	p.loaded = nil
	var ids []any
	for _, row := range cs.Updated {
		if cs.Fields[row] != nil {
			ids = append(ids, t.coll.RecordOf(row).ID.String())
		}
	}
	if len(ids) == 0 {
		return nil
	}
	for start := 0; start < len(ids); start += lookupChunk {
		chunk := ids[start:min(start+lookupChunk, len(ids))]
		if err := p.lookupMany(ctx, t, t.lookupMany(len(chunk))+t.d.ForUpdate, chunk); err != nil {
			return err
		}
	}
	var found []any
	for _, id := range ids {
		if u, err := uuid.Parse(id.(string)); err == nil && p.known[u].found {
			found = append(found, id)
		}
	}
	p.loaded = make(map[uuid.UUID]any, len(found))
	for start := 0; start < len(found); start += lookupChunk {
		chunk := found[start:min(start+lookupChunk, len(found))]
		in := make([]string, len(chunk))
		for i := range chunk {
			in[i] = t.d.Placeholder(i + 1)
		}
		q := strings.Replace(t.load, " = "+t.d.Placeholder(1), " IN ("+strings.Join(in, ", ")+")", 1) + t.d.ForUpdate
		if err := p.loadMany(ctx, t, q, chunk); err != nil {
			return err
		}
	}
	return nil
}

// loadMany runs q, a bulk read of the whole rows of the ids of chunk, into
// p.loaded.
func (p *pusher) loadMany(ctx context.Context, t *serverTable, q string, chunk []any) error {
	rows, err := p.tx.QueryContext(ctx, q, chunk...)
	if err != nil {
		return fmt.Errorf("ssync store: push %s: read the rows pushed by field: %w", t.coll.CollectionName(), err)
	}
	defer rows.Close()
	for rows.Next() {
		row := t.coll.NewRow()
		if err := rows.Scan(t.coll.AppendTargets(row, metaTargets(t.coll.RecordOf(row), nil))...); err != nil {
			return fmt.Errorf("ssync store: push %s: read the rows pushed by field: %w", t.coll.CollectionName(), err)
		}
		p.loaded[t.coll.RecordOf(row).ID] = row
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ssync store: push %s: read the rows pushed by field: %w", t.coll.CollectionName(), err)
	}
	return nil
}

// names returns the device names of the user columns at positions.
func (t *serverTable) names(positions []int) []string {
	var out []string
	cols := t.coll.UserColumns()
	for _, i := range positions {
		out = append(out, cols[i].Name)
	}
	return out
}

// fieldMerge applies the conflict policy to a field push of a row the
// server has (current): what it does, and the device names of the pushed
// fields whose server value differs from the pushed base.
func fieldMerge(t *serverTable, ex existing, push conflict.Push, v conflict.Verdict, current any, fc *wire.FieldChange) (conflict.Fields, []string) {
	differs := wire.DiffFields(t.coll, current, fc.Base, fc.Changed)
	var changed []string
	for i, d := range differs {
		if d {
			changed = append(changed, fc.Changed[i])
		}
	}
	return conflict.MergeFields(ex.row(), push, v, differs), changed
}

// wireName returns the wire name of the user column with device name name.
func (t *serverTable) wireName(name string) string {
	for _, c := range t.coll.UserColumns() {
		if c.Name == name {
			return c.Wire
		}
	}
	return name
}

// hookFields runs the BeforeWrite hook of w's collection and returns the
// absent columns (by position) still to leave as the server has them:
// those the hook did not change (a hook that sets a field the push left
// out, in a field push or from an older app, has it written), and whether
// the hook changed any user field: the pushing device then lacks the
// written row, and pulls it back.
func (p *pusher) hookFields(ctx context.Context, t *serverTable, w *Write, absent []int) ([]int, bool, error) {
	if p.s.hooks[w.Collection].BeforeWrite == nil || w.Row == nil {
		return absent, false, p.hook(ctx, t, w)
	}
	before, err := wire.WithFields(t.coll, w.Row, w.Row, nil)
	if err != nil {
		return nil, false, err
	}
	if err := p.hook(ctx, t, w); err != nil {
		return nil, false, err
	}
	var all []string
	for _, c := range t.coll.UserColumns() {
		all = append(all, c.Name)
	}
	changed := wire.DiffFields(t.coll, before, w.Row, all)
	var keep []int
	for _, a := range absent {
		if !changed[a] {
			keep = append(keep, a)
		}
	}
	return keep, slices.Contains(changed, true), nil
}
