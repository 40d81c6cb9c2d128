package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// pendingRow is a pushed row and the change counter it had when read.
type pendingRow struct {
	Collection string `json:"c"`
	ID         string `json:"i"`
	Dirty      int64  `json:"d"`
	// Sent is false for rows created and deleted before the server saw
	// them: there is nothing to tell the server, only to clean up.
	Sent bool `json:"s"`
}

// outboxEntry is one push kept until the server acknowledges it.
type outboxEntry struct {
	seq     int64
	key     string
	query   string
	body    []byte
	pending []pendingRow
	// encoded is body compressed in encoding (the coding the server took
	// when the push was made), sent as it is while the server takes that
	// coding, and what the outbox keeps; nil when the push is not
	// compressed.
	encoded  []byte
	encoding string
}

// maxOutboxBody bounds the decoded size of a compressed body read back
// from the outbox.
const maxOutboxBody = 1 << 30

// push first resends pushes left in the outbox by an earlier run, then
// pushes the current local changes in parts.
func (s *session) push(ctx context.Context) error {
	left, err := s.db.outbox(ctx, s.scope)
	if err != nil {
		return err
	}
	for _, e := range left {
		if err := s.send(ctx, e); err != nil {
			return err
		}
		// A push resent from the outbox counts like any other.
		for _, c := range bodyCounts(e.body) {
			addCount(&s.res.Pushed, c.Collection, c.Created, c.Updated, c.Deleted)
		}
	}
	if err := s.pushChanges(ctx); err != nil {
		return err
	}
	if err := s.db.dropCleanFields(ctx); err != nil {
		return err
	}
	return s.db.dropAbsent(ctx)
}

// bodyCounts counts the rows of a push body per collection.
func bodyCounts(body []byte) []TableCounts {
	var sets []struct {
		Collection string `json:"collection"`
		Changes    struct {
			Created []json.RawMessage `json:"created"`
			Updated []json.RawMessage `json:"updated"`
			Deleted []json.RawMessage `json:"deleted"`
		} `json:"changes"`
	}
	if json.Unmarshal(body, &sets) != nil {
		return nil // the body was encoded here; it always decodes
	}
	out := make([]TableCounts, 0, len(sets))
	for _, cs := range sets {
		out = append(out, TableCounts{Collection: cs.Collection, Created: len(cs.Changes.Created),
			Updated: len(cs.Changes.Updated), Deleted: len(cs.Changes.Deleted)})
	}
	return out
}

// dirtyRow is a changed row read for a push.
type dirtyRow struct {
	row  any
	rec  pendingRow
	op   string // created, updated, deleted, or "" when not sent
	id   uuid.UUID
	coll string
	// absent are the fields the row's pending change lacks (ss_absent).
	absent []string
	// fields is set for an update pushed field by field.
	fields *wire.FieldChange
	// deletedAt is when the row was deleted, for op "deleted".
	deletedAt time.Time
}

func (s *session) pushChanges(ctx context.Context) error {
	db := s.db
	checkpoints, err := db.checkpoints(ctx, s.scope)
	if err != nil {
		return err
	}
	if db.streamPush {
		return s.pushStreamed(ctx, checkpoints)
	}
	// Read every dirty row first (a snapshot of what to send), in order:
	// rows may reference rows further on (see pushStreamed).
	var all []dirtyRow
	for _, c := range db.reg.Collections() {
		rows, err := db.readDirty(ctx, db.tables[c.CollectionName()], s.scope, s.fields && !s.opts.WholeRows)
		if err != nil {
			return err
		}
		all = append(all, parentsFirst(c, rows)...)
	}
	total := 0
	for _, r := range all {
		if r.op != "" {
			total++
		}
	}
	if len(all) == 0 {
		return nil
	}
	batch := s.opts.PushBatchRows
	if batch <= 0 {
		batch = 5000
	}
	s.progress(Progress{Stage: StagePush, Done: 0, Total: total})
	// The parts go one after the other, in order; while the server applies
	// one, the device prepares and saves the next and acknowledges the one
	// before, so that the two sides work at once.
	var parts [][]dirtyRow
	reach := forwardReach(db.reg, all)
	for start := 0; start < len(all); {
		// Take up to batch rows that are sent (plus any unsent ones among
		// them, and the rows a row taken references further on: a cycle
		// goes in one part); registry order is kept because all is in
		// that order.
		end, n, need := start, 0, 0
		for end < len(all) && (n < batch || all[end].op == "" || end < need) {
			if all[end].op != "" {
				n++
			}
			need = max(need, reach[end]+1)
			end++
		}
		parts = append(parts, all[start:end])
		start = end
	}
	p := &pipeline{s: s, total: total}
	for _, part := range parts {
		e, counts, err := s.prepare(part, checkpoints)
		if err != nil {
			return p.stop(ctx, err)
		}
		if err := db.saveOutbox(ctx, s.scope, e); err != nil {
			return p.stop(ctx, err)
		}
		if err := p.next(ctx, e, counts, sentCount(part)); err != nil {
			return err
		}
	}
	return p.finish(ctx)
}

// pushStreamed pushes the changed rows as pushChanges does, for a registry
// whose rows never reference a row further on in a push (no
// self-reference, no back reference of a cycle of tables: see
// streamablePush): the rows are read while the parts before them are
// prepared, sent and applied, and the first part is a quarter of the
// others (firstPart), so that the server starts early.
func (s *session) pushStreamed(ctx context.Context, checkpoints map[string]string) error {
	db := s.db
	fields := s.fields && !s.opts.WholeRows
	total := 0
	for _, c := range db.reg.Collections() {
		n, err := db.countDirty(ctx, db.tables[c.CollectionName()], s.scope)
		if err != nil {
			return err
		}
		total += n
	}
	if total == 0 {
		return nil
	}
	batch := s.opts.PushBatchRows
	if batch <= 0 {
		batch = 5000
	}
	s.progress(Progress{Stage: StagePush, Done: 0, Total: total})
	// The reader runs ahead by at most a part.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The reader hands rows over in chunks (one wake-up per chunk, not per
	// row) and runs ahead by at most a part.
	const chunk = 256
	rows := make(chan []dirtyRow, batch/chunk+1)
	var readErr error
	go func() {
		defer close(rows)
		var buf []dirtyRow
		hand := func() error {
			select {
			case rows <- buf:
				buf = make([]dirtyRow, 0, chunk)
				return nil
			case <-rctx.Done():
				return rctx.Err()
			}
		}
		for _, c := range db.reg.Collections() {
			readErr = db.readDirtyEach(rctx, db.tables[c.CollectionName()], s.scope, fields, func(d dirtyRow) error {
				buf = append(buf, d)
				if len(buf) < chunk {
					return nil
				}
				return hand()
			})
			if readErr != nil {
				return
			}
		}
		if len(buf) > 0 {
			readErr = hand()
		}
	}()
	stop := func(err error) error {
		cancel()
		for range rows {
		}
		return err
	}
	p := &pipeline{s: s, total: total}
	limit := firstPart(batch)
	var part []dirtyRow
	send := func() error {
		e, counts, err := s.prepare(part, checkpoints)
		if err != nil {
			return p.stop(ctx, err)
		}
		if err := db.saveOutbox(ctx, s.scope, e); err != nil {
			return p.stop(ctx, err)
		}
		if err := p.next(ctx, e, counts, sentCount(part)); err != nil {
			return err
		}
		part, limit = nil, batch
		return nil
	}
	for got := range rows {
		for _, r := range got {
			part = append(part, r)
			if len(part) >= limit {
				if err := send(); err != nil {
					return stop(err)
				}
			}
		}
	}
	if readErr != nil {
		return p.stop(ctx, readErr)
	}
	if len(part) > 0 {
		if err := send(); err != nil {
			return err
		}
	}
	return p.finish(ctx)
}

// firstPart is the size of the first part of a push in parts of batch
// rows: a quarter of batch when that is at least 500 rows, else batch.
func firstPart(batch int) int {
	if batch/4 >= 500 {
		return batch / 4
	}
	return batch
}

// streamablePush reports whether no row of reg can reference a row that a
// push sends after it: no collection references itself or a collection
// after it in registry order (a back reference of a cycle of tables).
// Then no row needs parentsFirst or forwardReach, and the rows of a push
// can be sent while they are read (pushStreamed).
func streamablePush(reg *ssync.Registry) bool {
	order := map[string]int{}
	for i, c := range reg.Collections() {
		order[c.CollectionName()] = i
	}
	for i, c := range reg.Collections() {
		for _, col := range c.UserColumns() {
			if o, ok := order[col.Ref]; col.Ref != "" && (!ok || o >= i) {
				return false
			}
		}
	}
	return true
}

// countDirty counts the changed rows of lt in scope (those readDirty
// reads).
func (db *DB) countDirty(ctx context.Context, lt *localTable, scope string) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, lt.countDirty, scope).Scan(&n); err != nil {
		return 0, fmt.Errorf("ssync client: count changes of %s: %w", lt.coll.CollectionName(), err)
	}
	return n, nil
}

// pipeline posts a push's parts one after the other, each once the one
// before is answered, and acknowledges each part locally while the next is
// on its way.
type pipeline struct {
	s     *session
	total int
	done  int
	// flying is the part posted last, not yet acknowledged; nil when none.
	flying *flight
}

// flight is one posted part.
type flight struct {
	e      *outboxEntry
	counts []TableCounts
	rows   int // rows sent
	ack    *wire.PushResult
	err    error
	over   chan struct{} // closed once the answer (or the error) is in
}

// next waits for the part in flight, posts e, then acknowledges the part
// that was in flight.
func (p *pipeline) next(ctx context.Context, e *outboxEntry, counts []TableCounts, rows int) error {
	prev := p.flying
	if prev != nil {
		<-prev.over
		if prev.err != nil {
			p.flying = nil
			return prev.err // e stays in the outbox, sent by the next sync
		}
	}
	f := &flight{e: e, counts: counts, rows: rows, over: make(chan struct{})}
	go func() {
		defer close(f.over)
		f.ack, f.err = p.s.post(ctx, e)
	}()
	p.flying = f
	if prev != nil {
		if err := p.landed(ctx, prev); err != nil {
			return p.stop(ctx, err)
		}
	}
	return nil
}

// landed records and acknowledges an answered part.
func (p *pipeline) landed(ctx context.Context, f *flight) error {
	p.s.answered(f.ack)
	if err := p.s.acknowledge(ctx, f.e); err != nil {
		return err
	}
	for _, c := range f.counts {
		addCount(&p.s.res.Pushed, c.Collection, c.Created, c.Updated, c.Deleted)
	}
	p.done += f.rows
	// A streamed push counted its rows before reading them: rows changed
	// since may make more.
	p.total = max(p.total, p.done)
	p.s.progress(Progress{Stage: StagePush, Done: p.done, Total: p.total})
	return nil
}

// finish waits for the last part and acknowledges it.
func (p *pipeline) finish(ctx context.Context) error {
	f := p.flying
	if f == nil {
		return nil
	}
	p.flying = nil
	<-f.over
	if f.err != nil {
		return f.err
	}
	return p.landed(ctx, f)
}

// stop waits for the part in flight, if any, acknowledges it when the
// server took it, and returns err. A part it cannot acknowledge stays in
// the outbox: the next sync sends it again and the server answers as it
// did.
func (p *pipeline) stop(ctx context.Context, err error) error {
	f := p.flying
	if f == nil {
		return err
	}
	p.flying = nil
	<-f.over
	if f.err == nil {
		p.landed(ctx, f) // err says why the sync stops
	}
	return err
}

// sentCount counts the rows of part that are sent.
func sentCount(part []dirtyRow) int {
	n := 0
	for _, r := range part {
		if r.op != "" {
			n++
		}
	}
	return n
}

// prepare encodes one push of rows (in registry order).
func (s *session) prepare(rows []dirtyRow, checkpoints map[string]string) (*outboxEntry, []TableCounts, error) {
	var sets []wire.ChangeSet
	var counts []TableCounts
	var names []string
	e := &outboxEntry{key: uuid.NewString()}
	for _, r := range rows {
		e.pending = append(e.pending, r.rec)
		if r.op == "" {
			continue
		}
		if len(sets) == 0 || sets[len(sets)-1].Collection != r.coll {
			sets = append(sets, wire.ChangeSet{Collection: r.coll, Checkpoint: checkpoints[r.coll]})
			counts = append(counts, TableCounts{Collection: r.coll})
			names = append(names, r.coll)
		}
		cs, tc := &sets[len(sets)-1], &counts[len(counts)-1]
		switch r.op {
		case "created":
			cs.Created = append(cs.Created, r.row)
			tc.Created++
		case "updated":
			cs.Updated = append(cs.Updated, r.row)
			tc.Updated++
			if len(r.absent) > 0 {
				if cs.Absent == nil {
					cs.Absent = map[any][]string{}
				}
				cs.Absent[r.row] = r.absent
			}
			if r.fields != nil {
				if cs.Fields == nil {
					cs.Fields = map[any]*wire.FieldChange{}
				}
				cs.Fields[r.row] = r.fields
			}
		case "deleted":
			cs.Deleted = append(cs.Deleted, r.id)
			if s.deletedAt {
				cs.DeletedAt = append(cs.DeletedAt, r.deletedAt)
			}
			tc.Deleted++
		}
		coll, _ := s.db.reg.Lookup(r.coll)
		s.log("push", r.coll, r.op, coll, r.row, r.id)
	}
	w := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, s.db.reg, sets); err != nil {
		return nil, nil, fmt.Errorf("ssync client: encode push: %w", err)
	}
	body, err := w.BuildBytes()
	if err != nil {
		return nil, nil, fmt.Errorf("ssync client: encode push: %w", err)
	}
	q := url.Values{wire.ParamCollections: names, wire.ParamResult: {wire.ResultFull}}
	if len(sets) > 0 {
		q.Set(wire.ParamCheckpoint, commonCheckpoint(sets))
	}
	e.query = q.Encode()
	e.body = body
	if s.pushEncoding != "" {
		// Compressed once, here: the outbox keeps it so, and every attempt
		// sends it.
		if e.encoded, err = contentenc.Encode(s.pushEncoding, body); err != nil {
			return nil, nil, fmt.Errorf("ssync client: compress push: %w", err)
		}
		e.encoding = s.pushEncoding
	}
	return e, counts, nil
}

// commonCheckpoint is the push's timestamp parameter: the checkpoint the
// pushed collections share, or empty (the start) when they differ.
// Checkpoints are opaque, so they are compared only for equality.
func commonCheckpoint(sets []wire.ChangeSet) string {
	cp := sets[0].Checkpoint
	for _, s := range sets[1:] {
		if s.Checkpoint != cp {
			return ""
		}
	}
	return cp
}

// send pushes one outbox entry (unless it holds only rows never sent) and,
// once the server acknowledged it, acknowledges its rows locally and drops
// it from the outbox, in one transaction.
func (s *session) send(ctx context.Context, e *outboxEntry) error {
	ack, err := s.post(ctx, e)
	if err != nil {
		return err
	}
	s.answered(ack)
	return s.acknowledge(ctx, e)
}

// post sends one outbox entry to the server, unless it holds only rows
// never sent (then the answer is nil). It touches no state of the session
// but the push coding, so that it may run beside the preparation and the
// acknowledgement of other entries.
func (s *session) post(ctx context.Context, e *outboxEntry) (*wire.PushResult, error) {
	if !sentAny(e.pending) {
		return nil, nil
	}
	q, err := url.ParseQuery(e.query)
	if err != nil {
		return nil, fmt.Errorf("ssync client: outbox entry %d: %w", e.seq, err)
	}
	c := call{op: wire.PathPush, method: http.MethodPost, query: q, body: e.body, key: e.key, device: true, encoding: s.pushEncoding}
	if e.encoded != nil && e.encoding == s.pushEncoding {
		c.encodedBody = e.encoded
	}
	body, err := s.ex.do(ctx, c)
	if errors.Is(err, ErrUnsupportedEncoding) {
		// The server stopped taking compressed bodies since its
		// handshake: the same push (the same key) as it is.
		// The next sync asks again what it takes.
		s.pushEncoding, c.encoding = "", ""
		s.db.forgetHandshake()
		body, err = s.ex.do(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	var ack wire.PushResult
	if err := json.Unmarshal(body, &ack); err != nil {
		return nil, &TransportError{Op: wire.PathPush, StatusCode: http.StatusOK, Message: "answer is not a push result", Err: err}
	}
	return &ack, nil
}

// answered records what the server's answer to a push reports.
func (s *session) answered(ack *wire.PushResult) {
	if ack == nil {
		return
	}
	s.res.Ignored = append(s.res.Ignored, ack.Ignored...)
	s.res.Merged = append(s.res.Merged, ack.Merged...)
}

// acknowledge marks the rows of an entry the server acknowledged and drops
// the entry from the outbox, in one transaction.
func (s *session) acknowledge(ctx context.Context, e *outboxEntry) error {
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ssync client: acknowledge push: %w", err)
	}
	defer tx.Rollback()
	if err := ackRows(ctx, tx, s.db, e.pending, e.body); err != nil {
		return err
	}
	if e.seq != 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ss_outbox WHERE seq = ?`, e.seq); err != nil {
			return fmt.Errorf("ssync client: acknowledge push: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: acknowledge push: %w", err)
	}
	return nil
}

func sentAny(p []pendingRow) bool {
	for _, r := range p {
		if r.Sent {
			return true
		}
	}
	return false
}

// saveOutbox keeps a push until it is acknowledged.
func (db *DB) saveOutbox(ctx context.Context, scope string, e *outboxEntry) error {
	pending, err := json.Marshal(e.pending)
	if err != nil {
		return err
	}
	// A compressed body is kept as it is: a fraction of the bytes to
	// write, and the coding is told by its first bytes (contentenc.Sniff).
	stored := e.body
	if e.encoded != nil {
		stored = e.encoded
	}
	res, err := db.sql.ExecContext(ctx, `INSERT INTO ss_outbox (idem_key, scope, query, body, pending) VALUES (?, ?, ?, ?, ?)`,
		e.key, scope, e.query, stored, string(pending))
	if err != nil {
		return fmt.Errorf("ssync client: save push: %w", err)
	}
	e.seq, err = res.LastInsertId()
	return err
}

// outbox returns the pushes of scope not yet acknowledged, oldest first.
func (db *DB) outbox(ctx context.Context, scope string) ([]*outboxEntry, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT seq, idem_key, query, body, pending FROM ss_outbox WHERE scope = ? ORDER BY seq`, scope)
	if err != nil {
		return nil, fmt.Errorf("ssync client: read outbox: %w", err)
	}
	defer rows.Close()
	var out []*outboxEntry
	for rows.Next() {
		e := &outboxEntry{}
		var pending string
		if err := rows.Scan(&e.seq, &e.key, &e.query, &e.body, &pending); err != nil {
			return nil, fmt.Errorf("ssync client: read outbox: %w", err)
		}
		if err := json.Unmarshal([]byte(pending), &e.pending); err != nil {
			return nil, fmt.Errorf("ssync client: outbox entry %d: %w", e.seq, err)
		}
		if enc := contentenc.Sniff(e.body); enc != "" {
			e.encoded, e.encoding = e.body, enc
			if e.body, err = contentenc.Decode(enc, e.encoded, maxOutboxBody); err != nil {
				return nil, fmt.Errorf("ssync client: outbox entry %d: %w", e.seq, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PendingPushes reports how many pushes wait in the outbox for an
// acknowledgement (after a lost answer or a crash); Synchronize resends them
// first.
func (db *DB) PendingPushes(ctx context.Context) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM ss_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("ssync client: %w", err)
	}
	return n, nil
}

// readDirty reads the table's changed rows in scope. Rows already in the
// outbox are read again; their newer state is pushed after the outbox.
// With fields, updates known field by field are pushed so.
func (db *DB) readDirty(ctx context.Context, lt *localTable, scope string, fields bool) ([]dirtyRow, error) {
	var out []dirtyRow
	err := db.readDirtyEach(ctx, lt, scope, fields, func(d dirtyRow) error {
		out = append(out, d)
		return nil
	})
	return out, err
}

// readDirtyEach reads the changed rows of lt in scope, as readDirty, and
// hands each to each as it is read; an error of each stops the reading.
func (db *DB) readDirtyEach(ctx context.Context, lt *localTable, scope string, fields bool, each func(dirtyRow) error) error {
	name := lt.coll.CollectionName()
	absent, err := db.absentOf(ctx, name)
	if err != nil {
		return err
	}
	added, err := db.addedColumns(ctx, scope, name)
	if err != nil {
		return err
	}
	var changed map[string]*wire.FieldChange
	if fields || len(added) > 0 {
		if changed, err = db.changedFields(ctx, lt); err != nil {
			return err
		}
	}
	// The rows are read at full speed; ctx is checked every checkRows rows
	// (see hot.go).
	held, err := db.heldRefs(ctx, lt)
	if err != nil {
		return fmt.Errorf("ssync client: read changes of %s: %w", name, err)
	}
	rows, err := db.sql.QueryContext(quiet(ctx), lt.dirty, scope)
	if err != nil {
		return fmt.Errorf("ssync client: read changes of %s: %w", name, err)
	}
	defer rows.Close()
	var targets []any
	for n := 0; rows.Next(); n++ {
		if n%checkRows == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("ssync client: read changes of %s: %w", name, err)
			}
		}
		row := lt.coll.NewRow()
		rec := lt.coll.RecordOf(row)
		var dirty int64
		var known bool
		targets = lt.coll.AppendTargets(row, metaTargets(rec, targets[:0]))
		targets = append(targets, &dirty, &known)
		if err := rows.Scan(targets...); err != nil {
			return fmt.Errorf("ssync client: read changes of %s: %w", name, err)
		}
		d := dirtyRow{row: row, id: rec.ID, coll: name,
			rec: pendingRow{Collection: name, ID: rec.ID.String(), Dirty: dirty, Sent: true}}
		switch {
		case rec.DeletedAt != nil && known:
			d.op, d.row, d.deletedAt = "deleted", nil, *rec.DeletedAt
		case rec.DeletedAt != nil:
			// Deleted before the server ever saw it. It still goes, as a
			// created row that is already deleted: a row pushed with it may
			// reference it (a foreign key), and no other device will be sent
			// a row created and deleted since its checkpoint.
			d.op = "created"
		case known:
			d.op = "updated"
			if a := absent[d.rec.ID]; a != nil && a.dirty == dirty {
				d.absent = a.cols
			}
			d.absent = union(d.absent, held[rec.ID])
			f := changed[d.rec.ID]
			if fields && f != nil {
				d.fields = fieldPush(lt.coll, row, f, d.absent)
			} else if len(added) > 0 {
				d.absent = union(d.absent, unchanged(lt.coll, row, added, f))
			}
		default:
			d.op = "created"
		}
		if err := each(d); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ssync client: read changes of %s: %w", name, err)
	}
	return nil
}

// ackChunk is how many ids one acknowledging UPDATE names (in one JSON
// array).
const ackChunk = 5000

// ackRows marks pushed rows as known to the server and clean, unless they
// changed since they were read (their change counter moved): those stay
// dirty. Rows are grouped by table and counter so that a few statements
// acknowledge thousands of rows.
//
// body is the push's body: the fields it carried of rows that changed
// again since get the pushed values as their base (rebase).
func ackRows(ctx context.Context, tx *sql.Tx, db *DB, pending []pendingRow, body []byte) error {
	type group struct {
		collection string
		sent       bool
		dirty      int64
	}
	groups := map[group][]string{}
	var order []group
	for _, p := range pending {
		if _, ok := db.tables[p.Collection]; !ok {
			continue // a table dropped from the registry since
		}
		g := group{p.Collection, p.Sent, p.Dirty}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], p.ID)
	}
	var moved map[string]map[string]int64 // collection, id: counter pushed
	for _, g := range order {
		ids := groups[g]
		t := quote(g.collection)
		for start := 0; start < len(ids); start += ackChunk {
			chunk, err := json.Marshal(ids[start:min(start+ackChunk, len(ids))])
			if err != nil {
				return err
			}
			// The ids go as one JSON array: one value to bind, not one per
			// row.
			const in = "SELECT value FROM json_each(?)"
			if g.sent {
				left, err := ackFields(ctx, tx, db.tables[g.collection], in, g.dirty, string(chunk))
				if err != nil {
					return err
				}
				for _, id := range left {
					if moved == nil {
						moved = map[string]map[string]int64{}
					}
					if moved[g.collection] == nil {
						moved[g.collection] = map[string]int64{}
					}
					moved[g.collection][id] = g.dirty
				}
			}
			var q string
			if g.sent {
				q = withColumns("UPDATE " + t + " SET {known} = 1, {dirty} = CASE WHEN {dirty} = ? THEN 0 ELSE {dirty} END WHERE `id` IN (" + in + ")")
			} else {
				q = withColumns("UPDATE " + t + " SET {dirty} = 0 WHERE {dirty} = ? AND `id` IN (" + in + ")")
			}
			if _, err := tx.ExecContext(ctx, q, g.dirty, string(chunk)); err != nil {
				return fmt.Errorf("ssync client: acknowledge push: %w", err)
			}
		}
	}
	if len(moved) > 0 {
		return rebase(ctx, tx, db, body, moved)
	}
	return nil
}
