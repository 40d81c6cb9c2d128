package client

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Per-field change tracking. Each synchronized table has a side table,
// ss_changed_<table>, with one row per row of the table that the server
// knows and that has local changes not yet acknowledged. It holds, for
// each user column, the value the device last saw from the server (the
// base; the same column, nullable) and the change counter of the local
// write that last changed it ("ss_d_<column>", NULL while unchanged), plus
// the row's counter (ss_dirty) and ss_whole, set when the row's pending
// change is not known field by field (it predates the side table, or was
// made while its creation was being pushed): such a row is pushed whole.
//
// An AFTER UPDATE trigger fills it on every local write of a known row
// (the counter moves; pulls never move it): the first write to a field
// keeps the field's old value as its base. An acknowledged push clears the
// fields it carried (their counters are not above the pushed one) and
// drops the row once nothing newer is pending. A push to a server that
// takes field pushes (wire.FeatureFields) carries, for such a row, only
// the fields whose value differs from their base, with the base. A pull
// of a row with pending field changes takes the server's values of the
// other fields.

// Names of the side table's own columns.
const (
	changedDirty = "ss_dirty"
	changedWhole = "ss_whole"
)

// changedName returns the side table of table.
func changedName(table string) string { return "ss_changed_" + table }

// isChangedTable reports whether name is the side table of one of reg's
// tables.
func isChangedTable(reg *ssync.Registry, name string) bool {
	for _, n := range reg.Names() {
		if changedName(n) == name {
			return true
		}
	}
	return false
}

// fieldDirty returns the side table's counter column of user column col.
func fieldDirty(col string) string { return "ss_d_" + col }

// changedTable describes the side table of c (see above): its columns
// have the user columns' types, so that bases read back as the model's
// values.
func changedTable(c ssync.Collection) sqlddl.Table {
	cols := []ssync.Column{
		{Name: ssync.ColumnID, Kind: ssync.KindUUID},
		{Name: changedDirty, Kind: ssync.KindInt, Size: 64},
		{Name: changedWhole, Kind: ssync.KindInt, Size: 64, Default: int64(0)},
	}
	for _, col := range c.UserColumns() {
		cols = append(cols, ssync.Column{Name: col.Name, Kind: col.Kind, Size: col.Size, Nullable: true},
			ssync.Column{Name: fieldDirty(col.Name), Kind: ssync.KindInt, Size: 64, Nullable: true})
	}
	return sqlddl.Table{Name: changedName(c.CollectionName()), Columns: cols, PrimaryKey: []string{ssync.ColumnID}}
}

// trackDDL returns the statements that (re)create the trigger that tracks
// the changed fields of c's table, from the columns of the model.
func trackDDL(c ssync.Collection) []string {
	name := c.CollectionName()
	trigger := quote("ss_track_" + name)
	cols := []string{quote(ssync.ColumnID), quote(changedDirty), quote(changedWhole)}
	vals := []string{"OLD." + quote(ssync.ColumnID), "NEW." + quote(columnDirty), "0"}
	set := []string{quote(changedDirty) + " = excluded." + quote(changedDirty)}
	for _, col := range c.UserColumns() {
		v, d := quote(col.Name), quote(fieldDirty(col.Name))
		cols = append(cols, v, d)
		vals = append(vals, "OLD."+v, "CASE WHEN OLD."+v+" IS NOT NEW."+v+" THEN NEW."+quote(columnDirty)+" END")
		set = append(set, v+" = CASE WHEN "+d+" IS NULL THEN excluded."+v+" ELSE "+v+" END",
			d+" = COALESCE(excluded."+d+", "+d+")")
	}
	return []string{
		"DROP TRIGGER IF EXISTS " + trigger,
		"CREATE TRIGGER " + trigger + " AFTER UPDATE ON " + quote(name) +
			" WHEN NEW." + quote(columnDirty) + " > OLD." + quote(columnDirty) + " AND OLD." + quote(columnKnown) + " = 1" +
			" AND NEW." + quote(ssync.ColumnDeletedAt) + " IS NULL BEGIN " +
			"INSERT INTO " + quote(changedName(name)) + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")" +
			" ON CONFLICT (" + quote(ssync.ColumnID) + ") DO UPDATE SET " + strings.Join(set, ", ") + "; END",
	}
}

// markWhole records, in the migration's transaction, that the pending
// changes of the known rows of table are not known field by field: its
// side table is new, and their changes predate it.
func markWhole(ctx context.Context, tx queryer, table string) error {
	return markWhereWhole(ctx, tx, table, "", nil)
}

// fieldStatements are the statements of lt's side table.
type fieldStatements struct {
	// read reads the rows pushed field by field: id, then per user column
	// its base and its counter.
	read string
	// merge writes a pulled row's values of the fields not changed
	// locally into a row with pending field changes. Args: the user
	// values, id.
	merge string
	// rebase sets, after merge, the base of each field changed locally to
	// the pulled value: the value the device last saw from the server.
	// Without it a field changed back to a base the server has left
	// behind would look unchanged and not be pushed. Args: the user
	// values, id.
	rebase string
	// wholeMoved marks as whole the created rows of a push that changed
	// again while it was sent. Args: counter, ids.
	wholeMoved string
	// clearPushed clears the field counters a push carried, of rows that
	// changed again since. Args: counter, ids.
	clearPushed string
	// dropPushed drops the rows whose whole pending change a push
	// carried. Args: ids, counter.
	dropPushed string
	// dropClean drops the rows of rows no longer pending.
	dropClean string
	// left selects the ids among ids (%s) still in the side table.
	left string
}

func newFieldStatements(c ssync.Collection) fieldStatements {
	t, ct := quote(c.CollectionName()), quote(changedName(c.CollectionName()))
	id := quote(ssync.ColumnID)
	read := []string{id}
	var merge, rebase, clear []string
	for _, col := range c.UserColumns() {
		v, d := quote(col.Name), quote(fieldDirty(col.Name))
		read = append(read, v, d)
		merge = append(merge, v+" = CASE WHEN s."+d+" IS NULL THEN ? ELSE "+t+"."+v+" END")
		rebase = append(rebase, v+" = CASE WHEN "+d+" IS NULL THEN "+v+" ELSE ? END")
		clear = append(clear, d+" = CASE WHEN "+d+" <= ?1 THEN NULL ELSE "+d+" END")
	}
	fs := fieldStatements{
		read: "SELECT " + strings.Join(read, ", ") + " FROM " + ct + " WHERE " + quote(changedWhole) + " = 0",
		wholeMoved: "INSERT INTO " + ct + " (" + id + ", " + quote(changedDirty) + ", " + quote(changedWhole) + ") SELECT " + id + ", {dirty}, 1 FROM " + t +
			" WHERE {known} = 0 AND {dirty} <> ? AND " + id + " IN (%s) ON CONFLICT (" + id + ") DO UPDATE SET " + quote(changedWhole) + " = 1",
		dropPushed: "DELETE FROM " + ct + " WHERE " + id + " IN (%s) AND " + quote(changedDirty) + " <= ?",
		left:       "SELECT " + id + " FROM " + ct + " WHERE " + id + " IN (%s)",
		dropClean: "DELETE FROM " + ct + " WHERE NOT EXISTS (SELECT 1 FROM " + t + " WHERE " + t + "." + id + " = " + ct + "." + id +
			" AND " + t + ".{dirty} > 0)",
	}
	if len(merge) > 0 {
		fs.merge = "UPDATE " + t + " SET " + strings.Join(merge, ", ") + " FROM " + ct + " AS s WHERE " + t + "." + id + " = ? AND s." + id + " = " + t + "." + id +
			" AND s." + quote(changedWhole) + " = 0 AND " + t + ".`deleted_at` IS NULL AND " + t + ".{dirty} > 0"
		fs.rebase = "UPDATE " + ct + " SET " + strings.Join(rebase, ", ") + " WHERE " + id + " = ? AND " + quote(changedWhole) + " = 0"
		fs.clearPushed = "UPDATE " + ct + " SET " + strings.Join(clear, ", ") + " WHERE " + id + " IN (%s) AND " + quote(changedDirty) + " > ?1"
	}
	for _, stmt := range []*string{&fs.read, &fs.merge, &fs.rebase, &fs.wholeMoved, &fs.clearPushed, &fs.dropPushed, &fs.dropClean, &fs.left} {
		*stmt = withColumns(*stmt)
	}
	return fs
}

// changedFields reads the rows of lt pushed field by field: for each id,
// the fields changed locally (device names, in column order) and a row
// holding their bases.
func (db *DB) changedFields(ctx context.Context, lt *localTable) (map[string]*wire.FieldChange, error) {
	rows, err := db.sql.QueryContext(ctx, lt.fields.read)
	if err != nil {
		return nil, fmt.Errorf("ssync client: read the changed fields of %s: %w", lt.coll.CollectionName(), err)
	}
	defer rows.Close()
	cols := lt.coll.UserColumns()
	out := map[string]*wire.FieldChange{}
	var id string
	dirty := make([]sql.NullInt64, len(cols))
	for rows.Next() {
		base := lt.coll.NewRow()
		values := lt.coll.AppendTargets(base, nil)
		targets := make([]any, 0, 1+2*len(cols))
		targets = append(targets, &id)
		for i := range cols {
			targets = append(targets, values[i], &dirty[i])
		}
		if err := rows.Scan(targets...); err != nil {
			return nil, fmt.Errorf("ssync client: read the changed fields of %s: %w", lt.coll.CollectionName(), err)
		}
		f := &wire.FieldChange{Base: base}
		for i, c := range cols {
			if dirty[i].Valid {
				f.Changed = append(f.Changed, c.Name)
			}
		}
		out[id] = f
	}
	return out, rows.Err()
}

// fieldPush returns what a field push sends of row: the fields of f that
// the row's app knows (not in absent) and whose value differs from their
// base (a field changed back to its base is not sent), with f's base.
func fieldPush(c ssync.Collection, row any, f *wire.FieldChange, absent []string) *wire.FieldChange {
	differs := wire.DiffFields(c, row, f.Base, f.Changed)
	out := &wire.FieldChange{Base: f.Base, Changed: []string{}}
	for i, name := range f.Changed {
		if differs[i] && !slices.Contains(absent, name) {
			out.Changed = append(out.Changed, name)
		}
	}
	return out
}

// dropCleanFields forgets the side-table rows of rows no longer pending
// (acknowledged, or deleted by a pull: delete wins).
func (db *DB) dropCleanFields(ctx context.Context) error {
	for _, name := range db.reg.Names() {
		if _, err := db.sql.ExecContext(ctx, db.tables[name].fields.dropClean); err != nil {
			return fmt.Errorf("ssync client: forget acknowledged field changes of %s: %w", name, err)
		}
	}
	return nil
}

// ackFields updates the side table of lt for the acknowledged push of the
// rows ids (a JSON array of them, which in reads) at change counter dirty,
// before the rows themselves are acknowledged: created rows that changed
// since they were read become whole (their changes were not tracked), the fields the
// push carried are no longer pending, and rows with nothing newer are
// dropped. It returns the ids of the rows left: those that changed again
// since they were read.
func ackFields(ctx context.Context, tx *sql.Tx, lt *localTable, in string, dirty int64, ids string) ([]string, error) {
	fs := lt.fields
	stmts := []struct {
		q    string
		args []any
	}{
		{fs.wholeMoved, []any{dirty, ids}},
		{fs.clearPushed, []any{dirty, ids}},
		{fs.dropPushed, []any{ids, dirty}},
	}
	fail := func(err error) error {
		return fmt.Errorf("ssync client: acknowledge push: changed fields of %s: %w", lt.coll.CollectionName(), err)
	}
	for _, st := range stmts {
		if st.q == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(st.q, in), st.args...); err != nil {
			return nil, fail(err)
		}
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(fs.left, in), ids)
	if err != nil {
		return nil, fail(err)
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fail(err)
		}
		left = append(left, id)
	}
	return left, rows.Err()
}

// rebase sets, for the field-pushed rows of an acknowledged push (body)
// that changed again while it was on the way (moved: by collection and
// id, the counter pushed), the base of each field the push carried and
// that changed again since to the value pushed: the server holds it now,
// so the next push does not take it for another device's change.
func rebase(ctx context.Context, tx *sql.Tx, db *DB, body []byte, moved map[string]map[string]int64) error {
	sets, err := wire.DecodeChangeSets(body, db.reg, ssync.DecodeOptions{})
	if err != nil {
		return fmt.Errorf("ssync client: acknowledge push: read the push: %w", err)
	}
	for _, cs := range sets {
		ids, lt := moved[cs.Collection], db.tables[cs.Collection]
		if len(ids) == 0 || len(cs.Fields) == 0 || lt == nil {
			continue
		}
		cols := lt.coll.UserColumns()
		for _, row := range cs.Updated {
			f, id := cs.Fields[row], lt.coll.RecordOf(row).ID.String()
			dirty, ok := ids[id]
			if f == nil || !ok {
				continue
			}
			values := lt.coll.AppendValues(row, nil)
			for i, c := range cols {
				if !slices.Contains(f.Changed, c.Name) {
					continue
				}
				q := "UPDATE " + quote(changedName(cs.Collection)) + " SET " + quote(c.Name) + " = ? WHERE " +
					quote(ssync.ColumnID) + " = ? AND " + quote(fieldDirty(c.Name)) + " > ?"
				if _, err := tx.ExecContext(ctx, q, values[i], id, dirty); err != nil {
					return fmt.Errorf("ssync client: acknowledge push: rebase %s.%s: %w", cs.Collection, c.Name, err)
				}
			}
		}
	}
	return nil
}

// fillBase gives a column that the migration added to a side table (c)
// the table's value as its base in the rows that exist: the app that
// changed those rows did not know the column, so they did not change it.
func fillBase(ctx context.Context, tx queryer, tables []string, c migrate.NewColumn) error {
	for _, name := range tables {
		if c.Table != changedName(name) || strings.HasPrefix(c.Column.Name, fieldDirty("")) {
			continue
		}
		side, col, id := quote(c.Table), quote(c.Column.Name), quote(ssync.ColumnID)
		_, err := tx.ExecContext(ctx, "UPDATE "+side+" SET "+col+" = (SELECT "+col+" FROM "+quote(name)+" AS t WHERE t."+id+" = "+side+"."+id+")")
		if err != nil {
			return fmt.Errorf("record the base of %s.%s: %w", name, c.Column.Name, err)
		}
	}
	return nil
}

// migrateFields completes, in the migration's transaction, the side tables
// the migration created or grew: columns added to a side table get their
// base, and the pending rows of a table whose side table is new are
// pushed whole.
func (db *DB) migrateFields(ctx context.Context, tx queryer, have migrate.Schema, plan migrate.Plan) error {
	for _, c := range plan.Columns {
		if err := fillBase(ctx, tx, db.reg.Names(), c); err != nil {
			return err
		}
	}
	for _, name := range db.reg.Names() {
		if _, ok := have[name]; !ok {
			continue
		}
		if _, ok := have[changedName(name)]; !ok {
			if err := markWhole(ctx, tx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// markWhereWhole records that the pending changes of the known rows of
// table that match where (SQL, with args) are not known field by field.
func markWhereWhole(ctx context.Context, tx queryer, table, where string, args []any) error {
	id := quote(ssync.ColumnID)
	stmt := "INSERT INTO " + quote(changedName(table)) + " (" + id + ", " + quote(changedDirty) + ", " + quote(changedWhole) +
		") SELECT " + id + ", " + quote(columnDirty) + ", 1 FROM " + quote(table) + " WHERE " + quote(columnKnown) + " = 1 AND " +
		quote(columnDirty) + " > 0"
	if where != "" {
		stmt += " AND (" + where + ")"
	}
	stmt += " ON CONFLICT (" + id + ") DO UPDATE SET " + quote(changedWhole) + " = 1, " + quote(changedDirty) + " = excluded." + quote(changedDirty)
	if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
		return fmt.Errorf("mark %s rows changed: record them whole: %w", table, err)
	}
	return nil
}
