package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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
	// before is the server's row as it was before the push wrote it, for
	// an existing row under a restrict rule: a row refused for its
	// reference keeps the server's version.
	before any
}

// keepBefore sets the server's row, before the push writes it, on the
// restrict links of an existing row, loading it unless current holds it
// already; it returns the row loaded (or current).
func (p *pusher) keepBefore(ctx context.Context, t *serverTable, id uuid.UUID, links []backLink, current any) (any, error) {
	for i := range links {
		if links[i].r.rule != ssync.OnDeleteRestrict {
			continue
		}
		if current == nil {
			var err error
			if current, err = p.load(ctx, t, id); err != nil {
				return nil, err
			}
		}
		links[i].before = current
	}
	return current, nil
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
// writes after it; the row is written with those columns NULL, and
// linkBack writes them (or applies their rule). absent are the user
// columns (by position) the pushed row leaves out, which are not written.
func (p *pusher) backLinks(t *serverTable, row any, absent []int) []backLink {
	out := p.cycleLinks(t, row, absent)
	rels := p.s.backRefs[t]
	if len(rels) == 0 || p.incoming == nil {
		return out
	}
	var values []any
	for _, r := range rels {
		if slices.Contains(absent, r.index) {
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

// cycleLinks returns the self-references of a new row that close a cycle
// among the rows the push creates (orderByParents): they are written as
// back references.
func (p *pusher) cycleLinks(t *serverTable, row any, absent []int) []backLink {
	id := t.coll.RecordOf(row).ID
	rels := p.cycle[id]
	if len(rels) == 0 {
		return nil
	}
	values := t.coll.AppendValues(row, nil)
	var out []backLink
	for _, r := range rels {
		if parent, ok := refval.ID(values[r.index]); ok && !slices.Contains(absent, r.index) {
			out = append(out, backLink{r: r, id: id, parent: parent})
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
// under a deleted row: setnull leaves the reference cleared; cascade
// deletes the referencing row and what its deletion reaches; restrict
// refuses it: an existing row gets the server's version back, a new one is
// deleted (the row it needed went in this very push). Each is reported, and
// the row carries no writer, so that its device pulls what became of it.
//
// The references to rows left live (and those of rows left deleted, which
// keep their references as pushed) are written first, a few statements
// per reference column, so that the deletes that follow see them and apply
// their rules to them.
func (p *pusher) linkBack(ctx context.Context) error {
	var set, ruled []backLink
	for _, l := range p.links {
		if p.wrote[l.id] {
			set = append(set, l) // the row is deleted
			continue
		}
		deleted, err := p.parentDeleted(ctx, l.r.parent, l.parent)
		if err != nil {
			return err
		}
		if deleted {
			ruled = append(ruled, l)
		} else {
			set = append(set, l)
		}
	}
	if err := p.setLinks(ctx, set); err != nil {
		return err
	}
	for _, l := range ruled {
		if p.wrote[l.id] {
			// Deleted meanwhile by the rule of another row.
			if err := p.setLinks(ctx, []backLink{l}); err != nil {
				return err
			}
			continue
		}
		if err := p.parentGone(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// linkChunk is how many references one statement of setLinks writes.
const linkChunk = 300

// setLinks writes links, grouped by reference column, in chunks.
func (p *pusher) setLinks(ctx context.Context, links []backLink) error {
	byRel := map[*relation][]backLink{}
	var order []*relation
	for _, l := range links {
		if byRel[l.r] == nil {
			order = append(order, l.r)
		}
		byRel[l.r] = append(byRel[l.r], l)
	}
	for _, r := range order {
		all := byRel[r]
		for start := 0; start < len(all); start += linkChunk {
			chunk := all[start:min(start+linkChunk, len(all))]
			args := make([]any, 0, 3*len(chunk))
			for _, l := range chunk {
				args = append(args, l.id.String(), l.parent.String())
			}
			for _, l := range chunk {
				args = append(args, l.id.String())
			}
			if _, err := p.tx.ExecContext(ctx, r.linkMany(len(chunk)), args...); err != nil {
				id := chunk[0].id
				if len(chunk) > 1 {
					id = uuid.Nil
				}
				return &RowError{Collection: r.child.coll.CollectionName(), ID: id, Err: p.s.refused(err)}
			}
		}
	}
	return nil
}

// parentGone applies the rule of link l, whose referenced row ended up
// deleted, to its live row, and reports it.
func (p *pusher) parentGone(ctx context.Context, l backLink) error {
	t, name := l.r.child, l.r.child.coll.CollectionName()
	reason := wire.ReasonParentDeleted
	if l.r.rule == ssync.OnDeleteSetNull {
		reason = wire.ReasonReferenceCleared
	}
	msg := parentDeletedMessage(l.r)
	if l.r.rule == ssync.OnDeleteRestrict {
		msg = fmt.Sprintf("the %s row it references through %s is deleted in the same push: the row is deleted too (ondelete=restrict)",
			l.r.parent.coll.CollectionName(), l.r.column)
	}
	if l.before != nil {
		msg = fmt.Sprintf("the %s row it references through %s is deleted in the same push: the row keeps the server's version (ondelete=restrict)",
			l.r.parent.coll.CollectionName(), l.r.column)
	}
	p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: name, ID: l.id, Reason: reason, Message: msg})
	if l.r.rule == ssync.OnDeleteSetNull {
		return p.restamp(ctx, t, l.id)
	}
	if l.before != nil {
		if kept, err := p.restore(ctx, t, l.before); kept || err != nil {
			return err
		}
	}
	if _, err := p.tx.ExecContext(ctx, t.delete, p.now, p.now, p.version, "", l.id.String()); err != nil {
		return &RowError{Collection: name, ID: l.id, Err: p.s.refused(err)}
	}
	if err := p.releaseRow(ctx, t, l.id, ""); err != nil {
		return err
	}
	p.wrote[l.id] = true
	p.noteWritten(t, l.id)
	_, err := p.cascadeFrom(ctx, t, l.id, true)
	return err
}

// restore writes back the server's row before (as it was before this
// push wrote it), with no writer, so that the pushing device pulls it
// again. It reports false, having written nothing, when a row that before
// references is deleted by now (this push deleted it before it could see
// the reference): the row then cannot keep that version.
func (p *pusher) restore(ctx context.Context, t *serverTable, before any) (bool, error) {
	u, err := p.parentsOf(ctx, t, before, nil)
	if err != nil || u.relation != nil {
		return false, err
	}
	rec := t.coll.RecordOf(before)
	args := make([]any, 0, 6+t.nUser)
	args = append(args, ssync.StoredTime(rec.CreatedAt), ssync.StoredTime(rec.UpdatedAt), timeOrNil(rec.DeletedAt))
	args = t.coll.AppendValues(before, args)
	args = append(args, p.version, "", rec.ID.String())
	if _, err := p.tx.ExecContext(ctx, t.updateWithout(nil), args...); err != nil {
		return false, &RowError{Collection: t.coll.CollectionName(), ID: rec.ID, Err: p.s.refused(err)}
	}
	if err := p.blobRefs(ctx, t, before, existing{found: true, owner: rec.SyncID}); err != nil {
		return false, err
	}
	p.noteWritten(t, rec.ID)
	return true, nil
}

// linkMany returns the statement that sets column of table (both quoted)
// on n rows: UPDATE ... SET column = CASE id WHEN child THEN parent ... END
// WHERE id IN (...). Each parent id is cast to the column's type, which
// PostgreSQL cannot infer through CASE.
func linkMany(d Dialect, table, column, typ string) func(n int) string {
	id := d.Quote(ssync.ColumnID)
	return func(n int) string {
		var b strings.Builder
		b.WriteString("UPDATE " + table + " SET " + column + " = CASE " + id)
		for i := range n {
			b.WriteString(" WHEN " + d.Placeholder(2*i+1) + " THEN CAST(" + d.Placeholder(2*i+2) + " AS " + typ + ")")
		}
		b.WriteString(" END WHERE " + id + " IN (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d.Placeholder(2*n + i + 1))
		}
		b.WriteString(")")
		return b.String()
	}
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
