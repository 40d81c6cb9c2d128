package sim

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// row is one stored row, on the server or on a device.
type row struct {
	coll    string
	id      uuid.UUID
	owner   string
	deleted bool
	data    any // the row, a pointer to the model type
	// Server only.
	version, created uint64
	origin, writer   string
	// Device only.
	dirty int64
	known bool
}

// canon is a row's content as canonical JSON, deletedAt left out (compared
// on its own, by instant: see compareDevice), updatedAt too when mask is
// set (a server delete stamps it).
func canon(c ssync.Collection, data any, mask bool) string {
	cp := c.NewRow()
	w := &jwriter.Writer{}
	c.EncodeRow(w, data)
	b, _ := w.BuildBytes()
	// Re-encode a copy so the caller's row is left alone.
	if err := decodeInto(c, b, cp); err != nil {
		return "undecodable: " + err.Error()
	}
	rec := c.RecordOf(cp)
	rec.DeletedAt = nil
	if mask {
		rec.UpdatedAt = time.Time{}
	}
	w = &jwriter.Writer{}
	c.EncodeRow(w, cp)
	b, _ = w.BuildBytes()
	return string(b)
}

// table is the rows of one collection by id.
type table map[uuid.UUID]*row

// scanRows reads every row of every collection with the given extra
// columns appended to each row's scan targets.
func (w *world) scanRows(reg *ssync.Registry, db *sql.DB, quote func(string) string, server bool) (map[string]table, error) {
	out := map[string]table{}
	for _, c := range reg.Collections() {
		cols := []string{ssync.ColumnID, ssync.ColumnCreatedAt, ssync.ColumnUpdatedAt, ssync.ColumnDeletedAt, ssync.ColumnSyncID}
		for _, col := range c.UserColumns() {
			if server {
				cols = append(cols, col.ServerName())
			} else {
				cols = append(cols, col.Name)
			}
		}
		if server {
			cols = append(cols, "ss_version", "ss_created_version", "ss_origin", "ss_writer")
		} else {
			cols = append(cols, "ss_dirty", "ss_known")
		}
		quoted := make([]string, len(cols))
		for i, n := range cols {
			quoted[i] = quote(n)
		}
		rows, err := db.QueryContext(w.ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+quote(c.CollectionName()))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.CollectionName(), err)
		}
		t := table{}
		for rows.Next() {
			data := c.NewRow()
			rec := c.RecordOf(data)
			r := &row{coll: c.CollectionName(), data: data}
			targets := []any{&rec.ID, &rec.CreatedAt, &rec.UpdatedAt, &rec.DeletedAt, &rec.SyncID}
			targets = c.AppendTargets(data, targets)
			var v, cv int64
			if server {
				targets = append(targets, &v, &cv, &r.origin, &r.writer)
			} else {
				targets = append(targets, &r.dirty, &r.known)
			}
			if err := rows.Scan(targets...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", c.CollectionName(), err)
			}
			r.id, r.owner, r.deleted = rec.ID, rec.SyncID, rec.DeletedAt != nil
			r.version, r.created = uint64(v), uint64(cv)
			t[r.id] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.CollectionName(), err)
		}
		out[c.CollectionName()] = t
	}
	return out, nil
}

// serverRows reads every row of the server store. It holds the server's
// lock while it reads: a background sync's fault may restart the server
// and close the database handle at any moment.
func (w *world) serverRows() map[string]table {
	w.srv.mu.Lock()
	rows, err := w.scanRows(w.reg, w.srv.db.Load(), w.cfg.Backend.Dialect.Quote, true)
	w.srv.mu.Unlock()
	if err != nil {
		w.t.Fatalf("sim: read the server store: %v", err)
	}
	return rows
}

func (w *world) deviceRows(d *device) map[string]table {
	rows, err := w.scanRows(d.reg, d.db.SQL(), func(s string) string { return `"` + s + `"` }, false)
	if err != nil {
		w.violate("%s: read the device database: %v", d.label, err)
		return map[string]table{}
	}
	return rows
}

func sortedIDs(t table) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(t))
	for id := range t {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids
}

// compareDevice checks that d holds exactly the server's rows of its scope:
// every live server row, with the same content; no live row the server
// does not have live; no row of a user outside the scope; no change left
// unsent.
func (w *world) compareDevice(d *device, when string) {
	srv := w.serverRows()
	loc := w.deviceRows(d)
	scope := d.user.scope()
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 5 {
			w.violate("%s: %s: %s", when, d.label, fmt.Sprintf(format, args...))
		}
	}
	for _, c := range d.reg.Collections() {
		name := c.CollectionName()
		sc, _ := w.reg.Lookup(name)
		for _, id := range sortedIDs(srv[name]) {
			s := srv[name][id]
			if !scope[s.owner] {
				continue
			}
			w.rep.RowsChecked++
			l := loc[name][id]
			lbl := w.label(name, id)
			switch {
			case !s.deleted && l == nil:
				report("%s %s is live on the server but missing on the device", short(name), lbl)
			case !s.deleted && l.deleted:
				report("%s %s is live on the server but deleted on the device", short(name), lbl)
			case !s.deleted:
				// A device of an older app version holds the fields it
				// knows: the server's row is seen through its model.
				// A reference to a row the device may not read is held:
				// the device reads nil (runtime/client/held.go).
				if got, want := canon(c, l.data, false), canon(c, heldView(c, project(sc, c, s.data), srv, scope), false); got != want {
					report("%s %s differs:\n      device %s\n      server %s", short(name), lbl, got, want)
				}
			case l != nil && !l.deleted:
				report("%s %s is deleted on the server but live on the device (it came back)", short(name), lbl)
			case l != nil:
				// A delete carries its deletedAt: every device stores the
				// server's.
				if got, want := *c.RecordOf(l.data).DeletedAt, *sc.RecordOf(s.data).DeletedAt; !got.Equal(want) {
					report("%s %s is deleted at %s on the device, at %s on the server", short(name), lbl,
						got.UTC().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
				}
			}
		}
		for _, id := range sortedIDs(loc[name]) {
			l := loc[name][id]
			lbl := w.label(name, id)
			if !scope[l.owner] {
				report("%s %s belongs to %s, outside the device's scope", short(name), lbl, l.owner)
				continue
			}
			if l.dirty > 0 {
				report("%s %s still has unsent changes (ss_dirty=%d) after a successful sync", short(name), lbl, l.dirty)
			}
			if s := srv[name][id]; s == nil && !l.deleted {
				report("%s %s is live on the device but the server never had it", short(name), lbl)
			}
		}
	}
	if n, err := d.db.PendingPushes(w.ctx); err != nil || n != 0 {
		report("%d pushes still wait in the outbox after a successful sync (err %v)", n, err)
	}
	if bad > 5 {
		w.violate("%s: %s: ... and %d more differences", when, d.label, bad-5)
	}
}

// project returns row data of collection from as a row of collection to
// (the same table in another app version): the fields to does not know
// are left out, those from does not know are zero.
func project(from, to ssync.Collection, data any) any {
	if from == to {
		return data
	}
	w := &jwriter.Writer{}
	from.EncodeRow(w, data)
	b, _ := w.BuildBytes()
	out := to.NewRow()
	if err := decodeInto(to, b, out); err != nil {
		panic(fmt.Sprintf("sim: a %s row does not decode in another version of its model: %v", from.CollectionName(), err))
	}
	return out
}

// heldView returns data as a device of scope holds it: its nullable
// references to rows outside scope (or that the server does not have)
// nil, since a device never stores a reference to a row it lacks.
func heldView(c ssync.Collection, data any, srv map[string]table, scope map[string]bool) any {
	var clear []string
	for _, r := range refsOf(c, data) {
		if t := srv[r.col.Ref][r.id]; r.col.Nullable && (t == nil || !scope[t.owner]) {
			clear = append(clear, r.col.Wire)
		}
	}
	if len(clear) == 0 {
		return data
	}
	fields := jsonFields(c, data)
	for _, f := range clear {
		fields[f] = json.RawMessage("null")
	}
	return fromFields(c, fields)
}

// withFields returns a copy of dst with the fields (by wire name) of src.
func withFields(c ssync.Collection, dst, src any, names []string) any {
	d, s := jsonFields(c, dst), jsonFields(c, src)
	for _, f := range names {
		d[f] = s[f]
	}
	return fromFields(c, d)
}

// jsonFields returns the fields of row by wire name, as JSON.
func jsonFields(c ssync.Collection, row any) map[string]json.RawMessage {
	w := &jwriter.Writer{}
	c.EncodeRow(w, row)
	b, _ := w.BuildBytes()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		panic(fmt.Sprintf("sim: a %s row is not a JSON object: %v", c.CollectionName(), err))
	}
	return fields
}

// fromFields decodes a row of c from its fields.
func fromFields(c ssync.Collection, fields map[string]json.RawMessage) any {
	b, _ := json.Marshal(fields)
	out := c.NewRow()
	if err := decodeInto(c, b, out); err != nil {
		panic(fmt.Sprintf("sim: a %s row does not decode from its fields: %v", c.CollectionName(), err))
	}
	return out
}

func decodeInto(c ssync.Collection, b []byte, dst any) error {
	l := &jlexer.Lexer{Data: b}
	if err := c.DecodeRow(l, dst, ssync.DecodeOptions{}); err != nil {
		return err
	}
	return l.Error()
}
