package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/ssync-go/ssync/runtime/internal/refval"
)

// reference is a row that a pushed row references through a foreign key.
type reference struct {
	table *serverTable // the referenced table
	id    uuid.UUID    // the referenced row
	from  *RowError    // the refusal that names the referencing row
}

// noteRefs records the rows that row, about to be written, references
// (vals are its user values, by column); checkRefs checks them once the
// push has written every row. The columns at absent are not written: the
// row keeps the server's values, whoever they reference (a device that
// holds a reference to a row it may not read leaves it out).
func (p *pusher) noteRefs(t *serverTable, row any, vals []any, absent []int) {
	for i, c := range t.coll.UserColumns() {
		if c.Ref == "" || slices.Contains(absent, i) {
			continue
		}
		id, ok := refval.ID(vals[i])
		if !ok {
			continue
		}
		from := &RowError{Collection: t.coll.CollectionName(), ID: t.coll.RecordOf(row).ID, Err: ErrDanglingReference}
		p.refs = append(p.refs, reference{table: p.s.tables[c.Ref], id: id, from: from})
	}
}

// refValues returns the row's user values as noteRefs takes them: those
// the push writes, or, when some are to be cleared before the write
// (clearColumns, clearLinks), a copy taken first, so that the references
// are checked as the row arrived.
func refValues(user []any, clearing bool) []any {
	if !clearing {
		return user
	}
	return slices.Clone(user)
}

// checkRefs refuses the push, naming the first row at fault, when a row it
// wrote references a row the server does not have or a row of a user the
// pusher may not read: both answer ErrDanglingReference, so that a
// reference does not tell whether a stranger's row exists (the foreign key
// alone would accept a reference to it).
func (p *pusher) checkRefs(ctx context.Context) error {
	if len(p.refs) == 0 {
		return nil
	}
	owners := map[*serverTable]map[uuid.UUID]string{}
	for _, r := range p.refs {
		if owners[r.table] == nil {
			owners[r.table] = map[uuid.UUID]string{}
		}
		owners[r.table][r.id] = ""
	}
	for t, ids := range owners {
		if err := p.ownersOf(ctx, t, ids); err != nil {
			return err
		}
	}
	for _, r := range p.refs {
		owner := owners[r.table][r.id]
		if owner == "" || !p.req.Identity.Allowed(owner) {
			return r.from
		}
	}
	return nil
}

// ownersOf fills in the owner of each row of t in ids that the store has;
// the others stay empty.
func (p *pusher) ownersOf(ctx context.Context, t *serverTable, ids map[uuid.UUID]string) error {
	all := make([]any, 0, len(ids))
	for id := range ids {
		all = append(all, id.String())
	}
	for start := 0; start < len(all); start += lookupChunk {
		chunk := all[start:min(start+lookupChunk, len(all))]
		if err := p.scanOwners(ctx, t, chunk, ids); err != nil {
			return fmt.Errorf("ssync store: push: references to %s: %w", t.coll.CollectionName(), err)
		}
	}
	return nil
}

// scanOwners looks up one chunk of ownersOf.
func (p *pusher) scanOwners(ctx context.Context, t *serverTable, chunk []any, ids map[uuid.UUID]string) error {
	rows, err := p.tx.QueryContext(ctx, t.lookupMany(len(chunk)), chunk...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e existing
		var id uuid.UUID
		var deletedAt, version any
		if err := rows.Scan(&id, &e.owner, &deletedAt, &version, &e.writer); err != nil {
			return err
		}
		ids[id] = e.owner
	}
	return rows.Err()
}
