package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

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
	Since Cursor
	// Sets are the changes, at most one per collection.
	Sets []wire.ChangeSet
}

// IgnoredRow is an incoming change the server did not apply, and why.
type IgnoredRow struct {
	// Collection and ID name the row.
	Collection string    `json:"collection"`
	ID         uuid.UUID `json:"id"`
	// Reason is "deleted" (the row is deleted on the server: delete wins)
	// or "conflict" (the resolver kept the server's row).
	Reason string `json:"reason"`
	// Message says more, when there is more to say.
	Message string `json:"message,omitempty"`
}

// PushResult is what a push did.
type PushResult struct {
	// Checkpoint is the counter value the push committed at (or the current
	// one when it changed nothing).
	Checkpoint string `json:"checkpoint"`
	// Ignored lists the changes not applied.
	Ignored []IgnoredRow `json:"ignored"`
	// Replayed is true when the push repeated an Idempotency-Key and the
	// recorded answer was returned without applying anything.
	Replayed bool `json:"-"`
}

// Push applies the request's change sets in one transaction: creates and
// updates in registry order (parents first), then deletes in reverse order.
// Any refused row refuses the whole push. A non-empty key makes the push
// idempotent per user: the key, the request hash and the answer are stored
// with the writes, and a replay returns the stored answer.
func (s *Store) Push(ctx context.Context, req PushRequest) (*PushResult, error) {
	total := 0
	for i := range req.Sets {
		total += req.Sets[i].Len()
	}
	if total == 0 {
		// Nothing to write: answer with the current checkpoint and leave the
		// counter (and its lock) alone.
		v, err := s.counterValue(ctx, s.db, "global")
		if err != nil {
			return nil, fmt.Errorf("ssync server: push: read counter: %w", err)
		}
		return &PushResult{Checkpoint: Checkpoint(v), Ignored: []IgnoredRow{}}, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ssync server: push: %w", err)
	}
	defer tx.Rollback()
	ph := s.dialect.Placeholder
	// Bump the counter first: from here to commit this transaction holds
	// the counter's row lock, so versions follow commit order.
	if _, err := tx.ExecContext(ctx, "UPDATE ss_counter SET value = value + 1 WHERE name = 'global'"); err != nil {
		return nil, fmt.Errorf("ssync server: push: bump counter: %w", err)
	}
	v, err := s.counterValue(ctx, tx, "global")
	if err != nil {
		return nil, fmt.Errorf("ssync server: push: read counter: %w", err)
	}
	version := int64(v)
	if req.Key != "" {
		var hash, response string
		err := tx.QueryRowContext(ctx, "SELECT request_hash, response FROM ss_idempotency WHERE sync_id = "+ph(1)+" AND idem_key = "+ph(2),
			req.Identity.SyncID, req.Key).Scan(&hash, &response)
		switch {
		case err == nil && hash == req.RequestHash:
			var res PushResult
			if err := json.Unmarshal([]byte(response), &res); err != nil {
				return nil, fmt.Errorf("ssync server: push: recorded answer: %w", err)
			}
			res.Replayed = true
			return &res, nil
		case err == nil:
			return nil, ErrIdempotencyMismatch
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("ssync server: push: read idempotency key: %w", err)
		}
	}
	res := &PushResult{Checkpoint: Checkpoint(v), Ignored: []IgnoredRow{}}
	byName := make(map[string]*wire.ChangeSet, len(req.Sets))
	for i := range req.Sets {
		byName[req.Sets[i].Collection] = &req.Sets[i]
	}
	names := s.reg.Names()
	now := s.now().UTC().Truncate(time.Microsecond)
	p := &pusher{s: s, tx: tx, req: &req, version: version, now: now, res: res}
	for _, name := range names {
		cs := byName[name]
		if cs == nil {
			continue
		}
		since := req.Since
		if cs.Timestamp != "" {
			c, err := ParseCheckpoint(cs.Timestamp)
			if err != nil {
				return nil, &RowError{Collection: name, Err: err}
			}
			since = c
		}
		t := s.tables[name]
		for _, rows := range [][]any{cs.Created, cs.Updated} {
			for _, row := range rows {
				if err := p.write(ctx, t, row, since); err != nil {
					return nil, err
				}
			}
		}
	}
	for i := len(names) - 1; i >= 0; i-- {
		cs := byName[names[i]]
		if cs == nil {
			continue
		}
		t := s.tables[names[i]]
		for _, rowID := range cs.Deleted {
			if err := p.delete(ctx, t, rowID); err != nil {
				return nil, err
			}
		}
	}
	if req.Key != "" {
		answer, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES ("+
			ph(1)+", "+ph(2)+", "+ph(3)+", "+ph(4)+", "+ph(5)+")", req.Identity.SyncID, req.Key, req.RequestHash, string(answer), now)
		if err != nil {
			return nil, fmt.Errorf("ssync server: push: record idempotency key: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ssync server: push: %w", err)
	}
	return res, nil
}

// pusher applies the rows of one push transaction.
type pusher struct {
	s       *Store
	tx      *sql.Tx
	req     *PushRequest
	version int64
	now     time.Time
	res     *PushResult
}

// existing is what the store has of a row.
type existing struct {
	found   bool
	owner   string
	deleted bool
	version uint64
	writer  string
}

func (p *pusher) lookup(ctx context.Context, t *serverTable, rowID uuid.UUID) (existing, error) {
	var e existing
	var deletedAt *time.Time
	var v int64
	err := p.tx.QueryRowContext(ctx, t.lookup, rowID.String()).Scan(&e.owner, &deletedAt, &v, &e.writer)
	if errors.Is(err, sql.ErrNoRows) {
		return e, nil
	}
	if err != nil {
		return e, fmt.Errorf("ssync server: push %s %s: %w", t.coll.CollectionName(), rowID, err)
	}
	e.found, e.deleted, e.version = true, deletedAt != nil, uint64(v)
	return e, nil
}

// load reads the server's whole row.
func (p *pusher) load(ctx context.Context, t *serverTable, rowID uuid.UUID) (any, error) {
	row := t.coll.NewRow()
	targets := t.coll.AppendTargets(row, metaTargets(t.coll.RecordOf(row), nil))
	if err := p.tx.QueryRowContext(ctx, t.load, rowID.String()).Scan(targets...); err != nil {
		return nil, fmt.Errorf("ssync server: push %s %s: load: %w", t.coll.CollectionName(), rowID, err)
	}
	return row, nil
}

func forbidden(name string, id uuid.UUID) error {
	return &RowError{Collection: name, ID: id, Err: fmt.Errorf("%w: row is owned by a user you may not write for", ErrForbidden)}
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

func (p *pusher) write(ctx context.Context, t *serverTable, row any, since Cursor) error {
	rec := t.coll.RecordOf(row)
	name := t.coll.CollectionName()
	id := p.req.Identity
	if rec.SyncID == "" {
		rec.SyncID = id.SyncID
	}
	if !id.Allowed(rec.SyncID) {
		return forbidden(name, rec.ID)
	}
	ex, err := p.lookup(ctx, t, rec.ID)
	if err != nil {
		return err
	}
	switch {
	case ex.found && !id.Allowed(ex.owner):
		// Same answer as above: do not reveal that the id exists.
		return forbidden(name, rec.ID)
	case ex.found && ex.deleted:
		p.res.Ignored = append(p.res.Ignored, IgnoredRow{Collection: name, ID: rec.ID, Reason: "deleted",
			Message: "the row is deleted on the server; a delete wins over later edits"})
		return nil
	}
	writer := p.req.Device
	var current any
	if ex.found && (p.s.resolver != nil || p.s.hooks[name].BeforeWrite != nil) {
		if current, err = p.load(ctx, t, rec.ID); err != nil {
			return err
		}
	}
	// A conflict: the row changed on the server after the client last
	// pulled it, and not by this same device.
	conflict := ex.found && ex.version > since.Version && (p.req.Device == "" || ex.writer != p.req.Device)
	if conflict && p.s.resolver != nil {
		r, err := p.s.resolver(ctx, Conflict{Identity: id, Collection: name, Server: current, Incoming: row,
			ClientCheckpoint: since, ServerVersion: ex.version})
		if err != nil {
			return fmt.Errorf("ssync server: resolver for %s %s: %w", name, rec.ID, err)
		}
		switch r.Action {
		case TakeIncoming:
		case KeepServer:
			p.res.Ignored = append(p.res.Ignored, IgnoredRow{Collection: name, ID: rec.ID, Reason: "conflict", Message: r.Reason})
			return nil
		case Merge:
			if r.Row == nil || t.coll.RecordOf(r.Row).ID != rec.ID {
				return &RowError{Collection: name, ID: rec.ID, Err: errors.New("resolver merged into a row with another id")}
			}
			row, rec = r.Row, t.coll.RecordOf(r.Row)
			writer = "" // the pushing device does not have the merged row yet
		case Refuse:
			return &RowError{Collection: name, ID: rec.ID, Err: fmt.Errorf("%w: %s", ErrConflict, r.Reason)}
		default:
			return fmt.Errorf("ssync server: resolver for %s %s: unknown action %d", name, rec.ID, r.Action)
		}
	}
	op := OpCreate
	if ex.found {
		op = OpUpdate
	}
	w := &Write{Identity: id, Collection: name, Op: op, ID: rec.ID, Row: row, Existing: current}
	if err := p.hook(ctx, t, w); err != nil {
		return err
	}
	row, rec = w.Row, t.coll.RecordOf(w.Row)
	if ex.found {
		rec.SyncID = ex.owner // the owner of a row never changes
		args := make([]any, 0, 6+t.nUser)
		args = append(args, rec.CreatedAt, rec.UpdatedAt, timeOrNil(rec.DeletedAt))
		args = t.coll.AppendValues(row, args)
		args = append(args, p.version, writer, rec.ID.String())
		if _, err := p.tx.ExecContext(ctx, t.update, args...); err != nil {
			return &RowError{Collection: name, ID: rec.ID, Err: err}
		}
		return nil
	}
	if !id.Allowed(rec.SyncID) {
		return forbidden(name, rec.ID)
	}
	args := metaValues(rec, make([]any, 0, 9+t.nUser))
	args = t.coll.AppendValues(row, args)
	args = append(args, p.version, p.version, p.req.Device, writer)
	if _, err := p.tx.ExecContext(ctx, t.insert, args...); err != nil {
		return &RowError{Collection: name, ID: rec.ID, Err: err}
	}
	return nil
}

func (p *pusher) delete(ctx context.Context, t *serverTable, rowID uuid.UUID) error {
	name := t.coll.CollectionName()
	ex, err := p.lookup(ctx, t, rowID)
	if err != nil {
		return err
	}
	switch {
	case !ex.found:
		return nil // deleting what the server never had changes nothing
	case !p.req.Identity.Allowed(ex.owner):
		return forbidden(name, rowID)
	case ex.deleted:
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
	if _, err := p.tx.ExecContext(ctx, t.delete, p.now, p.now, p.version, p.req.Device, rowID.String()); err != nil {
		return &RowError{Collection: name, ID: rowID, Err: err}
	}
	return nil
}
