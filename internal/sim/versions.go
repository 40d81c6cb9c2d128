package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// The versions app (ModelVersions) plays the two versions of the task app
// of internal/evolvetest at once: version 2 adds Assignee (a string) and
// Points (an int) to Task, and the table Tag. The server runs version 2.
// Each device starts on version 1 or 2; a version-1 device may be
// upgraded in the middle of the run, often with local changes pending: its
// file is closed by version-1 code and opened by version-2 code, which
// migrates it, pushes the pending changes without the new fields
// (ss_absent) and re-pulls the tasks for their values. Until that re-pull
// is done, an upgraded device's whole-row pushes leave out the new fields
// it did not set, and it edits rows as any device does, before, during
// and after the re-pull.
//
// Most devices push the fields they changed (field pushes); a third push
// whole rows (SyncOptions.WholeRows), as clients that know nothing of
// field pushes. Users never write a zero value to a text or int field
// here, and never the same text or points twice, so a zero where a user
// wrote a value is a reset, never a write.
//
// The checks, besides those every run makes:
//   - per field, the server holds the value of the last committed push
//     that carried the field (in commit order), the fields a push left out
//     kept as they were, and a delete wins (last writer wins per field);
//   - a field push carries only values the device's writes set; a whole
//     row carries the fields version 2 added only when the device's last
//     write of the row was made by version 2 after its re-pull, or set
//     them, or with the server's values: a change made by version 1, or
//     by version 2 before its re-pull, never resets them;
//   - every field every acknowledged write set reached the server, unless
//     the device set it again or the row is deleted;
//   - every device, whichever its version, holds the server's values of
//     the fields it knows: an upgraded device holds the server's values
//     in the new columns.

const (
	taskColl = "ev_task"
	tagColl  = "ev_tag"
)

// newFields are the task fields version 2 adds, by wire name.
var newFields = []string{"assignee", "points"}

// versionsApp plays the versions app.
func (w *world) versionsApp() *app {
	return &app{
		reg:      v2.Registry(),
		prefixes: map[string]string{taskColl: "t", tagColl: "g"},
		newDevice: func(d *device) {
			d.version = 1 + w.rng.IntN(2)
			if d.version == 1 {
				d.reg = v1.Registry()
			}
			// Most devices push the fields they changed; a third push
			// whole rows, as clients that know nothing of field pushes.
			d.wholeRows = w.rng.IntN(3) == 0
		},
		ops:       w.versionsOps,
		afterSync: func(d *device, when string) { w.compareDevice(d, when) },
		final:     w.versionsFinal,
	}
}

func (w *world) versionsOps() []op {
	return append([]op{
		{"create", 16, w.opVCreate},
		{"edit", 18, w.opVEdit},
		{"edit-same-row-on-two-devices", 8, w.opVEditTwo},
		{"delete", 5, w.opVDelete},
		{"upgrade-app-to-version-2", 3, w.opUpgrade},
	}, w.genericOps()...)
}

// deviceVersions lists each device's app version, for the log.
func (w *world) deviceVersions() string {
	var parts []string
	for _, d := range w.devices {
		parts = append(parts, fmt.Sprintf("%s v%d", d.label, d.version))
	}
	return strings.Join(parts, ", ")
}

// vText draws a text value: never empty, never seen before.
func (w *world) vText(pool []string, tag string) string {
	return fmt.Sprintf("%s@%d%s", pool[w.rng.IntN(len(pool))], w.step, tag)
}

// vPoints draws a points value: never zero.
func (w *world) vPoints() int { return w.step*10 + 1 + w.rng.IntN(9) }

func (w *world) opVCreate() {
	d := w.pickDevice()
	id := w.newID()
	if d.version == 2 && w.rng.IntN(4) == 0 {
		g := &m2.Tag{Record: ssync.Record{ID: id}, Name: w.vText(words, "")}
		if err := v2.SyncTags(d.db).Insert(w.ctx, g); err != nil {
			w.violate("%s: insert tag: %v", d.label, err)
			return
		}
		w.recordVWrite(d, tagColl, id, "create", g, []string{"name"})
		w.logf("%s creates tag %s for %s: name=%q", d.label, w.label(tagColl, id), g.SyncID, g.Name)
		return
	}
	lbl := w.label(taskColl, id)
	if d.version == 1 {
		t := &m1.Task{Record: ssync.Record{ID: id}, Title: w.vText(words, ""), Done: w.rng.IntN(2) == 0}
		if err := v1.SyncTasks(d.db).Insert(w.ctx, t); err != nil {
			w.violate("%s: insert task: %v", d.label, err)
			return
		}
		w.recordVWrite(d, taskColl, id, "create", t, []string{"title", "done"})
		w.logf("%s (v1) creates task %s for %s: title=%q done=%v", d.label, lbl, t.SyncID, t.Title, t.Done)
		return
	}
	t := &m2.Task{Record: ssync.Record{ID: id}, Title: w.vText(words, ""), Done: w.rng.IntN(2) == 0,
		Assignee: w.vText(names, ""), Points: w.vPoints()}
	if err := v2.SyncTasks(d.db).Insert(w.ctx, t); err != nil {
		w.violate("%s: insert task: %v", d.label, err)
		return
	}
	w.recordVWrite(d, taskColl, id, "create", t, []string{"title", "done", "assignee", "points"})
	w.logf("%s (v2) creates task %s for %s: title=%q done=%v assignee=%q points=%d", d.label, lbl, t.SyncID, t.Title, t.Done, t.Assignee, t.Points)
}

// recordVWrite records a write made by d's app version, setting fields.
func (w *world) recordVWrite(d *device, coll string, id uuid.UUID, op string, row any, fields []string) {
	w.recordWrite(d, coll, id, op, row)
	lw := d.unacked[len(d.unacked)-1]
	lw.version, lw.fields = d.version, fields
	lw.beforeRepull = d.upgradedAt > 0 && !d.repulled
}

// vRows returns the ids of the live rows of coll on d, sorted; none when
// d's version does not know coll.
func (w *world) vRows(d *device, coll string) []uuid.UUID {
	var ids []uuid.UUID
	var err error
	switch {
	case coll == tagColl && d.version == 2:
		var rows []*m2.Tag
		rows, err = v2.SyncTags(d.db).Select(w.ctx)
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	case coll == taskColl && d.version == 2:
		var rows []*m2.Task
		rows, err = v2.SyncTasks(d.db).Select(w.ctx)
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	case coll == taskColl:
		var rows []*m1.Task
		rows, err = v1.SyncTasks(d.db).Select(w.ctx)
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	}
	if err != nil {
		w.violate("%s: select %s: %v", d.label, short(coll), err)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return ids
}

// pickVRow picks a live row on d: a task, or a tag a quarter of the time.
func (w *world) pickVRow(d *device) (string, uuid.UUID, bool) {
	coll := taskColl
	if w.rng.IntN(4) == 0 {
		coll = tagColl
	}
	ids := w.vRows(d, coll)
	if len(ids) == 0 && coll == tagColl {
		coll = taskColl
		ids = w.vRows(d, coll)
	}
	if len(ids) == 0 {
		return "", uuid.Nil, false
	}
	return coll, ids[w.rng.IntN(len(ids))], true
}

// vEdit changes a random, non-empty set of the fields d's version knows of
// a live row; it reports false when d has no such row.
func (w *world) vEdit(d *device, coll string, id uuid.UUID, tag string) bool {
	lbl := w.label(coll, id)
	fail := func(err error) bool {
		w.logf("%s cannot edit %s %s (%v)", d.label, short(coll), lbl, err)
		return false
	}
	var changed, fields []string
	set := func(field, desc string) {
		fields = append(fields, field)
		changed = append(changed, desc)
	}
	switch {
	case coll == tagColl:
		repo := v2.SyncTags(d.db)
		g, err := repo.Get(w.ctx, id)
		if err != nil {
			return fail(err)
		}
		g.Name = w.vText(words, tag)
		set("name", fmt.Sprintf("name=%q", g.Name))
		if err := repo.Update(w.ctx, g); err != nil {
			return fail(err)
		}
		w.recordVWrite(d, coll, id, "update", g, fields)
	case d.version == 1:
		repo := v1.SyncTasks(d.db)
		t, err := repo.Get(w.ctx, id)
		if err != nil {
			return fail(err)
		}
		mask := 1 + w.rng.IntN(3)
		if mask&1 != 0 {
			t.Title = w.vText(words, tag)
			set("title", fmt.Sprintf("title=%q", t.Title))
		}
		if mask&2 != 0 {
			t.Done = !t.Done
			set("done", fmt.Sprintf("done=%v", t.Done))
		}
		if err := repo.Update(w.ctx, t); err != nil {
			return fail(err)
		}
		w.recordVWrite(d, coll, id, "update", t, fields)
	default:
		repo := v2.SyncTasks(d.db)
		t, err := repo.Get(w.ctx, id)
		if err != nil {
			return fail(err)
		}
		mask := 1 + w.rng.IntN(15)
		if mask&1 != 0 {
			t.Title = w.vText(words, tag)
			set("title", fmt.Sprintf("title=%q", t.Title))
		}
		if mask&2 != 0 {
			t.Done = !t.Done
			set("done", fmt.Sprintf("done=%v", t.Done))
		}
		if mask&4 != 0 {
			t.Assignee = w.vText(names, tag)
			set("assignee", fmt.Sprintf("assignee=%q", t.Assignee))
		}
		if mask&8 != 0 {
			t.Points = w.vPoints()
			set("points", fmt.Sprintf("points=%d", t.Points))
		}
		if err := repo.Update(w.ctx, t); err != nil {
			return fail(err)
		}
		w.recordVWrite(d, coll, id, "update", t, fields)
	}
	w.logf("%s (v%d) edits %s %s: %s", d.label, d.version, short(coll), lbl, strings.Join(changed, " "))
	return true
}

func (w *world) opVEdit() {
	d := w.pickDevice()
	coll, id, ok := w.pickVRow(d)
	if !ok {
		w.logf("%s has no row to edit", d.label)
		return
	}
	w.vEdit(d, coll, id, "")
}

// opVEditTwo has two devices, often of different versions, edit one row
// before either syncs.
func (w *world) opVEditTwo() {
	d := w.pickDevice()
	coll, id, ok := w.pickVRow(d)
	if !ok {
		w.logf("%s has no row to edit", d.label)
		return
	}
	var holders []*device
	for _, o := range w.devices {
		if o != d && slices.Contains(w.vRows(o, coll), id) {
			holders = append(holders, o)
		}
	}
	if len(holders) == 0 {
		w.logf("no other device holds %s: plain edit", w.label(coll, id))
		w.vEdit(d, coll, id, "")
		return
	}
	o := holders[w.rng.IntN(len(holders))]
	w.logf("%s (v%d) and %s (v%d) edit %s concurrently", d.label, d.version, o.label, o.version, w.label(coll, id))
	w.vEdit(d, coll, id, "a")
	w.vEdit(o, coll, id, "b")
}

func (w *world) opVDelete() {
	d := w.pickDevice()
	coll, id, ok := w.pickVRow(d)
	if !ok {
		w.logf("%s has no row to delete", d.label)
		return
	}
	var err error
	switch {
	case coll == tagColl:
		err = v2.SyncTags(d.db).Delete(w.ctx, id)
	case d.version == 1:
		err = v1.SyncTasks(d.db).Delete(w.ctx, id)
	default:
		err = v2.SyncTasks(d.db).Delete(w.ctx, id)
	}
	if err != nil {
		w.logf("%s cannot delete %s (%v)", d.label, w.label(coll, id), err)
		return
	}
	w.recordVWrite(d, coll, id, "delete", nil, nil)
	w.logf("%s deletes %s", d.label, w.label(coll, id))
}

// opUpgrade moves a version-1 device to version 2: often after local
// changes it has not synced, its file is closed by version-1 code and
// opened by version-2 code.
func (w *world) opUpgrade() {
	var old []*device
	for _, d := range w.devices {
		if d.version == 1 {
			old = append(old, d)
		}
	}
	if len(old) == 0 {
		w.logf("every device runs version 2")
		return
	}
	d := old[w.rng.IntN(len(old))]
	w.join(d)
	for range w.rng.IntN(4) {
		if w.rng.IntN(2) == 0 {
			if coll, id, ok := w.pickVRow(d); ok {
				w.vEdit(d, coll, id, "")
				continue
			}
		}
		w.opVCreateOn(d)
	}
	if err := d.db.Close(); err != nil {
		w.violate("%s: close version 1: %v", d.label, err)
	}
	d.hc.CloseIdleConnections()
	d.reg, d.version, d.upgradedAt, d.repulled = v2.Registry(), 2, w.step, false
	d.db = w.openDevice(d)
	w.logf("%s upgrades to version 2 with %d local changes pending; devices: %s", d.label, len(d.unacked), w.deviceVersions())
}

// opVCreateOn creates a task on d.
func (w *world) opVCreateOn(d *device) {
	id := w.newID()
	t := &m1.Task{Record: ssync.Record{ID: id}, Title: w.vText(words, "u"), Done: w.rng.IntN(2) == 0}
	if err := v1.SyncTasks(d.db).Insert(w.ctx, t); err != nil {
		w.violate("%s: insert task: %v", d.label, err)
		return
	}
	w.recordVWrite(d, taskColl, id, "create", t, []string{"title", "done"})
	w.logf("%s (v1) creates task %s for %s: title=%q done=%v", d.label, w.label(taskColl, id), t.SyncID, t.Title, t.Done)
}

// fieldValues returns a row's user fields as JSON values, by wire name.
func fieldValues(c ssync.Collection, data any) map[string]string {
	all := jsonFields(c, data)
	out := map[string]string{}
	for _, col := range c.UserColumns() {
		out[col.Wire] = string(all[col.Wire])
	}
	return out
}

// fieldState is what the model says the server holds of one row.
type fieldState struct {
	coll    string
	owner   string
	deleted bool
	// values are the fields' JSON values, by wire name; a field no push
	// carried is missing (the column's default).
	values map[string]string
	// by says which push wrote each field, for the reports.
	by map[string]string
}

// fieldModel replays the committed pushes in commit order, per field: a
// push writes the fields it carries (a whole row, or the fields a field
// push changed) and keeps the others; a delete wins. It also checks what
// each push carries against the writes of its device (checkCarried), and
// returns the states by collection and id, and every field value a push
// carried, keyed by collection, id, field and value.
func (w *world) fieldModel(commits []commit) (map[string]map[uuid.UUID]*fieldState, map[string]bool) {
	states := map[string]map[uuid.UUID]*fieldState{}
	pushed := map[string]bool{}
	for i := range commits {
		cm := &commits[i]
		dev := w.byLabel[cm.rec.dev]
		sets, err := wire.DecodeChangeSets(cm.rec.body, w.reg, ssync.DecodeOptions{Strict: true, TrackAbsent: true})
		if err != nil {
			w.violate("the server applied a push of %s that does not decode: %v", dev.label, err)
			continue
		}
		for _, cs := range sets {
			c, _ := w.reg.Lookup(cs.Collection)
			if states[cs.Collection] == nil {
				states[cs.Collection] = map[uuid.UUID]*fieldState{}
			}
			state := func(id uuid.UUID) *fieldState {
				s := states[cs.Collection][id]
				if s == nil {
					s = &fieldState{coll: cs.Collection, values: map[string]string{}, by: map[string]string{}}
					states[cs.Collection][id] = s
				}
				return s
			}
			for _, rows := range [][]any{cs.Created, cs.Updated} {
				for _, data := range rows {
					rec := c.RecordOf(data)
					key := cs.Collection + "|" + rec.ID.String()
					var absent []string // by wire name
					for _, col := range c.UserColumns() {
						if slices.Contains(cs.Absent[data], col.Name) {
							absent = append(absent, col.Wire)
						}
					}
					for f, v := range fieldValues(c, data) {
						if !slices.Contains(absent, f) {
							pushed[key+"|"+f+"|"+v] = true
						}
					}
					s := state(rec.ID)
					w.checkCarried(cm, dev, c, data, absent, s, cs.Fields[data] != nil)
					if s.owner == "" {
						s.owner = rec.SyncID
						if s.owner == "" {
							s.owner = dev.user.name
						}
					}
					if s.deleted {
						continue // a delete wins: the server ignores the write
					}
					for f, v := range fieldValues(c, data) {
						if !slices.Contains(absent, f) {
							s.values[f] = v
							s.by[f] = fmt.Sprintf("%s at version %d", dev.label, cm.version)
						}
					}
					if rec.DeletedAt != nil {
						s.deleted = true
					}
				}
			}
			for _, id := range cs.Deleted {
				state(id).deleted = true
			}
		}
	}
	return states, pushed
}

// madeBy returns the write of dev that made a pushed task row: its last
// write whose content the row has (seen through the model of the write's
// version), or nil when none has. The fields the push left out (absent,
// by wire name) decode as zero values: they are compared as the write
// left them, since the push does not say what the device held there.
func (w *world) madeBy(dev *device, c ssync.Collection, data any, absent []string) *localWrite {
	id := c.RecordOf(data).ID
	content := canon(c, data, false)
	oc, _ := v1.Registry().Lookup(taskColl)
	old := canon(oc, project(c, oc, data), false)
	var made *localWrite
	for _, lw := range w.writes[dev.label+"|"+taskColl+"|"+id.String()] {
		switch {
		case lw.version == 1:
			if lw.content == old {
				made = lw
			}
		case len(absent) > 0:
			if lw.content == canon(c, withValues(c, data, w.writeValues(lw), absent), false) {
				made = lw
			}
		case lw.content == content:
			made = lw
		}
	}
	return made
}

// withValues returns a copy of row data of c whose fields named (by wire
// name) hold values (JSON, by wire name) instead.
func withValues(c ssync.Collection, data any, values map[string]string, fields []string) any {
	jw := &jwriter.Writer{}
	c.EncodeRow(jw, data)
	b, _ := jw.BuildBytes()
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		panic(fmt.Sprintf("sim: a %s row does not encode as a JSON object: %v", c.CollectionName(), err))
	}
	for _, f := range fields {
		if v, ok := values[f]; ok {
			all[f] = json.RawMessage(v)
		}
	}
	b, err := json.Marshal(all)
	if err != nil {
		panic(fmt.Sprintf("sim: re-encode a %s row: %v", c.CollectionName(), err))
	}
	out := c.NewRow()
	if err := decodeInto(c, b, out); err != nil {
		panic(fmt.Sprintf("sim: a %s row does not decode: %v", c.CollectionName(), err))
	}
	return out
}

// checkCarried checks a pushed task row that carries the fields version 2
// adds against the model's state of the row before the push: the row must
// be the content of a write the device made, and when version 1 made that
// write, or version 2 before its first sync since the upgrade, the push
// must not carry a new column's default over a value: a change made by
// version 1, before or after its device's upgrade, never resets what
// version 2 wrote.
func (w *world) checkCarried(cm *commit, dev *device, c ssync.Collection, data any, absent []string, s *fieldState, fieldPush bool) {
	if fieldPush {
		w.checkFieldPush(cm, dev, c, data, absent)
		return
	}
	if c.CollectionName() != taskColl || c.RecordOf(data).DeletedAt != nil {
		return
	}
	var carried []string
	for _, f := range newFields {
		if !slices.Contains(absent, f) {
			carried = append(carried, f)
		}
	}
	if len(carried) == 0 {
		return
	}
	id := c.RecordOf(data).ID
	made := w.madeBy(dev, c, data, absent)
	if made == nil {
		w.violate("version %d: %s pushed task %s with content none of its writes made: %s", cm.version, dev.label, w.label(taskColl, id), canon(c, data, false))
		return
	}
	if (made.version != 1 && !made.beforeRepull) || s.deleted {
		return
	}
	values, zero := fieldValues(c, data), fieldValues(c, c.NewRow())
	for _, f := range carried {
		before, ok := s.values[f]
		if !ok {
			before = zero[f]
		}
		// Users never write a zero here: a zero is the column's default.
		// (A value the device wrote or pulled is its own or the server's,
		// and last writer wins.)
		if values[f] == zero[f] && before != zero[f] {
			w.rep.LostFields++
			when := "version 1 made"
			if made.version == 2 {
				when = "version 2 made before the re-pull after its upgrade,"
			}
			w.violate("version %d: %s pushed task %s with %s=%s, the column's default, in a change %s at step %d: it resets %s written by %s",
				cm.version, dev.label, w.label(taskColl, id), f, values[f], when, made.step, before, s.by[f])
		}
	}
}

// checkFieldPush checks a row pushed as field changes: every field it
// carries holds a value a write of the device set there. A field push
// carries only what the user changed, never a default or a value the
// device merely held.
func (w *world) checkFieldPush(cm *commit, dev *device, c ssync.Collection, data any, absent []string) {
	id := c.RecordOf(data).ID
	set := map[string]bool{}
	for _, lw := range w.writes[dev.label+"|"+c.CollectionName()+"|"+id.String()] {
		values := w.writeValues(lw)
		for _, f := range lw.fields {
			set[f+"|"+values[f]] = true
		}
	}
	for f, v := range fieldValues(c, data) {
		if slices.Contains(absent, f) || set[f+"|"+v] {
			continue
		}
		w.rep.LostFields++
		w.violate("version %d: %s pushed %s %s field %s=%s as changed, but no write of the device set it to that value",
			cm.version, dev.label, short(c.CollectionName()), w.label(c.CollectionName(), id), f, v)
	}
}

// writeValues returns the user field values a local write left in its row,
// by wire name.
func (w *world) writeValues(lw *localWrite) map[string]string {
	reg := w.reg
	if lw.version == 1 {
		reg = v1.Registry()
	}
	c, err := reg.Lookup(lw.coll)
	if err != nil || lw.content == "" {
		return nil
	}
	data := c.NewRow()
	if err := decodeInto(c, []byte(lw.content), data); err != nil {
		w.violate("a recorded write of %s does not decode: %v", w.label(lw.coll, lw.id), err)
		return nil
	}
	return fieldValues(c, data)
}

// versionsFinal checks the server against the per-field model, every
// acknowledged write, and every device against the server.
func (w *world) versionsFinal() {
	states, pushed := w.fieldModel(w.committed())
	w.compareFields(states)
	for _, lw := range w.acked {
		w.rep.AckedWrites++
		w.checkAckedFields(lw, states[lw.coll][lw.id], pushed)
	}
	for _, d := range w.devices {
		before := w.violationCount()
		w.compareDevice(d, "at the end")
		w.rep.LostFields += w.violationCount() - before
	}
	w.logf("final: devices %s", w.deviceVersions())
}

// checkAckedFields checks a write a successful sync acknowledged: a delete
// must be on the server; every field a create or an edit set must have
// been pushed with its value, unless a later write of the device set the
// field again or the row is deleted (a delete wins). A field push leaves
// out a field whose value is back to the one the device last saw from the
// server, which a push had then carried: texts and points are never
// written twice, so only a push of that write (or of a device that pulled
// it) carries them.
func (w *world) checkAckedFields(lw *localWrite, m *fieldState, pushed map[string]bool) {
	lbl := w.label(lw.coll, lw.id)
	if lw.op == "delete" {
		if m != nil && !m.deleted {
			w.violate("the delete of %s %s made on %s after step %d was acknowledged, but the row is live on the server", short(lw.coll), lbl, lw.dev.label, lw.step)
		}
		return
	}
	if m != nil && m.deleted {
		return
	}
	later := w.writes[lw.dev.label+"|"+lw.coll+"|"+lw.id.String()]
	values := w.writeValues(lw)
	for _, f := range lw.fields {
		if pushed[lw.coll+"|"+lw.id.String()+"|"+f+"|"+values[f]] {
			continue
		}
		superseded := false
		for _, o := range later {
			if o.seq > lw.seq && (o.op == "delete" || slices.Contains(o.fields, f)) {
				superseded = true
			}
		}
		if !superseded {
			w.rep.LostFields++
			w.violate("the %s of %s %s made on %s by version %d at step %d was acknowledged, but its %s=%s never reached the server",
				lw.op, short(lw.coll), lbl, lw.dev.label, lw.version, lw.step, f, values[f])
		}
	}
}

// compareFields checks every server row, field by field, against the
// model of the committed pushes.
func (w *world) compareFields(states map[string]map[uuid.UUID]*fieldState) {
	srv := w.serverRows()
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 8 {
			w.violate(format, args...)
		}
	}
	for _, c := range w.reg.Collections() {
		name := c.CollectionName()
		for _, id := range sortedIDs(srv[name]) {
			s := srv[name][id]
			w.rep.ServerRows++
			w.rep.RowsChecked++
			lbl := w.label(name, id)
			m := states[name][id]
			if m == nil {
				report("server has %s %s, which no committed push wrote", short(name), lbl)
				continue
			}
			if s.deleted {
				w.rep.DeletedRows++
			}
			if s.deleted != m.deleted || s.owner != m.owner {
				report("server row %s %s: owner=%s deleted=%v, the committed pushes make it owner=%s deleted=%v", short(name), lbl, s.owner, s.deleted, m.owner, m.deleted)
				continue
			}
			if s.deleted {
				continue
			}
			got := fieldValues(c, s.data)
			zero := fieldValues(c, c.NewRow())
			fields := make([]string, 0, len(got))
			for f := range got {
				fields = append(fields, f)
			}
			sort.Strings(fields)
			for _, f := range fields {
				w.rep.FieldsChecked++
				want, ok := m.values[f]
				by := m.by[f]
				if !ok {
					want, by = zero[f], "no push (the column's default)"
				}
				if got[f] != want {
					w.rep.LostFields++
					report("server row %s %s field %s is %s; the last committed push that carried it wrote %s (%s)", short(name), lbl, f, got[f], want, by)
				}
			}
		}
		for id, m := range states[name] {
			if srv[name][id] == nil {
				report("%s %s (deleted=%v) is missing on the server", short(name), w.label(name, id), m.deleted)
			}
		}
	}
	if bad > 8 {
		w.violate("... and %d more server rows differ from the model", bad-8)
	}
}

// violationCount returns the number of violations found so far.
func (w *world) violationCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.violations)
}
