package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/refval"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Tables may reference each other through nullable fields (a cycle of
// tables). A push writes creates and updates in registry order, parents
// first, so a reference from a table to one that comes after it (a back
// reference, relation.back) may name a row the push writes later. Such a
// row is written with the reference NULL, and linkBack writes the
// reference once every row is written: no statement ever references a row
// that does not exist yet (MariaDB checks keys at each statement), and the
// referenced row's fate in this push (written deleted, say, under a
// deleted parent) is known when the reference is written.

// backLink is a back reference written after the rows: row id, of r's
// child table, references row parent.
type backLink struct {
	r      *relation
	id     uuid.UUID
	parent uuid.UUID
}

// incoming returns, for each table some back reference points to, the ids
// of the rows the push creates or updates in it; nil when no table has a
// back reference.
func (s *Store) incoming(sets []wire.ChangeSet) map[*serverTable]map[uuid.UUID]bool {
	if len(s.backRefs) == 0 {
		return nil
	}
	targets := map[*serverTable]bool{}
	for _, rs := range s.backRefs {
		for _, r := range rs {
			targets[r.parent] = true
		}
	}
	out := map[*serverTable]map[uuid.UUID]bool{}
	for i := range sets {
		t := s.tables[sets[i].Collection]
		if t == nil || !targets[t] {
			continue
		}
		ids := out[t]
		if ids == nil {
			ids = make(map[uuid.UUID]bool, len(sets[i].Created)+len(sets[i].Updated))
			out[t] = ids
		}
		for _, rows := range [][]any{sets[i].Created, sets[i].Updated} {
			for _, row := range rows {
				ids[t.coll.RecordOf(row).ID] = true
			}
		}
	}
	return out
}

// backLinks returns the back references of row (of t) to rows the push
// writes after it; the row is written with those columns NULL. keep are
// the user columns (by position) that are not written from the row as it
// is (absent from the pushed row, or cleared by setnull).
func (p *pusher) backLinks(t *serverTable, row any, keep ...[]int) []backLink {
	rels := p.s.backRefs[t]
	if len(rels) == 0 || p.incoming == nil {
		return nil
	}
	var out []backLink
	var values []any
	for _, r := range rels {
		if slices.ContainsFunc(keep, func(idx []int) bool { return slices.Contains(idx, r.index) }) {
			continue
		}
		if values == nil {
			values = t.coll.AppendValues(row, nil)
		}
		id, ok := refval.ID(values[r.index])
		if ok && p.incoming[r.parent][id] {
			out = append(out, backLink{r: r, id: t.coll.RecordOf(row).ID, parent: id})
		}
	}
	return out
}

// clearLinks sets the columns of links to NULL in a row's user values.
func clearLinks(values []any, links []backLink) {
	for _, l := range links {
		values[l.r.index] = nil
	}
}

// linkBack writes the back references the rows were written without, now
// that the push has written every row it creates or updates. A reference
// to a row that ended up deleted follows its rule, as for a row pushed
// under a deleted row: setnull leaves the reference cleared; cascade, and
// restrict too (the referenced row went in this very push), delete the
// referencing row and what its deletion reaches. Either is reported, and
// the row carries no writer, so that its device pulls what became of it.
func (p *pusher) linkBack(ctx context.Context) error {
	for _, l := range p.links {
		t, name := l.r.child, l.r.child.coll.CollectionName()
		if p.wrote[l.id] {
			// The row is deleted: keep its reference as pushed.
			if _, err := p.tx.ExecContext(ctx, l.r.link, l.parent.String(), l.id.String()); err != nil {
				return &RowError{Collection: name, ID: l.id, Err: p.s.refused(err)}
			}
			continue
		}
		deleted, err := p.parentDeleted(ctx, l.r.parent, l.parent)
		if err != nil {
			return err
		}
		if !deleted {
			if _, err := p.tx.ExecContext(ctx, l.r.link, l.parent.String(), l.id.String()); err != nil {
				return &RowError{Collection: name, ID: l.id, Err: p.s.refused(err)}
			}
			continue
		}
		reason := wire.ReasonParentDeleted
		if l.r.rule == ssync.OnDeleteSetNull {
			reason = wire.ReasonReferenceCleared
		}
		msg := parentDeletedMessage(l.r)
		if l.r.rule == ssync.OnDeleteRestrict {
			msg = fmt.Sprintf("the %s row it references through %s is deleted in the same push: the row is deleted too (ondelete=restrict)",
				l.r.parent.coll.CollectionName(), l.r.column)
		}
		p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: name, ID: l.id, Reason: reason, Message: msg})
		if l.r.rule == ssync.OnDeleteSetNull {
			if err := p.restamp(ctx, t, l.id); err != nil {
				return err
			}
			continue
		}
		if _, err := p.tx.ExecContext(ctx, t.delete, p.now, p.now, p.version, "", l.id.String()); err != nil {
			return &RowError{Collection: name, ID: l.id, Err: p.s.refused(err)}
		}
		if err := p.releaseRow(ctx, t, l.id, ""); err != nil {
			return err
		}
		p.wrote[l.id] = true
		p.noteWritten(t, l.id)
		if _, err := p.cascadeFrom(ctx, t, l.id, true); err != nil {
			return err
		}
	}
	return nil
}

// unlinkTombstones clears the back references of the deleted rows a purge
// may remove (purgeable, with args safe and cutoff): deleted rows of a
// cycle may reference each other, and purging goes children first, so
// without this none of them could ever go. Every device has pulled these
// rows deleted, or is past the retention window and pulls everything
// again, so the rows are changed without a new version.
func (s *Store) unlinkTombstones(ctx context.Context, tx *sql.Tx, purgeable string, safe uint64, cutoff time.Time) error {
	q := s.dialect.Quote
	for _, r := range s.relations {
		if !r.back || !r.child.coll.UserColumns()[r.index].Nullable {
			continue
		}
		column := q(r.column)
		if _, err := tx.ExecContext(ctx, "UPDATE "+q(r.child.coll.CollectionName())+" SET "+column+" = NULL WHERE "+column+" IS NOT NULL AND "+purgeable,
			int64(safe), cutoff); err != nil {
			return fmt.Errorf("ssync store: purge %s: %w", r.child.coll.CollectionName(), err)
		}
	}
	return nil
}
