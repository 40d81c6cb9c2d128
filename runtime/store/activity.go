package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Change notifications (Store.Watch) need to know, without reading any
// synchronized table, whose rows a push changed. Every push records, in
// its transaction, the version it wrote under each owner of a row it
// wrote (cascades and cleared references included) in ss_activity: one
// row per user, so a watcher learns that rows in its scope changed past
// its checkpoint, and nothing about any other user.

//
// Each row also says who made that push (writer: the pushing user and
// device, activityWriter) and the version of the last push that wrote one
// of the user's rows from anywhere else (other): a watcher that is the
// writer, past other, is told that the pushes announced are its own
// (Announcement.Own), so that a device does not sync again after its own
// push. Device ids are compared on the server, never sent.

// activityTable holds, per user, the version of the last push that wrote
// one of the user's rows, its writer, and the version of the last push by
// another writer.
var activityTable = TableDef{Name: "ss_activity", PrimaryKey: []string{"sync_id"},
	Columns: []ssync.Column{text("sync_id", 255), {Name: "version", Kind: ssync.KindInt, Size: 64},
		{Name: "writer", Kind: ssync.KindText, Default: ""}, {Name: "other", Kind: ssync.KindInt, Size: 64, Default: int64(0)}},
	Indexes: []ssync.Index{{Name: "ss_activity_version", Columns: []string{"version"}}},
}

// activityWriter is the writer recorded for a push by device of user, and
// compared with a watcher's; "" (never anyone's) without a device.
func activityWriter(user, device string) string {
	if device == "" {
		return ""
	}
	return fmt.Sprintf("%d:%s%s", len(user), user, device)
}

// noteOwner records that the push wrote a row of owner.
func (p *pusher) noteOwner(owner string) {
	if p.owners == nil {
		p.owners = map[string]bool{}
	}
	p.owners[owner] = true
}

// noteUnowned records a row of t the push wrote without knowing its owner
// (a row a cascade reached); recordActivity looks the owners up.
func (p *pusher) noteUnowned(t *serverTable, id string) {
	if p.unowned == nil {
		p.unowned = map[*serverTable][]any{}
	}
	p.unowned[t] = append(p.unowned[t], id)
}

// recordActivity records the push's version v under every owner of a row
// it wrote. It runs after the push took its version, while it holds the
// counter: pushes record their activity one at a time, in version order.
func (p *pusher) recordActivity(ctx context.Context, v uint64) error {
	for t, ids := range p.unowned {
		for start := 0; start < len(ids); start += lookupChunk {
			chunk := ids[start:min(start+lookupChunk, len(ids))]
			if err := p.activityOwners(ctx, t, chunk); err != nil {
				return err
			}
		}
	}
	owners := make([]string, 0, len(p.owners))
	for o := range p.owners {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	writer := activityWriter(p.req.Identity.SyncID, p.req.Device)
	for _, o := range owners {
		r, err := p.tx.ExecContext(ctx, p.s.stmt.bumpActivity, writer, int64(v), writer, o)
		var n int64
		if err == nil {
			n, err = r.RowsAffected()
		}
		if err == nil && n == 0 {
			_, err = p.tx.ExecContext(ctx, p.s.stmt.upsertActivity, o, int64(v), writer, int64(0))
		}
		if err != nil {
			return fmt.Errorf("ssync store: push: record activity: %w", err)
		}
	}
	if len(owners) > 0 && p.s.dialect.Notify != "" {
		if _, err := p.tx.ExecContext(ctx, p.s.dialect.Notify); err != nil {
			return fmt.Errorf("ssync store: push: notify: %w", err)
		}
	}
	return nil
}

// activityOwners notes the owners of the rows of t with the given ids.
func (p *pusher) activityOwners(ctx context.Context, t *serverTable, ids []any) error {
	d := t.d
	marks := make([]string, len(ids))
	for i := range ids {
		marks[i] = d.Placeholder(i + 1)
	}
	q := "SELECT DISTINCT " + d.Quote(ssync.ColumnSyncID) + " FROM " + d.Quote(t.coll.CollectionName()) +
		" WHERE " + d.Quote(ssync.ColumnID) + " IN (" + strings.Join(marks, ", ") + ")"
	rows, err := p.tx.QueryContext(ctx, q, ids...)
	if err != nil {
		return fmt.Errorf("ssync store: push: owners of %s rows: %w", t.coll.CollectionName(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return fmt.Errorf("ssync store: push: owners of %s rows: %w", t.coll.CollectionName(), err)
		}
		p.noteOwner(o)
	}
	return rows.Err()
}
