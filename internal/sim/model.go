package sim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/conflict"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// commit is a push the server applied (not a replay), at its version.
type commit struct {
	rec     *pushRecord
	answer  pushAnswer
	version uint64
}

// finish lets every device sync until nothing moves, then runs the final
// checks.
func (w *world) finish() {
	for _, d := range w.devices {
		w.join(d)
	}
	if w.failed() {
		return
	}
	w.logf("final: every device syncs, without faults, until nothing moves")
	quiet := false
	for round := 1; round <= 8 && !quiet; round++ {
		quiet = true
		for _, d := range w.devices {
			o := <-w.startSync(d, w.drawPlan(false), "final")
			w.finishSync(o, false)
			if o.err != nil {
				return
			}
			if moved(o.res) {
				quiet = false
			}
		}
	}
	if !quiet {
		w.violate("the devices still exchange changes after 8 fault-free rounds of syncs")
		return
	}
	w.logf("final: checking every device, the server against the model of committed pushes, and every acknowledged write")
	for _, d := range w.devices {
		if len(d.unacked) > 0 {
			w.violate("%s: %d local writes were never acknowledged", d.label, len(d.unacked))
		}
	}
	w.app.final()
}

// committed returns the pushes the server applied, in commit order, after
// checking that no idempotency key was applied twice and that every replay
// repeated the recorded answer.
func (w *world) committed() []commit {
	w.mu.Lock()
	pushes := append([]*pushRecord(nil), w.pushes...)
	w.mu.Unlock()
	first := map[string]*pushRecord{}
	var commits []commit
	var replays []*pushRecord
	for _, pr := range pushes {
		if pr.status != 200 {
			continue // reported when it happened
		}
		ans, v, err := parseAnswer(pr.answer)
		if err != nil {
			w.violate("%s: %v", pr.dev, err)
			continue
		}
		if pr.replayed {
			replays = append(replays, pr)
			continue
		}
		k := w.byLabel[pr.dev].user.name + "|" + pr.key
		if prev := first[k]; prev != nil && pr.key != "" {
			w.violate("push with idempotency key %s of %s was applied twice (answers %s and %s)", pr.key, pr.dev, prev.answer, pr.answer)
		}
		first[k] = pr
		commits = append(commits, commit{rec: pr, answer: ans, version: v})
	}
	for _, r := range replays {
		orig := first[w.byLabel[r.dev].user.name+"|"+r.key]
		if orig == nil {
			w.violate("the server replayed key %s of %s, which it never applied", r.key, r.dev)
			continue
		}
		var a, b any
		json.Unmarshal(orig.answer, &a)
		json.Unmarshal(r.answer, &b)
		if !reflect.DeepEqual(a, b) {
			w.violate("replay of key %s of %s answered %s, the push itself %s", r.key, r.dev, r.answer, orig.answer)
		}
	}
	sort.SliceStable(commits, func(i, j int) bool { return commits[i].version < commits[j].version })
	for i := 1; i < len(commits); i++ {
		if commits[i].version == commits[i-1].version {
			w.violate("two pushes committed at version %d (%s and %s)", commits[i].version, commits[i-1].rec.dev, commits[i].rec.dev)
		}
	}
	for i := range commits {
		for j := range commits {
			if before(&commits[i], &commits[j]) && commits[i].version >= commits[j].version {
				w.violate("the push of %s committed at version %d before the push of %s began, which got the lower version %d",
					commits[i].rec.dev, commits[i].version, commits[j].rec.dev, commits[j].version)
			}
		}
	}
	w.rep.Pushes, w.rep.Replays = len(commits), len(replays)
	return commits
}

// event is one change a committed push made, or tried to make, to a row.
type event struct {
	c       *commit
	del     bool
	data    any    // written row (writes), its owner filled in
	content string // canonical written row
	ignored bool   // the server reported the write ignored
	server  bool   // a delete the server made itself (ondelete=cascade): no writer
	// absent are the fields (by wire name) the write left out: the server
	// kept its values (a device's held references, runtime/client/held.go).
	absent []string
}

// wireNames returns the wire names of the columns names of c.
func wireNames(c ssync.Collection, names []string) []string {
	var out []string
	for _, col := range c.UserColumns() {
		if slices.Contains(names, col.Name) {
			out = append(out, col.Wire)
		}
	}
	return out
}

// keptFields returns the row write e makes of a row whose server row is
// now srv: e's data, with the fields e left out as the server has them,
// provided another write of the row (evs) wrote those values. Otherwise
// e's data as it is, which will not match.
func keptFields(c ssync.Collection, e *event, evs []*event, srv any) any {
	if len(e.absent) == 0 || srv == nil {
		return e.data
	}
	want := fieldValues(c, srv)
	for _, o := range evs {
		if o == e || o.data == nil {
			continue
		}
		got, same := fieldValues(c, o.data), true
		for _, f := range e.absent {
			same = same && got[f] == want[f]
		}
		if same {
			return withFields(c, e.data, srv, e.absent)
		}
	}
	return e.data
}

// before reports whether push a committed before push b began: then b saw
// a's writes.
func before(a, b *commit) bool { return a.rec.end < b.rec.start }

// checkModel collects what every committed push did to every row and
// checks the server's answers and final rows against the documented rules,
// and every acknowledged local write. Pushes that did not overlap in time
// are ordered; for overlapping ones every order is allowed. It returns the
// events by collection and id.
func (w *world) checkModel() map[string]map[uuid.UUID][]*event {
	commits := w.committed()
	events := map[string]map[uuid.UUID][]*event{}
	for _, name := range w.reg.Names() {
		events[name] = map[uuid.UUID][]*event{}
	}
	pushed := map[string]bool{} // device|collection|id|content of every row pushed
	for i := range commits {
		cm := &commits[i]
		dev := w.byLabel[cm.rec.dev]
		allowed := dev.user.scope()
		sets, err := wire.DecodeChangeSets(cm.rec.body, w.reg, ssync.DecodeOptions{Strict: true, TrackAbsent: true})
		if err != nil {
			w.violate("the server applied a push of %s that does not decode: %v", dev.label, err)
			continue
		}
		ignored := map[string]string{}
		for _, ig := range cm.answer.Ignored {
			ignored[ig.Collection+"|"+ig.ID.String()] = ig.Reason
		}
		written := map[string]bool{}
		for _, cs := range sets {
			c, _ := w.reg.Lookup(cs.Collection)
			for _, rows := range [][]any{cs.Created, cs.Updated} {
				for _, data := range rows {
					rec := c.RecordOf(data)
					key := cs.Collection + "|" + rec.ID.String()
					written[key] = true
					content := canon(c, data, false)
					pushed[dev.label+"|"+key+"|"+content] = true
					if rec.SyncID == "" {
						rec.SyncID = dev.user.name
					}
					may := func(owner string) bool { return allowed[owner] }
					if conflict.Decide(conflict.Row{}, conflict.Push{Owner: rec.SyncID}, may) == conflict.Refuse {
						w.violate("version %d: the server took a %s row for %s from %s, who may not write for them", cm.version, short(cs.Collection), rec.SyncID, dev.label)
					}
					ev := &event{c: cm, data: data, content: canon(c, data, false), ignored: ignored[key] != "", absent: wireNames(c, cs.Absent[data])}
					if rec.DeletedAt != nil {
						// A row that arrives already deleted (deleted on the
						// device before it was ever pushed) is a write and a
						// delete in the same push.
						events[cs.Collection][rec.ID] = append(events[cs.Collection][rec.ID], ev)
						ev = &event{c: cm, del: true}
					}
					if ignored[key] == wire.ReasonParentDeleted {
						// Written as it came, and deleted: its user is
						// deleted (ondelete=cascade).
						ev.ignored = false
						events[cs.Collection][rec.ID] = append(events[cs.Collection][rec.ID], ev)
						ev = &event{c: cm, del: true, server: true}
					} else if r := ignored[key]; r != "" && r != wire.ReasonDeleted {
						w.violate("version %d: the server ignored %s %s of %s for %q, but it has no resolver", cm.version, short(cs.Collection), w.label(cs.Collection, rec.ID), dev.label, r)
					}
					events[cs.Collection][rec.ID] = append(events[cs.Collection][rec.ID], ev)
				}
			}
			for _, id := range cs.Deleted {
				events[cs.Collection][id] = append(events[cs.Collection][id], &event{c: cm, del: true})
			}
		}
		for key := range ignored {
			if !written[key] {
				w.violate("version %d: the server reported %s ignored, which the push of %s did not write", cm.version, key, dev.label)
			}
		}
	}
	w.addCascades(events)
	// What the rules say about each row's history.
	for _, name := range w.reg.Names() {
		for id, evs := range events[name] {
			w.checkHistory(name, id, evs)
		}
	}
	w.compareModel(events)
	w.checkAcked(events, pushed)
	return events
}

// checkHistory checks the answers the pushes of one row got: a write is
// ignored exactly when a delete committed before it, and no write is
// applied after a delete committed (a delete wins).
func (w *world) checkHistory(coll string, id uuid.UUID, evs []*event) {
	lbl := w.label(coll, id)
	for _, e := range evs {
		if e.del {
			continue
		}
		var earlierDelete, possibleDelete *event
		for _, d := range evs {
			if !d.del || d.c == e.c {
				continue
			}
			if before(d.c, e.c) {
				earlierDelete = d
			}
			if !before(e.c, d.c) {
				possibleDelete = d
			}
		}
		// What the conflict policy makes of the write with the deletes
		// that certainly, and that possibly, committed before it.
		owner := func(string) bool { return true }
		certain := conflict.Decide(conflict.Row{Found: true, Deleted: earlierDelete != nil}, conflict.Push{}, owner)
		possible := conflict.Decide(conflict.Row{Found: true, Deleted: possibleDelete != nil}, conflict.Push{}, owner)
		switch {
		case !e.ignored && certain == conflict.IgnoreDeleted:
			w.violate("%s %s came back: %s deleted it at version %d, yet a later push of %s wrote it at version %d instead of being ignored "+
				"(the row was live again: a write that overlapped the delete overwrote it, or its tombstone was purged; %d purges so far)",
				short(coll), lbl, earlierDelete.c.rec.dev, earlierDelete.c.version, e.c.rec.dev, e.c.version, w.purges)
		case e.ignored && possible != conflict.IgnoreDeleted:
			w.violate("the server ignored the write of %s %s by %s at version %d as deleted, but no delete came before it",
				short(coll), lbl, e.c.rec.dev, e.c.version)
		}
	}
}

// expected is what the server should hold of one row: a set of possible
// states when pushes overlapped.
func (w *world) expected(c ssync.Collection, evs []*event) (deleted bool, owner string, finals, creators []*event) {
	var writes []*event
	for _, e := range evs {
		if e.del {
			deleted = true
			continue
		}
		if owner == "" {
			owner = c.RecordOf(e.data).SyncID
		}
		if !e.ignored {
			writes = append(writes, e)
		}
	}
	// The last state: a write (or, when deleted, the first delete) that no
	// other one certainly followed (preceded).
	for _, e := range evs {
		if e.del != deleted || (!e.del && e.ignored) {
			continue
		}
		last := true
		for _, o := range evs {
			if o == e || o.del != e.del || (!o.del && o.ignored) {
				continue
			}
			if (!deleted && before(e.c, o.c)) || (deleted && before(o.c, e.c)) {
				last = false
			}
		}
		if last {
			finals = append(finals, e)
		}
	}
	// The creating write: one no other write certainly preceded.
	for _, e := range writes {
		first := true
		for _, o := range writes {
			if o != e && before(o.c, e.c) {
				first = false
			}
		}
		if first {
			creators = append(creators, e)
		}
	}
	return deleted, owner, finals, creators
}

// compareModel checks every server row, all columns, against what the
// committed pushes make it.
func (w *world) compareModel(events map[string]map[uuid.UUID][]*event) {
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
			if s.deleted {
				w.rep.DeletedRows++
			}
			w.rep.RowsChecked++
			lbl := w.label(name, id)
			evs := events[name][id]
			if len(evs) == 0 {
				report("server has %s %s, which no committed push wrote", short(name), lbl)
				continue
			}
			deleted, owner, finals, creators := w.expected(c, evs)
			got := fmt.Sprintf("owner=%s deleted=%v version=%d writer=%s %s", s.owner, s.deleted, s.version, s.writer, canon(c, s.data, s.deleted))
			want := func(e *event) string {
				content := "(the content of none of the writes)"
				if e.data != nil {
					content = canon(c, keptFields(c, e, evs, s.data), false)
				} else {
					// A delete keeps the content of a write before it.
					sc := canon(c, s.data, true)
					for _, o := range evs {
						if o.data != nil && canon(c, keptFields(c, o, evs, s.data), true) == sc {
							content = sc
							break
						}
					}
				}
				version, writer := e.c.version, e.c.rec.deviceID
				if e.server {
					writer = ""
				}
				if deleted {
					// A write ignored as deleted, and a device's delete of
					// the row deleted already, send the delete to its
					// device again: the tombstone takes that push's
					// version and no writer.
					for _, o := range evs {
						again := (!o.del && o.ignored) || (o.del && !o.server && o != e)
						if again && o.c.version > version {
							version, writer = o.c.version, ""
						}
					}
				}
				return fmt.Sprintf("owner=%s deleted=%v version=%d writer=%s %s", owner, deleted, version, writer, content)
			}
			var wants []string
			match := false
			for _, e := range finals {
				if got == want(e) {
					match = true
					break
				}
				wants = append(wants, want(e))
			}
			if !match {
				report("server row %s %s is not what the committed pushes make it:\n      server   %s\n      expected %s",
					short(name), lbl, got, strings.Join(wants, "\n      or       "))
			}
			created := false
			for _, e := range creators {
				if s.created == e.c.version && s.origin == e.c.rec.deviceID {
					created = true
				}
			}
			if !created && len(creators) > 0 {
				report("server row %s %s says it was created at version %d by %s; no push that could have created it matches",
					short(name), lbl, s.created, s.origin)
			}
		}
		for id, evs := range events[name] {
			if srv[name][id] != nil {
				continue
			}
			deleted, _, _, _ := w.expected(c, evs)
			if deleted && w.purges > 0 {
				continue // its tombstone was purged
			}
			report("%s %s (deleted=%v) is missing on the server", short(name), w.label(name, id), deleted)
		}
	}
	if bad > 8 {
		w.violate("... and %d more server rows differ from the model", bad-8)
	}
}

// checkAcked checks every local write a successful sync acknowledged: a
// delete must be on the server; a create or edit must have been pushed
// as written, unless the row is deleted (a delete wins).
func (w *world) checkAcked(events map[string]map[uuid.UUID][]*event, pushed map[string]bool) {
	c := map[string]ssync.Collection{}
	for _, coll := range w.reg.Collections() {
		c[coll.CollectionName()] = coll
	}
	for _, lw := range w.acked {
		w.rep.AckedWrites++
		evs := events[lw.coll][lw.id]
		deleted, _, _, _ := w.expected(c[lw.coll], evs)
		lbl := w.label(lw.coll, lw.id)
		// The push carries the row as it is when the sync reads it: as this
		// write left it, or as a later write of the same device (made while
		// the sync ran) did; a later delete may have superseded it.
		superseded, found := false, false
		for _, later := range w.writes[lw.dev.label+"|"+lw.coll+"|"+lw.id.String()] {
			switch {
			case later.seq < lw.seq:
			case later.op == "delete":
				superseded = true
			case pushed[lw.dev.label+"|"+lw.coll+"|"+lw.id.String()+"|"+later.content]:
				found = true
			}
		}
		switch {
		case lw.op == "delete" || (superseded && !found):
			if len(evs) > 0 && !deleted {
				w.violate("the delete of %s %s made on %s after step %d was acknowledged, but the row is live on the server", short(lw.coll), lbl, lw.dev.label, lw.step)
			}
		case found || deleted:
			// On the server, or deleted there: a delete wins over edits.
		default:
			w.violate("the %s of %s %s made on %s at step %d was acknowledged but never reached the server: %s", lw.op, short(lw.coll), lbl, lw.dev.label, lw.step, lw.content)
		}
	}
}

// checkPulledDeletes checks that every deleted id a pull sent belonged to a
// user the device may read.
func (w *world) checkPulledDeletes(events map[string]map[uuid.UUID][]*event) {
	w.mu.Lock()
	dels := append([]pulledDelete(nil), w.pulledDels...)
	w.mu.Unlock()
	for _, pd := range dels {
		dev := w.byLabel[pd.dev]
		c, _ := w.reg.Lookup(pd.coll)
		evs := events[pd.coll][pd.id]
		_, owner, _, _ := w.expected(c, evs)
		switch {
		case len(evs) == 0:
			w.violate("a pull sent %s the deletion of %s, which no push wrote", pd.dev, pd.id)
		case !dev.user.scope()[owner]:
			w.violate("a pull sent %s the deletion of %s %s of %s, whom %s may not read", pd.dev, short(pd.coll), w.label(pd.coll, pd.id), owner, dev.user.name)
		}
	}
}

// addCascades adds the deletes the server makes itself: a note whose user
// a push deletes goes with it (ondelete=cascade, the default), in that
// push, when the note's state before the delete references that user.
// Versions follow commit order, and the delete locks the user before it
// reads the notes, so the state is what the commits before it left.
func (w *world) addCascades(events map[string]map[uuid.UUID][]*event) {
	for userID, evs := range events[generated.UserTable().Name] {
		var del *event
		for _, e := range evs {
			if e.del && (del == nil || e.c.version < del.c.version) {
				del = e
			}
		}
		if del == nil {
			continue
		}
		for noteID, nevs := range events[generated.NoteTable().Name] {
			if last := stateBefore(nevs, del.c.version); last != nil && !last.del && noteUserOf(last, nevs) == userID {
				events[generated.NoteTable().Name][noteID] = append(nevs, &event{c: del.c, del: true, server: true})
			}
		}
	}
}

// stateBefore returns the last event that changed the row before the
// delete of a user at version v: a write the server applied, or a delete,
// in a push before it or in the same push (a push writes every row, then
// deletes notes, then users).
func stateBefore(evs []*event, v uint64) *event {
	var last *event
	for _, e := range evs {
		if e.c.version <= v && !e.server && (e.del || !e.ignored) && (last == nil || e.c.version >= last.c.version) {
			last = e
		}
	}
	return last
}

// noteUserOf returns the user note write e left its row under: the one it
// wrote, or when it left the field out (a held reference), the one the
// last write before it that carried the field wrote.
func noteUserOf(e *event, evs []*event) uuid.UUID {
	if !slices.Contains(e.absent, "userId") {
		return noteUser(e.data)
	}
	var prev *event
	for _, o := range evs {
		if o != e && !o.del && o.data != nil && !slices.Contains(o.absent, "userId") && o.c.version <= e.c.version &&
			(prev == nil || o.c.version >= prev.c.version) {
			prev = o
		}
	}
	if prev == nil {
		return uuid.Nil
	}
	return noteUser(prev.data)
}

func noteUser(data any) uuid.UUID {
	if n, ok := data.(*models.Note); ok && n.UserID != nil {
		return *n.UserID
	}
	return uuid.Nil
}
