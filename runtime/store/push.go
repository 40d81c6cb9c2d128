package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/conflict"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// PushRequest is one push.
type PushRequest struct {
	// Identity is who pushes.
	Identity Identity
	// Device is the pushing device's id; rows it writes are not pulled back
	// by it. May be empty.
	Device string
	// Key is the Idempotency-Key; empty makes the push not idempotent.
	Key string
	// RequestHash identifies the request body, to refuse a key reused with
	// another body.
	RequestHash string
	// Since is the client's checkpoint, used for collections whose change
	// set carries no timestamp.
	Since Checkpoint
	// Sets are the changes, at most one per collection.
	Sets []wire.ChangeSet
	// RefuseChanged makes a write or delete of a row that changed on the
	// server after the checkpoint (by any device, including a delete)
	// refuse the whole push with ErrConflict instead of going to the
	// resolver: the rule of protocols whose clients pull and retry.
	RefuseChanged bool
}

// Push applies the request's change sets in one transaction: creates and
// updates in registry order (parents first; a back reference of a cycle of
// tables to a row the push writes later is written once that row is), then
// deletes in reverse order.
// Any refused row refuses the whole push. A non-empty key makes the push
// idempotent per user: the key, the request hash and the answer are stored
// with the writes, and a replay returns the stored answer.
//
// A push that the database aborts for a deadlock or a serialization failure
// is run again, a few times, before the error is returned.
//
// A push waits for its turn (WithPushConcurrency) only as long as ctx lives;
// once its transaction begins it runs to its end even when ctx is cancelled
// (the client went away), so that its outcome is never "committed but
// answered as failed": a driver that commits with a cancelled context
// cannot tell whether the commit happened. Pushes are bounded in rows, so
// this work is bounded; a client that retries with the same key gets the
// recorded answer.
func (s *Store) Push(ctx context.Context, req PushRequest) (*wire.PushResult, error) {
	select {
	case s.pushGate <- struct{}{}:
		defer func() { <-s.pushGate }()
	case <-ctx.Done():
		return nil, fmt.Errorf("ssync store: push: %w", ctx.Err())
	}
	ctx = context.WithoutCancel(ctx)
	var res *wire.PushResult
	arrived := s.records(req)
	err := s.retryConflicts(ctx, func() error {
		// A push marks rows it writes (a row under a deleted parent
		// becomes deleted, a row without an owner gets the pusher): a
		// retry starts from the rows as they arrived.
		arrived.restore()
		var err error
		res, err = s.push(ctx, req)
		return err
	})
	return res, err
}

// arrivedRecords are the pushed rows' records as they arrived.
type arrivedRecords []struct {
	rec       *ssync.Record
	deletedAt *time.Time
	syncID    string
}

// records returns the records of req's rows as they are now.
func (s *Store) records(req PushRequest) arrivedRecords {
	var out arrivedRecords
	for _, cs := range req.Sets {
		t := s.tables[cs.Collection]
		if t == nil {
			continue // refused by the push, whole
		}
		for _, rows := range [][]any{cs.Created, cs.Updated} {
			for _, row := range rows {
				rec := t.coll.RecordOf(row)
				var at *time.Time
				if rec.DeletedAt != nil {
					v := *rec.DeletedAt
					at = &v
				}
				out = append(out, struct {
					rec       *ssync.Record
					deletedAt *time.Time
					syncID    string
				}{rec, at, rec.SyncID})
			}
		}
	}
	return out
}

// restore sets the records back as they arrived.
func (a arrivedRecords) restore() {
	for _, r := range a {
		r.rec.DeletedAt, r.rec.SyncID = r.deletedAt, r.syncID
		if r.deletedAt != nil {
			v := *r.deletedAt
			r.rec.DeletedAt = &v
		}
	}
}

func (s *Store) push(ctx context.Context, req PushRequest) (*wire.PushResult, error) {
	total := 0
	for i := range req.Sets {
		total += req.Sets[i].Len()
	}
	if total == 0 {
		// Nothing to write: answer with the current checkpoint and leave the
		// counter (and its lock) alone.
		v, err := s.counterValue(ctx, s.db, "global")
		if err != nil {
			return nil, fmt.Errorf("ssync store: push: read counter: %w", err)
		}
		return &wire.PushResult{Checkpoint: Checkpoint{Version: v}.String(), Ignored: []wire.IgnoredRow{}}, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ssync store: push: %w", err)
	}
	defer tx.Rollback()
	if s.dialect.BeginPush != "" {
		if _, err := tx.ExecContext(ctx, s.dialect.BeginPush); err != nil {
			return nil, fmt.Errorf("ssync store: push: %w", err)
		}
	}
	ph := s.dialect.Placeholder
	now := ssync.StoredTime(s.now())
	if req.Key != "" {
		// Claim the key first. A concurrent push with the same key waits
		// here until this one commits or rolls back.
		res, err := tx.ExecContext(ctx, s.stmt.claimKey, req.Identity.SyncID, req.Key, req.RequestHash, "", now)
		if err != nil {
			return nil, fmt.Errorf("ssync store: push: claim idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("ssync store: push: claim idempotency key: %w", err)
		} else if n == 0 {
			var hash, response string
			if err := tx.QueryRowContext(ctx, "SELECT request_hash, response FROM ss_idempotency WHERE sync_id = "+ph(1)+" AND idem_key = "+ph(2),
				req.Identity.SyncID, req.Key).Scan(&hash, &response); err != nil {
				return nil, fmt.Errorf("ssync store: push: read idempotency key: %w", err)
			}
			if hash != req.RequestHash {
				return nil, ErrIdempotencyMismatch
			}
			var res wire.PushResult
			if err := json.Unmarshal([]byte(response), &res); err != nil {
				return nil, fmt.Errorf("ssync store: push: recorded answer: %w", err)
			}
			res.Replayed = true
			return &res, nil
		}
	}
	res := &wire.PushResult{Ignored: []wire.IgnoredRow{}}
	byName := make(map[string]*wire.ChangeSet, len(req.Sets))
	for i := range req.Sets {
		byName[req.Sets[i].Collection] = &req.Sets[i]
	}
	names := s.reg.Names()
	p := &pusher{s: s, tx: tx, req: &req, now: now, res: res, written: map[*serverTable][]any{},
		wrote: map[uuid.UUID]bool{}, deleting: map[uuid.UUID]bool{}}
	for i := range req.Sets {
		for _, id := range req.Sets[i].Deleted {
			p.deleting[id] = true
		}
	}
	p.incoming = s.incoming(req.Sets)
	if s.dialect.BumpFirst {
		// One writer at a time anyway: take the version now and write it
		// with the rows, with no stamping pass.
		v, err := s.version(ctx, tx)
		if err != nil {
			return nil, err
		}
		p.version = int64(v)
	}
	for _, name := range names {
		cs := byName[name]
		if cs == nil {
			continue
		}
		since := req.Since
		if cs.Checkpoint != "" {
			c, err := ParseCheckpoint(cs.Checkpoint)
			if err != nil {
				return nil, &RowError{Collection: name, Err: err}
			}
			since = c
		}
		t := s.tables[name]
		if err := p.prefetch(ctx, t, cs); err != nil {
			return nil, err
		}
		created, cycle := orderByParents(t, s.relations, cs.Created)
		p.cycle = cycle
		for _, rows := range [][]any{created, cs.Updated} {
			for _, row := range rows {
				if err := p.write(ctx, t, row, since, t.userIndexes(cs.Absent[row]), cs.Fields[row]); err != nil {
					return nil, err
				}
			}
		}
		if err := p.flush(ctx, t); err != nil {
			return nil, err
		}
	}
	if err := p.linkBack(ctx); err != nil {
		return nil, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		cs := byName[names[i]]
		if cs == nil {
			continue
		}
		t := s.tables[names[i]]
		for i, rowID := range cs.Deleted {
			var at time.Time
			if i < len(cs.DeletedAt) {
				at = cs.DeletedAt[i]
			}
			if err := p.delete(ctx, t, rowID, p.since(cs), at); err != nil {
				return nil, err
			}
		}
	}
	if err := p.checkRefs(ctx); err != nil {
		return nil, err
	}
	v := uint64(p.version)
	if !s.dialect.BumpFirst {
		if v, err = s.version(ctx, tx); err != nil {
			return nil, err
		}
		if err := p.stamp(ctx, int64(v)); err != nil {
			return nil, err
		}
	}
	if err := p.recordActivity(ctx, v); err != nil {
		return nil, err
	}
	res.Checkpoint = Checkpoint{Version: v}.String()
	if req.Key != "" {
		answer, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE ss_idempotency SET response = "+ph(1)+" WHERE sync_id = "+ph(2)+" AND idem_key = "+ph(3),
			string(answer), req.Identity.SyncID, req.Key); err != nil {
			return nil, fmt.Errorf("ssync store: push: record idempotency answer: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		if s.dialect.ForeignKey != nil && s.dialect.ForeignKey(err) {
			// Keys are checked at commit: the push is refused whole.
			return nil, ErrDanglingReference
		}
		return nil, fmt.Errorf("ssync store: push: %w", err)
	}
	s.feed.poke()
	return res, nil
}

// ErrDanglingReference is returned by a push whose rows reference a row the
// server does not have (a foreign key): the push changes nothing.
var ErrDanglingReference = errors.New("a pushed row references a row the server does not have; push the referenced row first, in the same push or before")

// pusher applies the rows of one push transaction.
type pusher struct {
	s       *Store
	tx      *sql.Tx
	req     *PushRequest
	now     time.Time
	res     *wire.PushResult
	written map[*serverTable][]any // ids written, stamped with the version at the end
	version int64                  // the version rows are written with; 0 until stamped

	refs    []reference            // rows the written rows reference, checked by checkRefs
	known   map[uuid.UUID]existing // rows of the current table looked up in bulk
	loaded  map[uuid.UUID]any      // whole rows of the current table read in bulk, each for one use
	inserts []any                  // arguments of rows waiting for a multi-row INSERT
	pending map[uuid.UUID]bool     // ids in inserts
	nIns    int

	wrote    map[uuid.UUID]bool // rows this push wrote: whether it left them deleted
	deleting map[uuid.UUID]bool // rows this push deletes

	owners  map[string]bool        // owners of the rows written (ss_activity)
	unowned map[*serverTable][]any // rows written whose owner recordActivity looks up

	incoming map[*serverTable]map[uuid.UUID]bool // rows the push writes, of tables back references point to
	links    []backLink                          // back references to write once every row is written
	cycle    map[uuid.UUID][]*relation           // self-references closing a cycle among the current table's new rows
}

// version returns the version this push's rows get. It bumps the counter
// last: the transaction holds the counter's row lock only from here to its
// commit, so versions follow commit order while the writes of concurrent
// pushes overlap.
func (s *Store) version(ctx context.Context, tx *sql.Tx) (uint64, error) {
	v, err := s.dialect.NextVersion(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("ssync store: push: bump counter: %w", err)
	}
	if s.dialect.VersionLog {
		if err := s.logVersion(ctx, tx, v); err != nil {
			return 0, fmt.Errorf("ssync store: push: version log: %w", err)
		}
	}
	return v, nil
}

// logKeep is how many versions the version log keeps below the newest: the
// log is trimmed every logKeep versions.
const logKeep = 1024

// logVersion records v in the version log (Dialect.VersionLog) and, every
// logKeep versions, trims the log: versions up to v-logKeep become the floor
// that pulls take as proven. It trims only when this transaction's own
// snapshot holds every version it removes, so that a snapshot that sees the
// new floor (it sees this commit) sees those versions too.
func (s *Store) logVersion(ctx context.Context, tx *sql.Tx, v uint64) error {
	ph := s.dialect.Placeholder
	if _, err := tx.ExecContext(ctx, "INSERT INTO ss_versions (version) VALUES ("+ph(1)+")", int64(v)); err != nil {
		return err
	}
	if v%logKeep != 0 {
		return nil
	}
	var floor uint64
	// A locking read: the latest floor, not this snapshot's.
	if err := tx.QueryRowContext(ctx, "SELECT value FROM ss_counter WHERE name = 'log_floor' FOR UPDATE").Scan(&floor); err != nil {
		return err
	}
	next := v - logKeep
	if next <= floor {
		return nil
	}
	var n uint64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM ss_versions WHERE version > "+ph(1)+" AND version <= "+ph(2),
		int64(floor), int64(next)).Scan(&n); err != nil {
		return err
	}
	if n != next-floor {
		return nil // not all in this snapshot yet: a later push trims
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM ss_versions WHERE version <= "+ph(1), int64(next)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.stmt.setCounter, "log_floor", int64(next))
	return err
}

// noteWritten records a row the stamping pass gives the push's version;
// with Dialect.BumpFirst rows are written with it and there is no such pass.
func (p *pusher) noteWritten(t *serverTable, id uuid.UUID) {
	if p.s.dialect.BumpFirst {
		return
	}
	p.written[t] = append(p.written[t], id.String())
}

// stamp sets the version of every row the push wrote (and the created
// version of the rows it created, written with 0).
func (p *pusher) stamp(ctx context.Context, v int64) error {
	for t, ids := range p.written {
		for start := 0; start < len(ids); start += lookupChunk {
			chunk := ids[start:min(start+lookupChunk, len(ids))]
			args := append([]any{v, v}, chunk...)
			if _, err := p.tx.ExecContext(ctx, t.stampMany(len(chunk)), args...); err != nil {
				return fmt.Errorf("ssync store: push %s: stamp: %w", t.coll.CollectionName(), err)
			}
		}
	}
	return nil
}

// lookupChunk is how many ids one bulk lookup asks for.
const lookupChunk = 500

// prefetch looks up, in a few queries, every row a change set writes.
func (p *pusher) prefetch(ctx context.Context, t *serverTable, cs *wire.ChangeSet) error {
	p.known = make(map[uuid.UUID]existing, len(cs.Created)+len(cs.Updated))
	var ids []any
	for _, rows := range [][]any{cs.Created, cs.Updated} {
		for _, row := range rows {
			id := t.coll.RecordOf(row).ID
			p.known[id] = existing{} // not found, unless the lookup finds it
			ids = append(ids, id.String())
		}
	}
	for start := 0; start < len(ids); start += lookupChunk {
		chunk := ids[start:min(start+lookupChunk, len(ids))]
		if err := p.lookupMany(ctx, t, t.lookupMany(len(chunk)), chunk); err != nil {
			return err
		}
	}
	return p.prefetchFields(ctx, t, cs)
}

// lookupMany runs q, a bulk lookup of the ids of chunk, into p.known.
func (p *pusher) lookupMany(ctx context.Context, t *serverTable, q string, chunk []any) error {
	rows, err := p.tx.QueryContext(ctx, q, chunk...)
	if err != nil {
		return fmt.Errorf("ssync store: push %s: lookup: %w", t.coll.CollectionName(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var e existing
		var id uuid.UUID
		var deletedAt *time.Time
		var v int64
		if err := rows.Scan(&id, &e.owner, &deletedAt, &v, &e.writer); err != nil {
			return fmt.Errorf("ssync store: push %s: lookup: %w", t.coll.CollectionName(), err)
		}
		e.found, e.deleted, e.version = true, deletedAt != nil, uint64(v)
		p.known[id] = e
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ssync store: push %s: lookup: %w", t.coll.CollectionName(), err)
	}
	return nil
}

// queueInsert adds a new row to the pending multi-row INSERT.
func (p *pusher) queueInsert(ctx context.Context, t *serverTable, args []any, id uuid.UUID) error {
	if p.pending == nil {
		p.pending = map[uuid.UUID]bool{}
	}
	p.inserts = append(p.inserts, args...)
	p.pending[id] = true
	p.nIns++
	if p.nIns >= t.insertBatch {
		return p.flush(ctx, t)
	}
	return nil
}

// flush runs the pending multi-row INSERT.
func (p *pusher) flush(ctx context.Context, t *serverTable) error {
	if p.nIns == 0 {
		return nil
	}
	// A savepoint lets a failed batch be redone row by row (PostgreSQL
	// aborts the whole transaction on a failed statement otherwise), so
	// that the refusal names the row.
	if _, err := p.tx.ExecContext(ctx, "SAVEPOINT ssync_insert"); err != nil {
		return fmt.Errorf("ssync store: push: %w", err)
	}
	if _, err := p.tx.ExecContext(ctx, t.insertMany(p.nIns), p.inserts...); err != nil {
		if _, rerr := p.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ssync_insert"); rerr != nil {
			return &RowError{Collection: t.coll.CollectionName(), Err: p.s.refused(err)}
		}
		per := len(p.inserts) / p.nIns
		for i := 0; i < p.nIns; i++ {
			args := p.inserts[i*per : (i+1)*per]
			if _, err := p.tx.ExecContext(ctx, t.insert, args...); err != nil {
				id, _ := uuid.Parse(fmt.Sprint(args[0]))
				return &RowError{Collection: t.coll.CollectionName(), ID: id, Err: p.s.refused(err)}
			}
		}
		return &RowError{Collection: t.coll.CollectionName(), Err: p.s.refused(err)}
	}
	if _, err := p.tx.ExecContext(ctx, "RELEASE SAVEPOINT ssync_insert"); err != nil {
		return fmt.Errorf("ssync store: push: %w", err)
	}
	p.inserts, p.nIns = p.inserts[:0], 0
	clear(p.pending)
	return nil
}

// existing is what the store has of a row.
type existing struct {
	found   bool
	owner   string
	deleted bool
	version uint64
	writer  string
}

// row is e as the conflict policy sees it.
func (e existing) row() conflict.Row {
	return conflict.Row{Found: e.found, Owner: e.owner, Deleted: e.deleted, Version: e.version, Writer: e.writer}
}

func (p *pusher) lookup(ctx context.Context, t *serverTable, rowID uuid.UUID) (existing, error) {
	if e, ok := p.known[rowID]; ok {
		return e, nil
	}
	var e existing
	var deletedAt *time.Time
	var v int64
	err := p.tx.QueryRowContext(ctx, t.lookup, rowID.String()).Scan(&e.owner, &deletedAt, &v, &e.writer)
	if errors.Is(err, sql.ErrNoRows) {
		return e, nil
	}
	if err != nil {
		return e, fmt.Errorf("ssync store: push %s %s: %w", t.coll.CollectionName(), rowID, err)
	}
	e.found, e.deleted, e.version = true, deletedAt != nil, uint64(v)
	return e, nil
}

// load reads the server's whole row.
func (p *pusher) load(ctx context.Context, t *serverTable, rowID uuid.UUID) (any, error) {
	if row, ok := p.loaded[rowID]; ok {
		// Read in bulk before any write of this push to it: used once, so
		// that a second write of the row in the push reads the first's.
		delete(p.loaded, rowID)
		return row, nil
	}
	row := t.coll.NewRow()
	targets := t.coll.AppendTargets(row, metaTargets(t.coll.RecordOf(row), nil))
	if err := p.tx.QueryRowContext(ctx, t.load, rowID.String()).Scan(targets...); err != nil {
		return nil, fmt.Errorf("ssync store: push %s %s: load: %w", t.coll.CollectionName(), rowID, err)
	}
	return row, nil
}

// forbidden is the refusal of a written row that names an owner the pusher
// may not write for, or whose id a row of such an owner holds: one answer
// for both, which does not tell whether the row exists.
func forbidden(name string, id uuid.UUID) error {
	return &RowError{Collection: name, ID: id, Err: fmt.Errorf("%w: you may not write this row (its owner is neither you nor a user linked to you, or its id is taken by a row of such a user)", ErrForbidden)}
}

// hook runs the collection's BeforeWrite hook, if any.
func (p *pusher) hook(ctx context.Context, t *serverTable, w *Write) error {
	h := p.s.hooks[w.Collection].BeforeWrite
	if h == nil {
		return nil
	}
	if err := h(ctx, w); err != nil {
		return &RowError{Collection: w.Collection, ID: w.ID, Err: err}
	}
	if w.Row != nil && t.coll.RecordOf(w.Row).ID != w.ID {
		return &RowError{Collection: w.Collection, ID: w.ID, Err: errors.New("BeforeWrite hook changed the row id")}
	}
	return nil
}

// write writes one pushed row. absent are the user columns (by position)
// the pushing app's row leaves out: an update reads them from the server's
// row, for the hooks and the resolver, and never writes them. fc is set
// for a field push: the pushed row carries only the changed fields (the
// others are absent) and their base.
func (p *pusher) write(ctx context.Context, t *serverTable, row any, since Checkpoint, absent []int, fc *wire.FieldChange) error {
	rec := t.coll.RecordOf(row)
	name := t.coll.CollectionName()
	id := p.req.Identity
	if rec.SyncID == "" {
		rec.SyncID = id.SyncID
	}
	if p.pending[rec.ID] {
		// The same row twice in one push: write the first before the second.
		if err := p.flush(ctx, t); err != nil {
			return err
		}
	}
	ex, err := p.lookup(ctx, t, rec.ID)
	if err != nil {
		return err
	}
	push := conflict.Push{Owner: rec.SyncID, Device: p.req.Device, Since: since.Version, Fields: fc != nil}
	verdict := conflict.Decide(ex.row(), push, id.Allowed)
	if err := p.refuseChanged(t, rec.ID, ex, since.Version, verdict); err != nil {
		return err
	}
	switch verdict {
	case conflict.Refuse:
		// The same answer whether or not the row exists.
		return forbidden(name, rec.ID)
	case conflict.IgnoreDeleted:
		p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: name, ID: rec.ID, Reason: wire.ReasonDeleted,
			Message: "the row is deleted on the server; a delete wins over later edits"})
		// The pusher holds the row live: its checkpoint may be past the
		// delete without it (a full re-pull leaves out rows deleted
		// before it, and keeps a row with local changes). The delete
		// goes to it again.
		return p.restamp(ctx, t, rec.ID)
	}
	var current any
	if ex.found && (p.s.resolver != nil || p.s.hooks[name].BeforeWrite != nil || fc != nil) {
		if current, err = p.load(ctx, t, rec.ID); err != nil {
			return err
		}
	}
	if ex.found {
		if row, err = p.fill(ctx, t, row, absent, current); err != nil {
			return err
		}
		rec = t.coll.RecordOf(row)
		if rec.SyncID == "" {
			rec.SyncID = id.SyncID
		}
	}
	o, err := p.settle(ctx, t, settling{ex: ex, push: push, verdict: verdict, since: since, current: current, fc: fc,
		row: row, absent: absent, writer: p.req.Device})
	if err != nil || o.done {
		return err
	}
	row, rec, absent, writer, merged := o.row, t.coll.RecordOf(o.row), o.absent, o.writer, o.merged
	op := OpCreate

	if ex.found {
		op = OpUpdate
	}
	w := &Write{Identity: id, Collection: name, Op: op, ID: rec.ID, Row: row, Existing: current, Absent: t.names(absent)}
	var hooked bool
	if absent, hooked, err = p.hookFields(ctx, t, w, absent); err != nil {
		return err
	}
	if hooked {
		writer = "" // the pushing device pulls what the hook wrote
	}
	row, rec = w.Row, t.coll.RecordOf(w.Row)
	links := p.backLinks(t, row, absent)
	if ex.found {
		if current, err = p.keepBefore(ctx, t, rec.ID, links, current); err != nil {
			return err
		}
	}
	var u underDeleted
	if rec.DeletedAt == nil {
		// A row that arrives deleted may reference deleted rows.
		if u, err = p.parentsOf(ctx, t, row, links); err != nil {
			return err
		}
	}
	if u.relation != nil {
		if done, err := p.underDeletedParent(ctx, t, rec, ex, u); done || err != nil {
			return err
		}
		writer = "" // the pushing device pulls what became of its row
	}
	if err := p.blobRefs(ctx, t, row, ex); err != nil {
		return err
	}
	p.wrote[rec.ID] = rec.DeletedAt != nil
	if ex.found {
		// The rows this push created in t are written first: the row may
		// now reference one (a self-reference), and stores that check keys
		// at each statement (MariaDB) refuse a reference to a row not
		// written yet.
		if p.nIns > 0 && p.s.selfReferencing(t) {
			if err := p.flush(ctx, t); err != nil {
				return err
			}
		}
		rec.SyncID = ex.owner // the owner of a row never changes
		args := make([]any, 0, 6+t.nUser)
		args = append(args, ssync.StoredTime(rec.CreatedAt), ssync.StoredTime(rec.UpdatedAt), timeOrNil(rec.DeletedAt))
		args = t.coll.AppendValues(row, args)
		user := refValues(args[3:3+t.nUser], len(u.clear)+len(links) > 0)
		clearColumns(args[3:], u.clear)
		clearLinks(args[3:], links)
		args = append(withoutUser(args, 3, absent), p.version, writer, rec.ID.String())
		r, err := p.tx.ExecContext(ctx, t.updateWithout(absent), args...)
		if err != nil {
			return &RowError{Collection: name, ID: rec.ID, Err: p.s.refused(err)}
		}
		if n, err := r.RowsAffected(); err == nil && n == 0 {
			// Deleted by a push that committed after the lookup: the
			// delete wins, and goes to the pusher again, as for any write
			// ignored as deleted. The rows this push writes under it
			// follow their rule under a deleted row.
			p.wrote[rec.ID] = true
			p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: name, ID: rec.ID, Reason: wire.ReasonDeleted,
				Message: "the row is deleted on the server; a delete wins over later edits"})
			return p.restamp(ctx, t, rec.ID)
		}
		p.noteWritten(t, rec.ID)
		p.noteOwner(rec.SyncID)
		p.noteRefs(t, row, user, absent)
		p.links = append(p.links, links...)
		if merged != nil {
			p.res.Merged = append(p.res.Merged, *merged)
		}
		if rec.DeletedAt != nil && !ex.deleted {
			// Rows this push created in t are written first: one may
			// reference this row (a self-reference), and its delete
			// reaches it.
			if err := p.flush(ctx, t); err != nil {
				return err
			}
			_, err := p.cascadeFrom(ctx, t, rec.ID, true)
			return err
		}
		return nil
	}
	if !id.Allowed(rec.SyncID) {
		return forbidden(name, rec.ID)
	}
	args := metaValues(rec, make([]any, 0, 9+t.nUser))
	args = t.coll.AppendValues(row, args)
	user := refValues(args[5:5+t.nUser], len(u.clear)+len(links) > 0)
	clearColumns(args[5:], u.clear)
	clearLinks(args[5:], links)
	args = append(args, p.version, p.version, p.req.Device, writer)
	if p.known != nil {
		p.known[rec.ID] = existing{found: true, owner: rec.SyncID, writer: writer}
	}
	p.noteWritten(t, rec.ID)
	p.noteOwner(rec.SyncID)
	p.noteRefs(t, row, user, nil)
	p.links = append(p.links, links...)
	return p.queueInsert(ctx, t, args, rec.ID)
}

// MaxDeleteSkew is how far after the server's clock a pushed deletedAt may
// be and still be taken (device clocks run a little ahead).
const MaxDeleteSkew = time.Minute

// deleteStamp returns the deletedAt to store for a delete the device
// stamped at (zero: it did not say, an older client), and whether it is the
// device's. The device's stamp is taken, in its stored form, unless it is
// missing, later than the server's clock by more than MaxDeleteSkew, or
// older than the tombstone retention window (the purge would drop the
// tombstone at once): then the server's clock stamps the delete.
func (p *pusher) deleteStamp(at time.Time) (time.Time, bool) {
	if at.IsZero() || at.After(p.now.Add(MaxDeleteSkew)) || at.Before(p.now.Add(-p.s.retention)) {
		return p.now, false
	}
	return ssync.StoredTime(at), true
}

// delete deletes row rowID of t, which the pushing device deleted at at
// (see deleteStamp). A delete stamped by the server's clock in place of the
// device's absurd stamp is written with no writer, so that the device pulls
// the stamp every other device holds.
// settling is a pushed row as the conflict policy and the resolver see
// it, and what they make of it (settle).
type settling struct {
	ex      existing
	push    conflict.Push
	verdict conflict.Verdict
	since   Checkpoint
	current any               // the server's row, when found and needed
	fc      *wire.FieldChange // set for a field push
	row     any               // the row to write
	absent  []int             // the user columns (by position) not to write
	writer  string            // the writer the row is stamped with
	merged  *wire.MergedRow   // the row reported merged, if it is
	done    bool              // nothing to write: the resolver kept the server's row
}

// settle applies the per-field rule to a field push of a row the server
// has, and the resolver to a conflict.
func (p *pusher) settle(ctx context.Context, t *serverTable, s settling) (settling, error) {
	name, id := t.coll.CollectionName(), t.coll.RecordOf(s.row).ID
	var serverChanged []string
	if s.fc != nil && s.ex.found {
		var f conflict.Fields
		f, serverChanged = fieldMerge(t, s.ex, s.push, s.verdict, s.current, s.fc)
		if f.Merged || len(f.Overwritten) > 0 {
			s.merged = &wire.MergedRow{Collection: name, ID: id}
			for _, i := range f.Overwritten {
				s.merged.Overwritten = append(s.merged.Overwritten, t.wireName(s.fc.Changed[i]))
			}
		}
		if f.Merged {
			s.writer = "" // the pushing device lacks the other device's fields
		}
	}
	if s.verdict != conflict.Conflict || p.s.resolver == nil {
		return s, nil
	}
	c := Conflict{Identity: p.req.Identity, Collection: name, Server: s.current, Incoming: s.row,
		ClientCheckpoint: s.since, ServerVersion: s.ex.version}
	if s.fc != nil {
		var err error
		if c.Base, err = wire.WithFields(t.coll, s.current, s.fc.Base, s.fc.Changed); err != nil {
			return s, fmt.Errorf("ssync store: push %s %s: %w", name, id, err)
		}
		c.Changed, c.ServerChanged = s.fc.Changed, serverChanged
	}
	r, err := p.s.resolver(ctx, c)
	if err != nil {
		return s, fmt.Errorf("ssync store: resolver for %s %s: %w", name, id, err)
	}
	switch r.Action {
	case TakeIncoming:
	case KeepServer:
		p.res.Ignored = append(p.res.Ignored, wire.IgnoredRow{Collection: name, ID: id, Reason: wire.ReasonConflict, Message: r.Reason})
		s.done = true
	case Merge:
		if r.Row == nil || t.coll.RecordOf(r.Row).ID != id {
			return s, &RowError{Collection: name, ID: id, Err: errors.New("resolver merged into a row with another id")}
		}
		s.row = r.Row
		s.writer = "" // the pushing device does not have the merged row yet
		if s.fc != nil {
			s.absent = nil // the merged row is whole: every field is written
		}
		if s.merged == nil {
			s.merged = &wire.MergedRow{Collection: name, ID: id}
		}
	case Refuse:
		return s, &RowError{Collection: name, ID: id, Err: fmt.Errorf("%w: %s", ErrConflict, r.Reason)}
	default:
		return s, fmt.Errorf("ssync store: resolver for %s %s: unknown action %d", name, id, r.Action)
	}
	return s, nil
}

func (p *pusher) delete(ctx context.Context, t *serverTable, rowID uuid.UUID, since uint64, at time.Time) error {
	name := t.coll.CollectionName()
	ex, err := p.lookup(ctx, t, rowID)
	if err != nil {
		return err
	}
	verdict := conflict.Decide(ex.row(), conflict.Push{Delete: true, Device: p.req.Device}, p.req.Identity.Allowed)
	if err := p.refuseChanged(t, rowID, ex, since, verdict); err != nil {
		return err
	}
	if verdict == conflict.Nothing {
		if ex.found && ex.deleted && p.req.Identity.Allowed(ex.owner) {
			// Deleted here already, maybe with another stamp: the device
			// may hold it from a full re-pull, which leaves tombstones out.
			// The delete goes to it again, with the stamp every device holds.
			return p.restamp(ctx, t, rowID)
		}
		// Also a stranger's row: answered as an id the server lacks.
		return nil
	}
	if p.s.hooks[name].BeforeWrite != nil {
		current, err := p.load(ctx, t, rowID)
		if err != nil {
			return err
		}
		if err := p.hook(ctx, t, &Write{Identity: p.req.Identity, Collection: name, Op: OpDelete, ID: rowID, Existing: current}); err != nil {
			return err
		}
	}
	if p.s.isParent[t] {
		// Lock the row first: a push writing a child under it waits, or
		// has committed and its child is seen below.
		if _, err := p.tx.ExecContext(ctx, t.lookupLock, rowID.String()); err != nil {
			return fmt.Errorf("ssync store: push %s %s: %w", name, rowID, err)
		}
	}
	dp, err := p.cascadeFrom(ctx, t, rowID, false)
	if err != nil {
		return err
	}
	if dp.restricted != nil {
		return p.restrictedDelete(ctx, t, rowID, dp)
	}
	stamp, own := p.deleteStamp(at)
	writer := p.req.Device
	if !own && !at.IsZero() {
		writer = ""
	}
	r, err := p.tx.ExecContext(ctx, t.delete, stamp, stamp, p.version, writer, rowID.String())
	if err != nil {
		return &RowError{Collection: name, ID: rowID, Err: p.s.refused(err)}
	}
	if n, err := r.RowsAffected(); err == nil && n == 0 {
		// Deleted meanwhile by another push: as for a row deleted
		// already, the delete goes to the device again, with the stamp
		// every device holds.
		return p.restamp(ctx, t, rowID)
	}
	if err := p.releaseRow(ctx, t, rowID, ex.owner); err != nil {
		return err
	}
	p.wrote[rowID] = true
	p.noteWritten(t, rowID)
	p.noteOwner(ex.owner)
	return nil
}

// refuseChanged refuses, under PushRequest.RefuseChanged, a write or
// delete of a row the pusher may see that changed on the server after
// since.
func (p *pusher) refuseChanged(t *serverTable, id uuid.UUID, ex existing, since uint64, v conflict.Verdict) error {
	if !p.req.RefuseChanged || !ex.found || ex.version <= since || v == conflict.Refuse || !p.req.Identity.Allowed(ex.owner) {
		return nil
	}
	return &RowError{Collection: t.coll.CollectionName(), ID: id,
		Err: fmt.Errorf("%w: the row changed on the server since the last pull; pull, then push again", ErrConflict)}
}

// since is the checkpoint version a change set was pushed against.
func (p *pusher) since(cs *wire.ChangeSet) uint64 {
	if cs.Checkpoint != "" {
		if c, err := ParseCheckpoint(cs.Checkpoint); err == nil {
			return c.Version
		}
	}
	return p.req.Since.Version
}
