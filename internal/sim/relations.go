package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/sim/relmodel"
	"github.com/ssync-go/ssync/internal/sim/relmodel/models"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// The relations app (ModelRelations) plays projects, tasks and comments
// (package relmodel): a task belongs to a project (ondelete=cascade), may
// be a subtask of another task (a self-reference, cascade: the tree goes
// with its root) and may be blocked by another task (a self-reference,
// setnull); a comment is on a task (restrict: a task with live comments
// cannot be deleted). Devices create rows under the rows they hold, move
// tasks between parents and projects, delete parents while other devices
// create children under them offline, and fresh devices join mid-run. A
// row references only rows of its own owner, so that every device holds
// what its rows reference.
//
// The checks, besides those every run makes:
//   - no live row references a missing or deleted row, on the server after
//     every sync that ran alone and at the end, and on every device after
//     each of its syncs that ran alone, after each local delete, and at
//     the end; every device file passes PRAGMA foreign_key_check;
//   - a fresh device's full pull applies, and it can then edit every row
//     it received;
//   - a device refuses a delete (client.ErrReferenced) only when a live
//     comment holds the row or a row its delete cascades to;
//   - every server row deleted without a push deleting it references a
//     deleted row through a cascade or restrict reference; every delete a
//     push committed is applied unless its answer reports it restricted,
//     which only a row with descendants can be;
//   - every field of every live server row holds what the last write the
//     server applied that carried it wrote (half of the devices push the
//     fields they changed, the others whole rows), but for setnull
//     references the server cleared because their row is deleted;
//   - every field an acknowledged write set reached the server, unless
//     the device set it again or the row is deleted.

const (
	projColl    = "rm_project"
	rtaskColl   = "rm_task"
	commentColl = "rm_comment"
)

// relationsApp plays the relations app.
func (w *world) relationsApp() *app {
	return &app{
		reg:      relmodel.Registry(),
		prefixes: map[string]string{projColl: "p", rtaskColl: "k", commentColl: "c"},
		// Half of the devices push the fields they changed, the others
		// whole rows.
		newDevice: func(d *device) { d.wholeRows = w.rng.IntN(2) == 0 },
		ops:       w.relationsOps,
		afterSync: func(d *device, when string) {
			w.compareDevice(d, when)
			w.checkServerRefs(when)
		},
		afterOwnSync: func(d *device, when string) {
			w.checkDeviceRefs(d, when)
		},
		final: w.relationsFinal,
	}
}

func (w *world) relationsOps() []op {
	return append([]op{
		{"create", 20, w.opRCreate},
		{"edit-or-move", 16, w.opREdit},
		{"delete", 8, w.opRDelete},
		{"delete-parent-while-another-device-adds-a-child", 6, w.opRDeleteWhileAdd},
		{"fresh-device-pulls-and-edits-everything", 1, w.opFreshDevice},
	}, w.genericOps()...)
}

// relRef is one non-null reference of a row.
type relRef struct {
	col ssync.Column
	id  uuid.UUID
}

// refsOf returns the non-null references of a row.
func refsOf(c ssync.Collection, data any) []relRef {
	var out []relRef
	values := fieldValues(c, data)
	for _, col := range c.UserColumns() {
		if col.Ref == "" {
			continue
		}
		var id *uuid.UUID
		if err := json.Unmarshal([]byte(values[col.Wire]), &id); err != nil {
			panic(fmt.Sprintf("sim: %s.%s is not a uuid: %v", c.CollectionName(), col.Wire, err))
		}
		if id != nil && *id != uuid.Nil {
			out = append(out, relRef{col: col, id: *id})
		}
	}
	return out
}

// liveOf returns the live rows of coll in rows owned by owner (any owner
// when empty), sorted.
func liveOf(rows map[string]table, coll, owner string) []uuid.UUID {
	var ids []uuid.UUID
	for _, id := range sortedIDs(rows[coll]) {
		r := rows[coll][id]
		if !r.deleted && (owner == "" || r.owner == owner) {
			ids = append(ids, id)
		}
	}
	return ids
}

// subtree returns the live tasks under task id through parentId in rows,
// id included: a task moved under one of them would make a cycle, and
// deleting id deletes them all.
func subtree(rows map[string]table, id uuid.UUID) map[uuid.UUID]bool {
	in := map[uuid.UUID]bool{id: true}
	for grew := true; grew; {
		grew = false
		for tid, r := range rows[rtaskColl] {
			t := r.data.(*models.Task)
			if !in[tid] && !r.deleted && t.ParentID != nil && in[*t.ParentID] {
				in[tid], grew = true, true
			}
		}
	}
	return in
}

func (w *world) pickID(ids []uuid.UUID) *uuid.UUID {
	if len(ids) == 0 {
		return nil
	}
	id := ids[w.rng.IntN(len(ids))]
	return &id
}

func without(ids []uuid.UUID, out map[uuid.UUID]bool) []uuid.UUID {
	var keep []uuid.UUID
	for _, id := range ids {
		if !out[id] {
			keep = append(keep, id)
		}
	}
	return keep
}

// relLabel names a reference target in the log.
func (w *world) relLabel(coll string, id *uuid.UUID) string {
	if id == nil {
		return "none"
	}
	return w.label(coll, *id)
}

func (w *world) opRCreate() {
	d := w.pickDevice()
	owner := d.db.ActiveUser()
	rows := w.deviceRows(d)
	kind := w.rng.IntN(10)
	switch {
	case kind >= 8 && len(liveOf(rows, rtaskColl, owner)) > 0:
		w.createComment(d, rows, owner, nil)
	case kind >= 3 && len(liveOf(rows, projColl, owner)) > 0:
		w.createTask(d, rows, owner, nil, nil)
	default:
		w.createProject(d, owner)
	}
}

func (w *world) createProject(d *device, owner string) {
	id := w.newID()
	p := &models.Project{Record: ssync.Record{ID: id, SyncID: owner}, Name: w.vText(words, "")}
	if err := relmodel.SyncProjects(d.db).Insert(w.ctx, p); err != nil {
		w.violate("%s: insert project: %v", d.label, err)
		return
	}
	w.recordRel(d, projColl, id, "create", p, nil)
	w.logf("%s creates project %s for %s: name=%q", d.label, w.label(projColl, id), owner, p.Name)
}

// createTask creates a task of owner on d, in project (or one d holds) and
// under parent (or, half of the time, under a task of the project).
func (w *world) createTask(d *device, rows map[string]table, owner string, project, parent *uuid.UUID) bool {
	id := w.newID()
	t := &models.Task{Record: ssync.Record{ID: id, SyncID: owner}, Title: w.vText(words, "")}
	switch {
	case parent != nil:
		t.ParentID = parent
		t.ProjectID = rows[rtaskColl][*parent].data.(*models.Task).ProjectID
	case project != nil:
		t.ProjectID = *project
	default:
		t.ProjectID = *w.pickID(liveOf(rows, projColl, owner))
		if w.rng.IntN(2) == 0 {
			var under []uuid.UUID
			for _, tid := range liveOf(rows, rtaskColl, owner) {
				if rows[rtaskColl][tid].data.(*models.Task).ProjectID == t.ProjectID {
					under = append(under, tid)
				}
			}
			t.ParentID = w.pickID(under)
		}
	}
	if w.rng.IntN(3) == 0 {
		t.BlockedBy = w.pickID(liveOf(rows, rtaskColl, owner))
	}
	if err := relmodel.SyncTasks(d.db).Insert(w.ctx, t); err != nil {
		w.violate("%s: insert task under live rows: %v", d.label, err)
		return false
	}
	w.recordRel(d, rtaskColl, id, "create", t, nil)
	w.logf("%s creates task %s for %s: title=%q project=%s parent=%s blockedBy=%s", d.label, w.label(rtaskColl, id), owner, t.Title,
		w.label(projColl, t.ProjectID), w.relLabel(rtaskColl, t.ParentID), w.relLabel(rtaskColl, t.BlockedBy))
	return true
}

// createComment creates a comment of owner on d, on task (or one d holds).
func (w *world) createComment(d *device, rows map[string]table, owner string, task *uuid.UUID) bool {
	if task == nil {
		task = w.pickID(liveOf(rows, rtaskColl, owner))
	}
	id := w.newID()
	c := &models.Comment{Record: ssync.Record{ID: id, SyncID: owner}, Body: w.vText(words, ""), TaskID: *task}
	if err := relmodel.SyncComments(d.db).Insert(w.ctx, c); err != nil {
		w.violate("%s: insert comment on a live task: %v", d.label, err)
		return false
	}
	w.recordRel(d, commentColl, id, "create", c, nil)
	w.logf("%s creates comment %s for %s on task %s: body=%q", d.label, w.label(commentColl, id), owner, w.label(rtaskColl, *task), c.Body)
	return true
}

// recordRel records a local write setting fields (by wire name; every
// user field for a create).
func (w *world) recordRel(d *device, coll string, id uuid.UUID, op string, row any, fields []string) {
	if op == "create" {
		c, _ := w.reg.Lookup(coll)
		for _, col := range c.UserColumns() {
			fields = append(fields, col.Wire)
		}
	}
	w.recordWrite(d, coll, id, op, row)
	d.unacked[len(d.unacked)-1].fields = fields
}

// pickRel picks a live row d holds: a task half of the time.
func (w *world) pickRel(d *device, rows map[string]table) (string, uuid.UUID, bool) {
	colls := []string{rtaskColl, rtaskColl, projColl, commentColl}
	coll := colls[w.rng.IntN(len(colls))]
	ids := liveOf(rows, coll, "")
	if len(ids) == 0 {
		coll = rtaskColl
		if ids = liveOf(rows, coll, ""); len(ids) == 0 {
			coll = projColl
			if ids = liveOf(rows, coll, ""); len(ids) == 0 {
				return "", uuid.Nil, false
			}
		}
	}
	return coll, ids[w.rng.IntN(len(ids))], true
}

func (w *world) opREdit() {
	d := w.pickDevice()
	rows := w.deviceRows(d)
	coll, id, ok := w.pickRel(d, rows)
	if !ok {
		w.logf("%s has no row to edit", d.label)
		return
	}
	w.relEdit(d, rows, coll, id, "", true)
}

// relEdit changes a live row of d: its text, and with moves set, maybe what
// it references (only rows of its owner; a task never under its own
// subtree). It reports whether the edit was written.
func (w *world) relEdit(d *device, rows map[string]table, coll string, id uuid.UUID, tag string, moves bool) bool {
	lbl := w.label(coll, id)
	owner := rows[coll][id].owner
	var changed, fields []string
	var err error
	var row any
	switch coll {
	case projColl:
		repo := relmodel.SyncProjects(d.db)
		p, gerr := repo.Get(w.ctx, id)
		if gerr != nil {
			w.editFailed(d, "get live project "+lbl, gerr)
			return false
		}
		p.Name = w.vText(words, tag)
		changed = append(changed, fmt.Sprintf("name=%q", p.Name))
		fields = append(fields, "name")
		err, row = repo.Update(w.ctx, p), p
	case rtaskColl:
		var ok bool
		if row, changed, fields, ok, err = w.editTask(d, rows, id, tag, moves); !ok {
			return false
		}
	default:
		repo := relmodel.SyncComments(d.db)
		c, gerr := repo.Get(w.ctx, id)
		if gerr != nil {
			w.editFailed(d, "get live comment "+lbl, gerr)
			return false
		}
		c.Body = w.vText(words, tag)
		changed = append(changed, fmt.Sprintf("body=%q", c.Body))
		fields = append(fields, "body")
		if moves && w.rng.IntN(4) == 0 {
			if t := w.pickID(liveOf(rows, rtaskColl, owner)); t != nil {
				c.TaskID = *t
				changed = append(changed, "task="+w.label(rtaskColl, *t))
				fields = append(fields, "taskId")
			}
		}
		err, row = repo.Update(w.ctx, c), c
	}
	if err != nil {
		w.editFailed(d, fmt.Sprintf("edit %s %s under live rows (%s)", short(coll), lbl, strings.Join(changed, " ")), err)
		return false
	}
	w.recordRel(d, coll, id, "update", row, fields)
	w.logf("%s edits %s %s: %s", d.label, short(coll), lbl, strings.Join(changed, " "))
	return true
}

// editFailed reports a failed edit of d as a violation, unless d's
// background sync may have pulled the row's delete (or its parent's)
// after the rows were read: an app editing while it syncs sees that too.
func (w *world) editFailed(d *device, what string, err error) {
	if d.bg != nil && (errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrDeletedReference)) {
		w.logf("%s: %s: %v (its background sync changed the rows meanwhile)", d.label, what, err)
		return
	}
	w.violate("%s: %s: %v", d.label, what, err)
}

func (w *world) opRDelete() {
	d := w.pickDevice()
	rows := w.deviceRows(d)
	coll, id, ok := w.pickRel(d, rows)
	if !ok {
		w.logf("%s has no row to delete", d.label)
		return
	}
	w.relDelete(d, rows, coll, id)
}

// editTask changes a live task of d: its title, and with moves set,
// maybe its parent, project and blocker (rows of its owner; never under
// its own subtree, nor, for a task the server does not have, in a cycle of
// new tasks). It returns the row, what changed for the log, the changed
// fields, false when the task could not be read, and the update's error.
func (w *world) editTask(d *device, rows map[string]table, id uuid.UUID, tag string, moves bool) (row any, changed, fields []string, ok bool, err error) {
	owner := rows[rtaskColl][id].owner
	repo := relmodel.SyncTasks(d.db)
	t, gerr := repo.Get(w.ctx, id)
	if gerr != nil {
		w.editFailed(d, "get live task "+w.label(rtaskColl, id), gerr)
		return nil, nil, nil, false, nil
	}
	mask := 1
	if moves {
		mask = 1 + w.rng.IntN(15)
	}
	if mask&1 != 0 {
		t.Title = w.vText(words, tag)
		changed = append(changed, fmt.Sprintf("title=%q", t.Title))
		fields = append(fields, "title")
	}
	if mask&2 != 0 {
		t.ParentID = nil
		if w.rng.IntN(3) > 0 {
			t.ParentID = w.pickID(without(liveOf(rows, rtaskColl, owner), subtree(rows, id)))
		}
		changed = append(changed, "parent="+w.relLabel(rtaskColl, t.ParentID))
		fields = append(fields, "parentId")
	}
	if mask&4 != 0 {
		if p := w.pickID(liveOf(rows, projColl, owner)); p != nil {
			t.ProjectID = *p
			changed = append(changed, "project="+w.label(projColl, *p))
			fields = append(fields, "projectId")
		}
	}
	if mask&8 != 0 {
		t.BlockedBy = nil
		if w.rng.IntN(3) > 0 {
			t.BlockedBy = w.pickID(without(liveOf(rows, rtaskColl, owner), map[uuid.UUID]bool{id: true}))
		}
		changed = append(changed, "blockedBy="+w.relLabel(rtaskColl, t.BlockedBy))
		fields = append(fields, "blockedBy")
	}
	return t, changed, fields, true, repo.Update(w.ctx, t)
}

// relDelete deletes a live row on d; the device applies the ondelete rules
// at once, or refuses the delete when a live comment holds what it would
// delete. It reports whether the row was deleted.
func (w *world) relDelete(d *device, rows map[string]table, coll string, id uuid.UUID) bool {
	lbl := w.label(coll, id)
	if d.bg != nil && !w.cfg.OpenBugs {
		w.logf("%s waits for its sync before it deletes %s (see KnownBugs)", d.label, lbl)
		w.join(d)
		rows = w.deviceRows(d)
		if r := rows[coll][id]; r == nil || r.deleted {
			w.logf("%s no longer holds %s live", d.label, lbl)
			return false
		}
	}
	var err error
	switch coll {
	case projColl:
		err = relmodel.SyncProjects(d.db).Delete(w.ctx, id)
	case rtaskColl:
		err = relmodel.SyncTasks(d.db).Delete(w.ctx, id)
	default:
		err = relmodel.SyncComments(d.db).Delete(w.ctx, id)
	}
	held := heldBy(rows, coll, id)
	switch {
	case errors.Is(err, client.ErrReferenced):
		if len(held) == 0 {
			w.violate("%s refused to delete %s %s (%v), but no live comment holds it or a task its delete reaches", d.label, short(coll), lbl, err)
		}
		w.logf("%s cannot delete %s %s: comments %s hold it (ondelete=restrict)", d.label, short(coll), lbl, w.labelList(commentColl, held))
		return false
	case err != nil:
		w.violate("%s: delete %s %s: %v", d.label, short(coll), lbl, err)
		return false
	case len(held) > 0:
		w.violate("%s deleted %s %s although comments %s hold it (ondelete=restrict)", d.label, short(coll), lbl, w.labelList(commentColl, held))
	}
	w.recordRel(d, coll, id, "delete", nil, nil)
	w.logf("%s deletes %s %s", d.label, short(coll), lbl)
	if d.bg == nil && d.synced {
		// (A sync in flight is checked when it ends; after a failed one,
		// the next successful sync completes its pull.)
		w.checkDeviceRefs(d, "after "+d.label+" deleted "+lbl)
	}
	return true
}

func (w *world) labelList(coll string, ids []uuid.UUID) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, w.label(coll, id))
	}
	return strings.Join(parts, " ")
}

// heldBy returns the live comments that hold the row id of coll in rows:
// on it, or on a task its delete cascades to.
func heldBy(rows map[string]table, coll string, id uuid.UUID) []uuid.UUID {
	reach := map[uuid.UUID]bool{}
	switch coll {
	case projColl:
		for tid, r := range rows[rtaskColl] {
			if !r.deleted && r.data.(*models.Task).ProjectID == id {
				for k := range subtree(rows, tid) {
					reach[k] = true
				}
			}
		}
	case rtaskColl:
		reach = subtree(rows, id)
	default:
		return nil
	}
	var held []uuid.UUID
	for _, cid := range sortedIDs(rows[commentColl]) {
		r := rows[commentColl][cid]
		if !r.deleted && reach[r.data.(*models.Comment).TaskID] {
			held = append(held, cid)
		}
	}
	return held
}

// opRDeleteWhileAdd plays the case of issue 15: one device deletes a
// project or a task while another, which has not synced it, adds a task or
// a comment under it (or moves a task there); then, sometimes, both sync,
// in either order.
func (w *world) opRDeleteWhileAdd() {
	d := w.pickDevice()
	rows := w.deviceRows(d)
	coll := projColl
	if w.rng.IntN(2) == 0 {
		coll = rtaskColl
	}
	ids := liveOf(rows, coll, "")
	if len(ids) == 0 {
		w.logf("%s holds no live %s to delete", d.label, short(coll))
		return
	}
	id := ids[w.rng.IntN(len(ids))]
	owner := rows[coll][id].owner
	var others []*device
	for _, o := range w.devices {
		if o != d && o.user.scope()[owner] {
			others = append(others, o)
		}
	}
	if len(others) == 0 {
		w.logf("no other device may write under %s: plain delete", w.label(coll, id))
		w.relDelete(d, rows, coll, id)
		return
	}
	o := others[w.rng.IntN(len(others))]
	orows := w.deviceRows(o)
	w.logf("%s deletes %s %s while %s adds under it", d.label, short(coll), w.label(coll, id), o.label)
	deleted := w.relDelete(d, rows, coll, id)
	if r := orows[coll][id]; r == nil || r.deleted {
		w.logf("%s does not hold %s live: it adds nothing", o.label, w.label(coll, id))
	} else {
		switch {
		case coll == projColl:
			w.createTask(o, orows, owner, &id, nil)
		case w.rng.IntN(3) == 0:
			w.createComment(o, orows, owner, &id)
		case w.rng.IntN(2) == 0:
			w.createTask(o, orows, owner, nil, &id)
		default:
			// Move one of its tasks under it.
			movable := without(liveOf(orows, rtaskColl, owner), subtree(orows, id))
			if m := w.pickID(movable); m != nil {
				w.moveUnder(o, *m, id)
			}
		}
	}
	if deleted && w.rng.IntN(2) == 0 {
		first, second := d, o
		if w.rng.IntN(2) == 0 {
			first, second = o, d
		}
		w.syncNow(first, w.drawPlan(false), "")
		w.syncNow(second, w.drawPlan(false), "")
	}
}

// moveUnder moves task id under task parent on d.
func (w *world) moveUnder(d *device, id, parent uuid.UUID) {
	repo := relmodel.SyncTasks(d.db)
	t, err := repo.Get(w.ctx, id)
	if err != nil {
		w.violate("%s: get live task %s: %v", d.label, w.label(rtaskColl, id), err)
		return
	}
	t.ParentID = &parent
	if err := repo.Update(w.ctx, t); err != nil {
		w.violate("%s: move task %s under live task %s: %v", d.label, w.label(rtaskColl, id), w.label(rtaskColl, parent), err)
		return
	}
	w.recordRel(d, rtaskColl, id, "update", t, []string{"parentId"})
	w.logf("%s moves task %s under %s", d.label, w.label(rtaskColl, id), w.label(rtaskColl, parent))
}

// opFreshDevice adds a device with an empty file to a user: its first
// sync pulls everything the user may read, which must apply and hold
// every reference; then it edits every row it received.
func (w *world) opFreshDevice() {
	if len(w.devices) >= 12 {
		w.logf("enough devices")
		return
	}
	// No request may be in flight while the device tables grow.
	for _, o := range w.devices {
		w.join(o)
	}
	u := w.users[w.rng.IntN(len(w.users))]
	d := w.addDevice(u)
	w.rep.Devices++
	w.logf("%s joins with an empty file", d.label)
	o := w.syncNow(d, w.drawPlan(false), "first")
	if o.err != nil {
		return
	}
	rows := w.deviceRows(d)
	edited := 0
	for _, coll := range []string{projColl, rtaskColl, commentColl} {
		for _, id := range liveOf(rows, coll, "") {
			if w.relEdit(d, rows, coll, id, "f", false) {
				edited++
			}
		}
	}
	w.logf("%s edited all %d rows it received", d.label, edited)
}

// checkServerRefs checks that no live server row references a missing or
// deleted row.
func (w *world) checkServerRefs(when string) {
	w.checkRefs(w.serverRows(), w.reg, when+": server")
}

// checkDeviceRefs checks that no live row of d references a missing or
// deleted row, and that its file passes PRAGMA foreign_key_check.
func (w *world) checkDeviceRefs(d *device, when string) {
	w.checkRefs(w.deviceRows(d), d.reg, when+": "+d.label)
	rows, err := d.db.SQL().QueryContext(w.ctx, "PRAGMA foreign_key_check")
	if err != nil {
		w.violate("%s: %s: PRAGMA foreign_key_check: %v", when, d.label, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var tbl, parent string
		var rowid, fkid any
		if err := rows.Scan(&tbl, &rowid, &parent, &fkid); err != nil {
			w.violate("%s: %s: PRAGMA foreign_key_check: %v", when, d.label, err)
			return
		}
		w.rep.BrokenRefs++
		w.violate("%s: %s: PRAGMA foreign_key_check: a row of %s (rowid %v) references a missing row of %s", when, d.label, tbl, rowid, parent)
	}
	if err := rows.Err(); err != nil {
		w.violate("%s: %s: PRAGMA foreign_key_check: %v", when, d.label, err)
	}
}

// checkRefs checks that no live row of rows references a missing or
// deleted row.
func (w *world) checkRefs(rows map[string]table, reg *ssync.Registry, where string) {
	bad := 0
	for _, c := range reg.Collections() {
		name := c.CollectionName()
		for _, id := range sortedIDs(rows[name]) {
			r := rows[name][id]
			if r.deleted {
				continue
			}
			for _, ref := range refsOf(c, r.data) {
				w.rep.RefsChecked++
				target := rows[ref.col.Ref][ref.id]
				state := ""
				switch {
				case target == nil:
					state = "missing"
				case target.deleted:
					state = "deleted"
				default:
					continue
				}
				w.rep.BrokenRefs++
				if bad++; bad <= 5 {
					w.violate("%s: live %s %s references %s %s %s through %s (ondelete=%s)", where, short(name), w.label(name, id), state,
						short(ref.col.Ref), w.label(ref.col.Ref, ref.id), ref.col.Wire, ref.col.Rule())
				}
			}
		}
	}
	if bad > 5 {
		w.violate("%s: ... and %d more broken references", where, bad-5)
	}
}

// relWrite is one write a committed push made to a row, or tried to.
type relWrite struct {
	c       *commit
	data    any
	ignored string // the reason the answer gave, if any
	// carried says which user fields (by wire name) the push carried: a
	// field push carries those the device changed.
	carried map[string]bool
}

// relationsFinal runs the final checks of the relations app.
// relHistory is what the committed pushes did, read from their bodies and
// answers.
type relHistory struct {
	// writes are the rows each push wrote, or tried to, by collection
	// and id.
	writes map[string]map[uuid.UUID][]relWrite
	// deletedBy marks the rows a push deleted, by collection and id;
	// devDeleted the same by device|collection|id.
	deletedBy  map[string]map[uuid.UUID]bool
	devDeleted map[string]bool
	// pushed holds collection|id|field|value of every field value a push
	// carried.
	pushed map[string]bool
}

// relHistory reads the committed pushes, and checks each delete's answer:
// a delete is applied unless reported restricted, which only a row with
// descendants can be.
func (w *world) relHistory(commits []commit, srv map[string]table) relHistory {
	writes := map[string]map[uuid.UUID][]relWrite{}
	deletedBy := map[string]map[uuid.UUID]bool{}
	devDeleted := map[string]bool{}
	pushed := map[string]bool{}
	for _, c := range w.reg.Collections() {
		writes[c.CollectionName()] = map[uuid.UUID][]relWrite{}
		deletedBy[c.CollectionName()] = map[uuid.UUID]bool{}
	}
	for i := range commits {
		cm := &commits[i]
		sets, err := wire.DecodeChangeSets(cm.rec.body, w.reg, ssync.DecodeOptions{Strict: true, TrackAbsent: true})
		if err != nil {
			w.violate("the server applied a push of %s that does not decode: %v", cm.rec.dev, err)
			continue
		}
		ignored := map[string]string{}
		for _, ig := range cm.answer.Ignored {
			ignored[ig.Collection+"|"+ig.ID.String()] = ig.Reason
		}
		for _, cs := range sets {
			c, _ := w.reg.Lookup(cs.Collection)
			for _, rows := range [][]any{cs.Created, cs.Updated} {
				for _, data := range rows {
					rec := c.RecordOf(data)
					key := cs.Collection + "|" + rec.ID.String()
					carried := map[string]bool{}
					for _, col := range c.UserColumns() {
						carried[col.Wire] = !slices.Contains(cs.Absent[data], col.Name)
					}
					for f, v := range fieldValues(c, data) {
						if carried[f] {
							pushed[key+"|"+f+"|"+v] = true
						}
					}
					writes[cs.Collection][rec.ID] = append(writes[cs.Collection][rec.ID], relWrite{c: cm, data: data, ignored: ignored[key], carried: carried})
					if rec.DeletedAt != nil {
						deletedBy[cs.Collection][rec.ID] = true
					}
				}
			}
			for _, id := range cs.Deleted {
				reason := ignored[cs.Collection+"|"+id.String()]
				devDeleted[cm.rec.dev+"|"+cs.Collection+"|"+id.String()] = true
				switch {
				case reason == wire.ReasonRestricted && cs.Collection == commentColl:
					w.violate("version %d: the delete of comment %s by %s was reported restricted, but nothing references comments", cm.version, w.label(commentColl, id), cm.rec.dev)
				case reason == wire.ReasonRestricted:
				case reason != "" && reason != wire.ReasonDeleted:
					w.violate("version %d: the delete of %s %s by %s was reported %q", cm.version, short(cs.Collection), w.label(cs.Collection, id), cm.rec.dev, reason)
				default:
					deletedBy[cs.Collection][id] = true
					if s := srv[cs.Collection][id]; s != nil && !s.deleted {
						w.violate("version %d: %s deleted %s %s and the answer did not report it restricted, yet it is live on the server",
							cm.version, cm.rec.dev, short(cs.Collection), w.label(cs.Collection, id))
					}
				}
			}
		}
	}
	return relHistory{writes: writes, deletedBy: deletedBy, devDeleted: devDeleted, pushed: pushed}
}

func (w *world) relationsFinal() {
	for _, d := range w.devices {
		w.compareDevice(d, "at the end")
		w.checkDeviceRefs(d, "at the end")
	}
	w.checkServerRefs("at the end")
	srv := w.serverRows()
	h := w.relHistory(w.committed(), srv)
	writes, deletedBy, devDeleted, pushed := h.writes, h.deletedBy, h.devDeleted, h.pushed
	for _, c := range w.reg.Collections() {
		name := c.CollectionName()
		for _, id := range sortedIDs(srv[name]) {
			s := srv[name][id]
			w.rep.ServerRows++
			w.rep.RowsChecked++
			if s.deleted {
				w.rep.DeletedRows++
				w.checkServerDelete(c, s, srv, deletedBy[name][id])
				continue
			}
			w.checkLiveContent(c, s, srv, writes[name][id])
		}
	}
	for _, lw := range w.acked {
		w.rep.AckedWrites++
		w.checkAckedRel(lw, srv[lw.coll][lw.id], devDeleted[lw.dev.label+"|"+lw.coll+"|"+lw.id.String()], pushed)
	}
}

// checkAckedRel checks a write a successful sync acknowledged: the server
// has the row; every field a create or an edit set reached the server (a
// push carried its value), unless the device set it again or deleted the
// row (itself, or by an ondelete rule), or the row is deleted. Setnull
// references are left out: the device clears them itself when their row
// goes.
func (w *world) checkAckedRel(lw *localWrite, s *row, deviceDeleted bool, pushed map[string]bool) {
	lbl := w.label(lw.coll, lw.id)
	if s == nil {
		w.violate("the %s of %s %s made on %s at step %d was acknowledged, but the server does not have the row", lw.op, short(lw.coll), lbl, lw.dev.label, lw.step)
		return
	}
	if lw.op == "delete" || s.deleted || deviceDeleted {
		// A delete: applied, or restricted (the row came back). The
		// device deletes rows itself too, by the rules of a row it or a
		// pull deleted: its push of the delete supersedes its edits.
		return
	}
	c, _ := w.reg.Lookup(lw.coll)
	data := c.NewRow()
	if err := decodeInto(c, []byte(lw.content), data); err != nil {
		w.violate("a recorded write of %s does not decode: %v", lbl, err)
		return
	}
	values := fieldValues(c, data)
	setnull := map[string]bool{}
	for _, col := range c.UserColumns() {
		setnull[col.Wire] = col.Ref != "" && col.Rule() == ssync.OnDeleteSetNull
	}
	for _, f := range lw.fields {
		w.rep.FieldsChecked++
		if setnull[f] || pushed[lw.coll+"|"+lw.id.String()+"|"+f+"|"+values[f]] {
			continue
		}
		superseded := false
		for _, o := range w.writes[lw.dev.label+"|"+lw.coll+"|"+lw.id.String()] {
			if o.seq > lw.seq && (o.op == "delete" || slices.Contains(o.fields, f)) {
				superseded = true
			}
		}
		if !superseded {
			w.violate("the %s of %s %s made on %s at step %d was acknowledged, but its %s=%s never reached the server",
				lw.op, short(lw.coll), lbl, lw.dev.label, lw.step, f, values[f])
		}
	}
}

// checkServerDelete checks that a deleted server row was deleted by a
// push, or by the server because a row it references through a cascade or
// restrict reference is deleted.
func (w *world) checkServerDelete(c ssync.Collection, s *row, srv map[string]table, byPush bool) {
	if byPush {
		return
	}
	for _, ref := range refsOf(c, s.data) {
		if ref.col.Rule() == ssync.OnDeleteSetNull {
			continue
		}
		if t := srv[ref.col.Ref][ref.id]; t != nil && t.deleted {
			return
		}
	}
	w.violate("server row %s %s is deleted, but no push deleted it and nothing it references (cascade, restrict) is deleted",
		short(c.CollectionName()), w.label(c.CollectionName(), s.id))
}

// checkLiveContent checks a live server row, field by field, against the
// last write the server applied that carried the field (in commit order;
// a field push carries only the fields its device changed): the same
// value, but for setnull references cleared because their row is deleted.
func (w *world) checkLiveContent(c ssync.Collection, s *row, srv map[string]table, ws []relWrite) {
	name := c.CollectionName()
	lbl := w.label(name, s.id)
	got := fieldValues(c, s.data)
	for _, col := range c.UserColumns() {
		var last *relWrite
		for i := range ws {
			if r := ws[i].ignored; (r == "" || r == wire.ReasonReferenceCleared) && ws[i].carried[col.Wire] {
				if last == nil || ws[i].c.version > last.c.version {
					last = &ws[i]
				}
			}
		}
		if last == nil {
			w.violate("server row %s %s is live, but no push wrote its %s", short(name), lbl, col.Wire)
			continue
		}
		w.rep.FieldsChecked++
		g, wv := got[col.Wire], fieldValues(c, last.data)[col.Wire]
		if g == wv {
			continue
		}
		if col.Rule() == ssync.OnDeleteSetNull && col.Ref != "" && g == "null" {
			var id uuid.UUID
			if json.Unmarshal([]byte(wv), &id) == nil {
				if t := srv[col.Ref][id]; t != nil && t.deleted {
					continue // cleared: its row is deleted (ondelete=setnull)
				}
			}
		}
		w.violate("server row %s %s field %s is %s; the last write the server applied that carried it (%s at version %d) wrote %s",
			short(name), lbl, col.Wire, g, last.c.rec.dev, last.c.version, wv)
	}
}
