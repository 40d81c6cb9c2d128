package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ssync-go/ssync/runtime/conflict"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// ErrResyncRequired is returned by a pull whose checkpoint is older than the
// tombstones the server still keeps: deletions the client needs may be gone.
// The client must start over from an empty checkpoint and drop rows the full
// pull does not return.
var ErrResyncRequired = errors.New("checkpoint older than the kept tombstones: full resync needed")

// PullRequest is one pull.
type PullRequest struct {
	// Identity is who pulls.
	Identity Identity
	// Device is the pulling device's id: rows it wrote last are left out,
	// and rows created and deleted by others since Since are not sent. May
	// be empty.
	Device string
	// Collections are the collection names, in registry order.
	Collections []string
	// Since is the client's checkpoint.
	Since Checkpoint
	// Params are the decoded custom pull parameters, for FilterPull hooks.
	Params any
	// BatchSize bounds the rows of one streamed batch (PullStream only);
	// 0 means 1,000.
	BatchSize int
	// BatchBytes, when positive, also bounds a batch (PullStream only):
	// it goes out once its rows' values hold that many bytes (text and
	// binary values counted by their length), so that a batch of large
	// rows stays small in memory.
	BatchBytes int
	// Limit, when positive, caps the rows the pull reads, all collections
	// together: the collection it reaches the cap in ends with a change set
	// whose Checkpoint is the position of its last row read, and the pull
	// returns ErrPullCut (collections after it are not read). A client
	// that pulls again from that checkpoint gets the rest.
	Limit int
	// Until, when positive, ends the pull at that version instead of the
	// snapshot's horizon, if lower: every change set's checkpoint is then
	// Until's, and the rows written after it come in the next pull. A
	// client whose checkpoint cannot say a position inside a version (the
	// WatermelonDB front) bounds its pulls with it.
	Until uint64
}

// ErrPullCut is returned by a pull that reached its Limit: the last
// change set emitted carries the checkpoint to pull the rest from, and
// the collections after it were not read.
var ErrPullCut = errors.New("pull cut short at its row limit")

// Pull returns the changes to the requested collections since req.Since, all
// from one snapshot, and the checkpoint they lead to (every change set's
// Checkpoint).
func (s *Store) Pull(ctx context.Context, req PullRequest) ([]wire.ChangeSet, error) {
	var sets []wire.ChangeSet
	err := s.pull(ctx, req, 0, func(cs *wire.ChangeSet) error {
		if n := len(sets); n > 0 && sets[n-1].Collection == cs.Collection {
			last := &sets[n-1]
			last.Created = append(last.Created, cs.Created...)
			last.Updated = append(last.Updated, cs.Updated...)
			last.Deleted = append(last.Deleted, cs.Deleted...)
			last.DeletedAt = append(last.DeletedAt, cs.DeletedAt...)
			last.Checkpoint = cs.Checkpoint
			return nil
		}
		sets = append(sets, *cs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sets, nil
}

// PullStream is Pull in bounded batches: emit receives, collection by
// collection in registry order, change sets of at most req.BatchSize rows,
// each with the checkpoint a client that applied it (and everything before
// it) resumes from. Every requested collection gets at least one batch; its
// last batch carries the snapshot's checkpoint. A change set passed to emit
// is not used again after emit returns.
func (s *Store) PullStream(ctx context.Context, req PullRequest, emit func(cs *wire.ChangeSet) error) error {
	batch := req.BatchSize
	if batch <= 0 {
		batch = 1000
	}
	return s.pull(ctx, req, batch, emit)
}

// pull reads one snapshot and emits change sets of up to batch rows (0: no
// limit); a collection's last set carries the snapshot's checkpoint.
func (s *Store) pull(ctx context.Context, req PullRequest, batch int, emit func(cs *wire.ChangeSet) error) error {
	for _, name := range req.Collections {
		if _, ok := s.tables[name]; !ok {
			return fmt.Errorf("ssync store: pull: %w %q", ssync.ErrUnknownCollection, name)
		}
	}
	tx, err := s.db.BeginTx(ctx, s.dialect.PullTx)
	if err != nil {
		return fmt.Errorf("ssync store: pull: %w", err)
	}
	defer tx.Rollback()
	upto, err := s.horizon(ctx, tx, req.Since.Version)
	if err != nil {
		return fmt.Errorf("ssync store: pull: read horizon: %w", err)
	}
	if req.Until > 0 && req.Until < upto {
		upto = req.Until
	}
	if req.Since.Version > 0 {
		horizon, err := s.counterValue(ctx, tx, "horizon")
		if err != nil {
			return fmt.Errorf("ssync store: pull: read tombstone horizon: %w", err)
		}
		if req.Since.Version < horizon {
			return ErrResyncRequired
		}
	}
	owners := req.Identity.owners()
	pc := PullContext{Identity: req.Identity, Params: req.Params}
	left := req.Limit
	for _, name := range req.Collections {
		read, err := s.pullTable(ctx, tx, s.tables[name], req, pc, owners, upto, batch, left, emit)
		if err != nil {
			return err
		}
		if left -= read; req.Limit > 0 && left <= 0 {
			return ErrPullCut
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync store: pull: %w", err)
	}
	s.recordDevice(ctx, req, upto)
	return nil
}

// pullTable emits one collection's changes in batches of up to batch rows
// (0: one batch), reading at most limit rows (0: no limit), and returns the
// rows it read. A collection cut short at limit ends with the checkpoint of
// its last row read instead of the snapshot's.
func (s *Store) pullTable(ctx context.Context, tx *sql.Tx, t *serverTable, req PullRequest, pc PullContext,
	owners []string, upto uint64, batch, limit int, emit func(*wire.ChangeSet) error) (int, error) {
	name := t.coll.CollectionName()
	final := Checkpoint{Version: upto}.String()
	since := req.Since
	after := since.After != [16]byte{}
	if since.Version > upto || (since.Version == upto && !after) {
		return 0, emit(&wire.ChangeSet{Collection: name, Checkpoint: final})
	}
	args := make([]any, 0, 3+len(owners))
	args = append(args, int64(since.Version))
	if after {
		args = append(args, int64(since.Version), since.After.String())
	}
	args = append(args, int64(upto))
	for _, o := range owners {
		args = append(args, o)
	}
	if req.Device != "" {
		args = append(args, req.Device)
	}
	rows, err := tx.QueryContext(ctx, t.pullQuery(len(owners), after, req.Device != "", limit), args...)
	if err != nil {
		return 0, fmt.Errorf("ssync store: pull %s: %w", name, err)
	}
	defer rows.Close()
	filter := s.hooks[name].FilterPull
	cs := &wire.ChangeSet{Collection: name}
	n := 0
	var last Checkpoint // position of the last row put in cs
	var read Checkpoint // position of the last row read
	nRead, size := 0, 0
	var targets []any
	for rows.Next() {
		row := t.coll.NewRow()
		rec := t.coll.RecordOf(row)
		var created, version int64
		var origin, writer string
		targets = t.coll.AppendTargets(row, metaTargets(rec, targets[:0]))
		targets = append(targets, &created, &origin, &writer, &version)
		if err := rows.Scan(targets...); err != nil {
			return nRead, fmt.Errorf("ssync store: pull %s: %w", name, err)
		}
		nRead++
		read = Checkpoint{Version: uint64(version), After: rec.ID}
		send := conflict.Pull(conflict.Row{Found: true, Deleted: rec.DeletedAt != nil, Version: uint64(version), Writer: writer,
			CreatedVersion: uint64(created), Origin: origin}, req.Device, since.Version)
		if (send == conflict.Created || send == conflict.Updated) && filter != nil && !filter(ctx, pc, row) {
			send = conflict.Omit
		}
		if send == conflict.Omit {
			continue
		}
		// A full batch goes out only once another row follows it, so the
		// last batch of a collection carries the snapshot's checkpoint.
		if batch > 0 && (n >= batch || (req.BatchBytes > 0 && size >= req.BatchBytes)) {
			cs.Checkpoint = last.String()
			if err := emit(cs); err != nil {
				return nRead, err
			}
			cs = &wire.ChangeSet{Collection: name}
			n, size = 0, 0
		}
		if req.BatchBytes > 0 {
			size += rowBytes(t, row)
		}
		switch send {
		case conflict.Created:
			cs.Created = append(cs.Created, row)
		case conflict.Updated:
			cs.Updated = append(cs.Updated, row)
		case conflict.Deleted:
			cs.Deleted = append(cs.Deleted, rec.ID)
			cs.DeletedAt = append(cs.DeletedAt, ssync.StoredTime(*rec.DeletedAt))
		}
		n++
		last = Checkpoint{Version: uint64(version), After: rec.ID}
	}
	if err := rows.Err(); err != nil {
		return nRead, fmt.Errorf("ssync store: pull %s: %w", name, err)
	}
	cs.Checkpoint = final
	if limit > 0 && nRead >= limit {
		cs.Checkpoint = read.String() // cut short: the rest from here
	}
	return nRead, emit(cs)
}

// rowBytes is about how many bytes row takes: the length of its text and
// binary values, plus a little for the others.
func rowBytes(t *serverTable, row any) int {
	n := 64
	for _, v := range t.coll.AppendValues(row, nil) {
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		case *string:
			if x != nil {
				n += len(*x)
			}
		default:
			n += 8
		}
	}
	return n
}

// recordDevice remembers the checkpoint a user's device says it has
// pulled, which holds back the purge of tombstones it has not seen. A
// checkpoint beyond upto, the server's position in this pull, is recorded as
// upto: a client cannot claim to have seen what does not exist yet. Records
// are per (user, device), so a request never changes another user's. To
// keep pulls cheap it writes at most once a minute per device (per server
// instance): a record that lags only makes the purge keep more. Failures
// only delay purging.
func (s *Store) recordDevice(ctx context.Context, req PullRequest, upto uint64) {
	if req.Device == "" {
		return
	}
	key := req.Identity.SyncID + "\x00" + req.Device
	now := s.now().UTC()
	s.mu.Lock()
	last, ok := s.seen[key]
	if ok && now.Sub(last) < time.Minute {
		s.mu.Unlock()
		return
	}
	if len(s.seen) > 100_000 {
		clear(s.seen)
	}
	s.seen[key] = now
	s.mu.Unlock()
	cp := min(req.Since.Version, upto)
	if _, err := s.db.ExecContext(ctx, s.stmt.upsertDevice, req.Identity.SyncID, req.Device, int64(cp), now); err != nil {
		s.mu.Lock()
		delete(s.seen, key)
		s.mu.Unlock()
	}
}

// PurgeReport tells what PurgeTombstones did.
type PurgeReport struct {
	// Horizon is the new tombstone horizon: pulls from an older checkpoint
	// get ErrResyncRequired.
	Horizon uint64
	// Purged counts the tombstones removed, per collection.
	Purged map[string]int64
}

// PurgeTombstones removes deleted rows that no device still needs: those
// every device seen within the retention window has pulled past, and those
// deleted longer ago than the retention window. Devices whose checkpoint is
// older than what was removed get ErrResyncRequired on their next pull. A
// deleted row that another row still references stays until that row goes;
// the back references of the rows it may remove are cleared first, so that
// deleted rows that referenced each other around a cycle of tables go too.
// Run it periodically (e.g. daily) from one server instance.
func (s *Store) PurgeTombstones(ctx context.Context) (*PurgeReport, error) {
	var rep *PurgeReport
	err := s.retryConflicts(ctx, func() error {
		var err error
		rep, err = s.purgeTombstones(ctx)
		return err
	})
	return rep, err
}

func (s *Store) purgeTombstones(ctx context.Context) (*PurgeReport, error) {
	now := s.now().UTC()
	cutoff := now.Add(-s.retention)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	defer tx.Rollback()
	// Serialize with pushes: the counter lock keeps versions stable.
	if _, err := tx.ExecContext(ctx, "UPDATE ss_counter SET value = value WHERE name = 'global'"); err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	upto, err := s.counterValue(ctx, tx, "global")
	if err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	// The lowest checkpoint of devices seen within the window.
	var low sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MIN(checkpoint) FROM ss_device_seen WHERE seen_at >= "+s.dialect.Placeholder(1), cutoff).Scan(&low); err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	safe := upto
	if low.Valid && uint64(low.Int64) < safe {
		safe = uint64(low.Int64)
	}
	q, p := s.dialect.Quote, s.dialect.Placeholder
	report := &PurgeReport{Purged: map[string]int64{}}
	var horizon uint64
	// Children first; a deleted row that a kept row still references (a
	// foreign key) stays until that row goes.
	colls := s.reg.Collections()
	purgeable := q(ssync.ColumnDeletedAt) + " IS NOT NULL AND (" + q(columnVersion) + " <= " + p(1) + " OR " +
		q(ssync.ColumnDeletedAt) + " < " + p(2) + ")"
	if err := s.unlinkTombstones(ctx, tx, purgeable, safe, cutoff); err != nil {
		return nil, err
	}
	for i := len(colls) - 1; i >= 0; i-- {
		c := colls[i]
		t := q(c.CollectionName())
		cond := purgeable
		for _, other := range colls {
			for _, col := range other.UserColumns() {
				if col.Ref == c.CollectionName() {
					cond += " AND NOT EXISTS (SELECT 1 FROM " + q(other.CollectionName()) + " r WHERE r." +
						q(col.ServerName()) + " = " + t + "." + q(ssync.ColumnID) + ")"
				}
			}
		}
		var maxV sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT MAX("+q(columnVersion)+") FROM "+t+" WHERE "+cond, int64(safe), cutoff).Scan(&maxV); err != nil {
			return nil, fmt.Errorf("ssync store: purge %s: %w", c.CollectionName(), err)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE "+cond, int64(safe), cutoff)
		if err != nil {
			return nil, fmt.Errorf("ssync store: purge %s: %w", c.CollectionName(), err)
		}
		n, _ := res.RowsAffected()
		report.Purged[c.CollectionName()] = n
		if maxV.Valid && uint64(maxV.Int64) > horizon {
			horizon = uint64(maxV.Int64)
		}
	}
	old, err := s.counterValue(ctx, tx, "horizon")
	if err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	if horizon < old {
		horizon = old
	}
	if _, err := tx.ExecContext(ctx, s.stmt.setCounter, "horizon", int64(horizon)); err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM ss_device_seen WHERE seen_at < "+p(1), cutoff); err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM ss_idempotency WHERE created_at < "+p(1), cutoff); err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ssync store: purge: %w", err)
	}
	report.Horizon = horizon
	return report, nil
}
