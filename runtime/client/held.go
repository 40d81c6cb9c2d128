package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/internal/refval"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Held references.
//
// A pull applies rows with the device's foreign-key checks off: the server
// checked them. Yet a pulled row may reference a row the device does not
// have yet: a table's rows come in the order they were last written, so a
// subtask comes before its parent when the parent was edited after it; a
// reference may point into a table pulled later, or in another group of
// collections at another checkpoint; and a pull may be cut between any two
// batches. The device never stores such a reference. It holds it in
// ss_held until the referenced row arrives:
//
//   - a nullable reference is written as NULL: the row reads as having no
//     parent yet;
//   - a NOT NULL reference of a row the device has keeps the local value;
//   - a row the device does not have, with a NOT NULL reference, is not
//     written at all: it waits whole in ss_held, encoded as on the wire.
//
// A pulled delete also deletes the rows under the deleted row at once
// (cascadePulled), so that no live row references a deleted one when a
// pull is cut; the server's own versions of those rows come later in the
// pull. A row deleted so because the row between it and the deleted one
// was deleted too waits for that row in ss_held (col heldCascade): if the
// server moved that row away instead, the pull brings it back, and the row
// comes back with it.
//
// When the referenced row arrives (in any later batch or sync), the
// reference is written, without becoming a local change and as the base
// of its field, and a waiting row is applied as if just pulled. A newer
// pulled version of the row, or its delete, replaces what was held. A
// local write that changes a held reference drops it: the app's value
// wins. Pushes leave a held reference out, so edits made meanwhile never
// change it on the server (whole-row pushes included).
var heldDDL = []string{
	`CREATE TABLE IF NOT EXISTS ss_held (
		collection TEXT NOT NULL,
		id TEXT NOT NULL,
		col TEXT NOT NULL,
		target TEXT NOT NULL,
		row BLOB,
		owner TEXT,
		PRIMARY KEY (collection, id, col)) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS ss_held_target ON ss_held (target)`,
}

// heldCascade is the col of an ss_held row that a pulled delete deleted
// (see above); target is the row through which it was deleted.
const heldCascade = ""

// holdCascade records that a pulled delete deleted the clean row id of
// table because it deleted the row cause.
func holdCascade(ctx context.Context, tx *sql.Tx, table string, id, cause uuid.UUID) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ss_held (collection, id, col, target, row) VALUES (?, ?, ?, ?, NULL)`,
		table, id.String(), heldCascade, cause.String()); err != nil {
		return fmt.Errorf("hold a deleted row of %s: %w", table, err)
	}
	return nil
}

// uncascade brings back a row a pulled delete deleted (holdCascade)
// whose cause came back live, unless another of its references names a
// deleted row: then it waits for that one. It reports whether the row
// came back.
func uncascade(ctx context.Context, tx *sql.Tx, lt *localTable, e heldEntry) (bool, error) {
	for _, r := range lt.refs {
		var parent string
		err := tx.QueryRowContext(ctx, "SELECT p.`id` FROM "+quote(r.child)+" c JOIN "+quote(r.parent)+" p ON p.`id` = c."+quote(r.column)+
			" WHERE c.`id` = ? AND p.`deleted_at` IS NOT NULL", e.id).Scan(&parent)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("bring back %s %s: %w", e.collection, e.id, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE ss_held SET target = ? WHERE collection = ? AND id = ? AND col = ?`, parent, e.collection, e.id, heldCascade)
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+quote(e.collection)+" SET `deleted_at` = NULL WHERE `id` = ? AND "+
		quote(columnDirty)+" = 0", e.id); err != nil {
		return false, fmt.Errorf("bring back %s %s: %w", e.collection, e.id, err)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM ss_held WHERE collection = ? AND id = ? AND col = ?`, e.collection, e.id, heldCascade)
	return err == nil, err
}

// waitWhole makes the clean live rows that hold, through r's NOT NULL
// column, id (deleted by a pull) in place of a held reference wait whole
// for their referenced row: the device has no value to show there. Such a
// row is deleted locally (not a local change) and held whole with the held
// reference; the rows under it wait for it to come back (holdCascade).
func (db *DB) waitWhole(ctx context.Context, tx *sql.Tx, r localRef, id uuid.UUID, now time.Time, touched func(string)) error {
	lt := db.tables[r.child]
	rows, err := tx.QueryContext(ctx, withColumns("SELECT t."+quote(ssync.ColumnID)+", h.target FROM "+quote(r.child)+
		" t JOIN ss_held h ON h.collection = ? AND h.id = t."+quote(ssync.ColumnID)+" AND h.col = ? AND h.row IS NULL"+
		" WHERE t."+quote(r.column)+" = ? AND t.`deleted_at` IS NULL AND t.{dirty} = 0"), r.child, r.column, id.String())
	if err != nil {
		return fmt.Errorf("rows of %s holding %s: %w", r.child, r.column, err)
	}
	var links []heldLink
	var ids []uuid.UUID
	for rows.Next() {
		var c, target uuid.UUID
		if err := rows.Scan(&c, &target); err != nil {
			rows.Close()
			return fmt.Errorf("rows of %s holding %s: %w", r.child, r.column, err)
		}
		ids, links = append(ids, c), append(links, heldLink{ref: r, target: target})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, c := range ids {
		row, err := readRow(ctx, tx, lt, c)
		if err != nil {
			return err
		}
		data, err := rowWith(lt.coll, row, r, links[i].target)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+quote(r.child)+" SET `deleted_at` = ? WHERE `id` = ?", now, c.String()); err != nil {
			return fmt.Errorf("hold %s %s: %w", r.child, c, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ss_held WHERE collection = ? AND id = ?`, r.child, c.String()); err != nil {
			return fmt.Errorf("hold %s %s: %w", r.child, c, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ss_held (collection, id, col, target, row, owner) VALUES (?, ?, ?, ?, ?, ?)`,
			r.child, c.String(), r.column, links[i].target.String(), data, lt.coll.RecordOf(row).SyncID); err != nil {
			return fmt.Errorf("hold %s %s: %w", r.child, c, err)
		}
		touched(r.child)
		if err := db.cascadeUnder(ctx, tx, r.child, c, now, touched); err != nil {
			return err
		}
	}
	return nil
}

// cascadeUnder deletes, as a pull does, the clean live rows under the row
// id of table, which now waits whole: they wait for it (holdCascade).
func (db *DB) cascadeUnder(ctx context.Context, tx *sql.Tx, table string, id uuid.UUID, now time.Time, touched func(string)) error {
	for _, r := range db.refs() {
		if r.parent != table {
			continue
		}
		children, err := referencing(ctx, tx, r, id, cleanRows)
		if err != nil {
			return err
		}
		for _, c := range children {
			touched(r.child)
			if r.rule == ssync.OnDeleteSetNull {
				if err := holdLinks(ctx, tx, db.tables[r.child], c, []heldLink{{ref: r, target: id}}, false); err != nil {
					return err
				}
			}
			if err := pulledRule(ctx, tx, r, c, id, now, false); err != nil {
				return err
			}
			if r.rule != ssync.OnDeleteSetNull {
				if err := db.cascadeUnder(ctx, tx, r.child, c, now, touched); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readRow reads row id of lt.
func readRow(ctx context.Context, tx *sql.Tx, lt *localTable, id uuid.UUID) (any, error) {
	row := lt.coll.NewRow()
	rec := lt.coll.RecordOf(row)
	err := tx.QueryRowContext(ctx, lt.selectAll+" WHERE `id` = ?", id.String()).Scan(lt.coll.AppendTargets(row, metaTargets(rec, nil))...)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", lt.coll.CollectionName(), id, err)
	}
	return row, nil
}

// rowWith returns row as on the wire, with target in r's column.
func rowWith(c ssync.Collection, row any, r localRef, target uuid.UUID) ([]byte, error) {
	w := &jwriter.Writer{}
	c.EncodeRow(w, row)
	data, err := w.BuildBytes()
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	fields[c.UserColumns()[r.index].Wire] = json.RawMessage(`"` + target.String() + `"`)
	return json.Marshal(fields)
}

// heldLink is a reference of a pulled row to a row the device lacks.
type heldLink struct {
	ref    localRef
	target uuid.UUID
}

// sqlString quotes s as an SQLite string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// heldTriggerDDL returns the statements that (re)create the triggers that
// drop a held reference of c's table when a local write changes it.
func heldTriggerDDL(c ssync.Collection) []string {
	var out []string
	name := c.CollectionName()
	for _, col := range c.UserColumns() {
		if col.Ref == "" {
			continue
		}
		trigger := quote("ss_held_" + name + "_" + col.Name)
		v := quote(col.Name)
		out = append(out, "DROP TRIGGER IF EXISTS "+trigger,
			"CREATE TRIGGER "+trigger+" AFTER UPDATE OF "+v+" ON "+quote(name)+
				" WHEN NEW."+quote(columnDirty)+" > OLD."+quote(columnDirty)+" AND OLD."+v+" IS NOT NEW."+v+""+
				" BEGIN DELETE FROM ss_held WHERE collection = "+sqlString(name)+" AND id = OLD."+quote(ssync.ColumnID)+
				" AND col = "+sqlString(col.Name)+"; END")
	}
	return out
}

// heldRefs returns the held references of table, by row id: pushes leave
// them out (wire.ChangeSet.Absent), so the server keeps its value, never
// the one the device shows meanwhile, and does not judge a reference this
// device's user may not read; nil when there are none.
func (db *DB) heldRefs(ctx context.Context, lt *localTable) (map[uuid.UUID][]string, error) {
	if len(lt.refs) == 0 {
		return nil, nil
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, col FROM ss_held WHERE collection = ? AND row IS NULL AND col <> ?`,
		lt.coll.CollectionName(), heldCascade)
	if err != nil {
		return nil, fmt.Errorf("read held references: %w", err)
	}
	defer rows.Close()
	var out map[uuid.UUID][]string
	for rows.Next() {
		var id uuid.UUID
		var col string
		if err := rows.Scan(&id, &col); err != nil {
			return nil, fmt.Errorf("read held references: %w", err)
		}
		if out == nil {
			out = map[uuid.UUID][]string{}
		}
		out[id] = append(out[id], col)
	}
	return out, rows.Err()
}

// anyHeld reports whether the device holds references (see above).
func anyHeld(ctx context.Context, q *sql.Tx) (bool, error) {
	var held bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM ss_held)`).Scan(&held)
	return held, err
}

// idList is ids as a JSON array, for json_each.
func idList(ids []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(id)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// missingRefs returns, for the pulled rows of lt, the references to rows
// the device does not have and that are not among rows themselves (a
// subtask pulled with its parent), by row id; nil when there are none.
func missingRefs(ctx context.Context, tx *sql.Tx, lt *localTable, rows []pulled) (map[uuid.UUID][]heldLink, error) {
	if len(lt.refs) == 0 {
		return nil, nil
	}
	name := lt.coll.CollectionName()
	var out map[uuid.UUID][]heldLink
	var batch map[uuid.UUID]bool // ids of rows, for self-references
	for _, r := range lt.refs {
		seen := map[uuid.UUID]bool{}
		var targets []string
		for _, p := range rows {
			if id, ok := refval.ID(p.args[nMeta+r.index]); ok && !seen[id] {
				seen[id] = true
				targets = append(targets, id.String())
			}
		}
		if len(targets) == 0 {
			continue
		}
		missing, err := absentIDs(ctx, tx, r.parent, targets)
		if err != nil {
			return nil, err
		}
		if len(missing) == 0 {
			continue
		}
		if r.parent == name && batch == nil {
			batch = map[uuid.UUID]bool{}
			for _, p := range rows {
				batch[p.id] = true
			}
		}
		for _, p := range rows {
			id, ok := refval.ID(p.args[nMeta+r.index])
			if !ok || !missing[id] || batch[id] {
				continue
			}
			if out == nil {
				out = map[uuid.UUID][]heldLink{}
			}
			out[p.id] = append(out[p.id], heldLink{ref: r, target: id})
		}
	}
	return out, nil
}

// absentIDs returns which of ids table lacks.
func absentIDs(ctx context.Context, tx *sql.Tx, table string, ids []string) (map[uuid.UUID]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT j.value FROM json_each(?) j WHERE NOT EXISTS (SELECT 1 FROM "+
		quote(table)+" p WHERE p."+quote(ssync.ColumnID)+" = j.value)", idList(ids))
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", table, err)
	}
	defer rows.Close()
	out := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up %s: %w", table, err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// substitute replaces, in the apply arguments of a pulled row, each held
// reference by what the device stores meanwhile (see above). It returns
// false when the row must wait whole.
func substitute(ctx context.Context, tx *sql.Tx, lt *localTable, id uuid.UUID, args []any, links []heldLink) (bool, error) {
	for _, l := range links {
		i := nMeta + l.ref.index
		if l.ref.nullable {
			args[i] = nil
			continue
		}
		var v any
		err := tx.QueryRowContext(ctx, "SELECT "+quote(l.ref.column)+" FROM "+quote(l.ref.child)+
			" WHERE "+quote(ssync.ColumnID)+" = ?", id.String()).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read %s.%s: %w", l.ref.child, l.ref.column, err)
		}
		args[i] = v
	}
	return true, nil
}

// holdUnderWaiting holds the self-references of the rows of batch that
// name rows of the same batch held whole (waiting): missingRefs took those
// for rows the batch brings.
func holdUnderWaiting(ctx context.Context, tx *sql.Tx, lt *localTable, batch []pulled, waiting map[uuid.UUID]bool) error {
	for _, r := range lt.refs {
		if r.parent != r.child || !r.nullable {
			continue
		}
		for _, p := range batch {
			target, ok := refval.ID(p.args[nMeta+r.index])
			if !ok || !waiting[target] || waiting[p.id] {
				continue
			}
			res, err := tx.ExecContext(ctx, "UPDATE "+quote(r.child)+" SET "+quote(r.column)+" = NULL WHERE "+
				quote(ssync.ColumnID)+" = ? AND "+quote(r.column)+" = ?", p.id.String(), target.String())
			if err != nil {
				return fmt.Errorf("hold a reference of %s: %w", r.child, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if err := holdLinks(ctx, tx, lt, p.id, []heldLink{{ref: r, target: target}}, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// holdLinks records the held references of a pulled row the device wrote.
// A row merged into local changes holds only the references it did not
// change itself (merged): those it changed stay the device's.
func holdLinks(ctx context.Context, tx *sql.Tx, lt *localTable, id uuid.UUID, links []heldLink, merged bool) error {
	for _, l := range links {
		if merged {
			var changed bool
			err := tx.QueryRowContext(ctx, "SELECT "+quote(fieldDirty(l.ref.column))+" IS NOT NULL FROM "+
				quote(changedName(l.ref.child))+" WHERE "+quote(ssync.ColumnID)+" = ?", id.String()).Scan(&changed)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read changed fields of %s: %w", l.ref.child, err)
			}
			if changed {
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ss_held (collection, id, col, target, row) VALUES (?, ?, ?, ?, NULL)`,
			l.ref.child, id.String(), l.ref.column, l.target.String()); err != nil {
			return fmt.Errorf("hold a reference of %s: %w", l.ref.child, err)
		}
	}
	return nil
}

// holdRow keeps a pulled row the device cannot write yet (see above),
// waiting for the first of links.
func holdRow(ctx context.Context, tx *sql.Tx, lt *localTable, row any, links []heldLink) error {
	w := &jwriter.Writer{}
	lt.coll.EncodeRow(w, row)
	data, err := w.BuildBytes()
	if err != nil {
		return err
	}
	rec := lt.coll.RecordOf(row)
	_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO ss_held (collection, id, col, target, row, owner) VALUES (?, ?, ?, ?, ?, ?)`,
		lt.coll.CollectionName(), rec.ID.String(), links[0].ref.column, links[0].target.String(), data, rec.SyncID)
	if err != nil {
		return fmt.Errorf("hold a row of %s: %w", lt.coll.CollectionName(), err)
	}
	return nil
}

// dropUnseenHeld forgets, at the end of a full re-pull of table in scope,
// the rows waiting whole that it did not return (gone on the server), and
// what is held for rows the device no longer has.
func dropUnseenHeld(ctx context.Context, tx *sql.Tx, table, scope string) error {
	for _, q := range []struct {
		stmt string
		args []any
	}{
		{`DELETE FROM ss_held WHERE collection = ? AND row IS NOT NULL AND owner IN (SELECT value FROM json_each(?))
			AND id NOT IN (SELECT id FROM ss_resync WHERE collection = ?)`, []any{table, scope, table}},
		{"DELETE FROM ss_held WHERE collection = ? AND row IS NULL AND id NOT IN (SELECT `id` FROM " + quote(table) + ")", []any{table}},
	} {
		if _, err := tx.ExecContext(ctx, q.stmt, q.args...); err != nil {
			return fmt.Errorf("forget what %s held: %w", table, err)
		}
	}
	return nil
}

// dropHeld forgets what is held for rows ids of table: a newer version of
// them, or their delete, was pulled.
func dropHeld(ctx context.Context, tx *sql.Tx, table string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM ss_held WHERE collection = ? AND id IN (SELECT value FROM json_each(?))`, table, idList(ids))
	return err
}

// heldEntry is one row of ss_held.
type heldEntry struct {
	collection, id, col, target string
	row                         []byte
}

// release writes what waited for the rows ids, which the device now has:
// held references, and waiting rows (applied by ap, whose ids are then
// released in turn).
func (ap *applier) release(ids []string) error {
	for len(ids) > 0 {
		entries, err := heldFor(ap.ctx, ap.tx, ids)
		if err != nil {
			return err
		}
		ids = nil
		for _, e := range entries {
			lt := ap.s.db.tables[e.collection]
			if lt == nil {
				continue // a table no longer in the model
			}
			if e.row == nil && e.col == heldCascade {
				back, err := uncascade(ap.ctx, ap.tx, lt, e)
				if err != nil {
					return err
				}
				if back {
					ap.touch(e.collection)
					ids = append(ids, e.id)
				}
				continue
			}
			if e.row == nil {
				if err := restoreLink(ap.ctx, ap.tx, e); err != nil {
					return err
				}
				continue
			}
			if err := dropHeld(ap.ctx, ap.tx, e.collection, []string{e.id}); err != nil {
				return err
			}
			row := lt.coll.NewRow()
			l := &jlexer.Lexer{Data: e.row}
			if err := lt.coll.DecodeRow(l, row, ssync.DecodeOptions{}); err != nil {
				return fmt.Errorf("a held row of %s: %w", e.collection, err)
			}
			ap.created = 1 // new to the device
			written, err := ap.rows(lt, []any{row}, true)
			if err != nil {
				return err
			}
			ids = append(ids, uuidStrings(written)...)
		}
	}
	return nil
}

// heldFor reads what waits for the rows ids.
func heldFor(ctx context.Context, tx *sql.Tx, ids []string) ([]heldEntry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT collection, id, col, target, row FROM ss_held
		WHERE target IN (SELECT value FROM json_each(?)) ORDER BY collection, id, col`, idList(ids))
	if err != nil {
		return nil, fmt.Errorf("read held references: %w", err)
	}
	defer rows.Close()
	var out []heldEntry
	for rows.Next() {
		var e heldEntry
		if err := rows.Scan(&e.collection, &e.id, &e.col, &e.target, &e.row); err != nil {
			return nil, fmt.Errorf("read held references: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// restoreLink writes a held reference whose row arrived, as the server's
// value (and the base of the field), and forgets it.
func restoreLink(ctx context.Context, tx *sql.Tx, e heldEntry) error {
	t, c, id := quote(e.collection), quote(e.col), quote(ssync.ColumnID)
	for _, q := range []string{
		"UPDATE " + t + " SET " + c + " = ? WHERE " + id + " = ? AND `deleted_at` IS NULL",
		"UPDATE " + quote(changedName(e.collection)) + " SET " + c + " = ? WHERE " + id + " = ? AND " + quote(fieldDirty(e.col)) + " IS NULL",
	} {
		if _, err := tx.ExecContext(ctx, q, e.target, e.id); err != nil {
			return fmt.Errorf("write a held reference of %s: %w", e.collection, err)
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM ss_held WHERE collection = ? AND id = ? AND col = ?`, e.collection, e.id, e.col)
	return err
}
