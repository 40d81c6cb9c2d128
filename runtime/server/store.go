package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Names of the server-only columns every synchronized table has. They are
// server-owned: nothing a client sends sets them.
const (
	// columnVersion is the counter value of the transaction that last wrote
	// the row; pulls select rows by it.
	columnVersion = "ss_version"
	// columnCreatedVersion is the counter value of the transaction that
	// created the row; pulls classify created versus updated by it.
	columnCreatedVersion = "ss_created_version"
	// columnOrigin is the device that created the row: the one device that
	// may hold it without having pulled it.
	columnOrigin = "ss_origin"
	// columnWriter is the device whose push wrote the row last; a pull by
	// that device leaves the row out (it has it already: no echo).
	columnWriter = "ss_writer"
)

// Store keeps the synchronized tables of one registry in a SQL database and
// implements pull and push over them. Checkpoints come from a counter that
// every writing transaction bumps and holds locked until commit, so versions
// follow commit order and a pull never skips a row committed late.
type Store struct {
	db      *sql.DB
	dialect Dialect
	reg     *ssync.Registry
	tables  map[string]*serverTable
	now     func() time.Time
}

// ErrForbidden is wrapped by a push that touches a row the user may not
// write. The error does not tell whether the row exists.
var ErrForbidden = errors.New("forbidden")

// ErrIdempotencyMismatch is returned when a push reuses an Idempotency-Key
// with a different body.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

// RowError names the row a push was refused for.
type RowError struct {
	// Collection and ID name the row.
	Collection string
	ID         uuid.UUID
	// Err is the reason; it wraps ErrForbidden for rows of other users.
	Err error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("collection %q row %s: %v", e.Collection, e.ID, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// OpenStore prepares db for the collections of reg: it creates the store's
// own tables and every synchronized table (idempotently).
func OpenStore(ctx context.Context, db *sql.DB, d Dialect, reg *ssync.Registry) (*Store, error) {
	s := &Store{db: db, dialect: d, reg: reg, tables: make(map[string]*serverTable), now: time.Now}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ssync server: open %s store: %w", d.Name, err)
	}
	defer tx.Rollback()
	for _, stmt := range d.Setup {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("ssync server: open %s store: %w", d.Name, err)
		}
	}
	for _, c := range reg.Collections() {
		ddl := c.DDL(d.Target)
		if len(ddl) == 0 {
			return nil, fmt.Errorf("ssync server: collection %q has no %s schema; regenerate with ssyncgen", c.CollectionName(), d.Target)
		}
		for _, stmt := range ddl {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("ssync server: create %s: %w", c.CollectionName(), err)
			}
		}
		s.tables[c.CollectionName()] = newServerTable(d, c)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ssync server: open %s store: %w", d.Name, err)
	}
	return s, nil
}

// Registry returns the store's registry.
func (s *Store) Registry() *ssync.Registry { return s.reg }

// serverTable holds the SQL the store runs against one table.
type serverTable struct {
	coll    ssync.Collection
	pull    string // with %s for the owner placeholders
	lookup  string
	insert  string
	update  string
	delete  string
	nUser   int
	d       Dialect
	columns string
}

func newServerTable(d Dialect, c ssync.Collection) *serverTable {
	q := d.Quote
	t := q(c.CollectionName())
	meta := []string{ssync.ColumnID, ssync.ColumnCreatedAt, ssync.ColumnUpdatedAt, ssync.ColumnDeletedAt, ssync.ColumnSyncID}
	var user []string
	for _, col := range c.UserColumns() {
		user = append(user, col.ServerName())
	}
	all := append(append([]string(nil), meta...), user...)
	quoted := make([]string, len(all))
	for i, n := range all {
		quoted[i] = q(n)
	}
	cols := strings.Join(quoted, ", ")

	// INSERT: all columns, then version, created version, origin, writer.
	var ph []string
	for i := range len(all) + 4 {
		ph = append(ph, d.Placeholder(i+1))
	}
	insert := "INSERT INTO " + t + " (" + cols + ", " + q(columnVersion) + ", " + q(columnCreatedVersion) +
		", " + q(columnOrigin) + ", " + q(columnWriter) + ") VALUES (" + strings.Join(ph, ", ") + ")"

	// UPDATE: every column but id and owner, then version, WHERE id.
	var set []string
	n := 1
	for _, name := range all {
		if name == ssync.ColumnID || name == ssync.ColumnSyncID {
			continue
		}
		set = append(set, q(name)+" = "+d.Placeholder(n))
		n++
	}
	set = append(set, q(columnVersion)+" = "+d.Placeholder(n), q(columnWriter)+" = "+d.Placeholder(n+1))
	update := "UPDATE " + t + " SET " + strings.Join(set, ", ") + " WHERE " + q(ssync.ColumnID) + " = " + d.Placeholder(n+2)

	del := "UPDATE " + t + " SET " + q(ssync.ColumnDeletedAt) + " = " + d.Placeholder(1) + ", " +
		q(ssync.ColumnUpdatedAt) + " = " + d.Placeholder(2) + ", " + q(columnVersion) + " = " + d.Placeholder(3) +
		", " + q(columnWriter) + " = " + d.Placeholder(4) + " WHERE " + q(ssync.ColumnID) + " = " + d.Placeholder(5)

	lookup := "SELECT " + q(ssync.ColumnSyncID) + ", " + q(ssync.ColumnDeletedAt) + " FROM " + t +
		" WHERE " + q(ssync.ColumnID) + " = " + d.Placeholder(1)

	return &serverTable{coll: c, insert: insert, update: update, delete: del, lookup: lookup,
		nUser: len(user), d: d, columns: cols}
}

// pullQuery returns the pull statement for n owners: args are since, upto,
// then the owners.
func (t *serverTable) pullQuery(owners int) string {
	q := t.d.Quote
	ph := make([]string, owners)
	for i := range ph {
		ph[i] = t.d.Placeholder(i + 3)
	}
	return "SELECT " + t.columns + ", " + q(columnCreatedVersion) + ", " + q(columnOrigin) + ", " + q(columnWriter) +
		" FROM " + q(t.coll.CollectionName()) +
		" WHERE " + q(columnVersion) + " > " + t.d.Placeholder(1) + " AND " + q(columnVersion) + " <= " + t.d.Placeholder(2) +
		" AND " + q(ssync.ColumnSyncID) + " IN (" + strings.Join(ph, ", ") + ")" +
		" ORDER BY " + q(columnVersion) + ", " + q(ssync.ColumnID)
}

// Checkpoint formats a counter value as the opaque checkpoint clients store.
func Checkpoint(v uint64) string { return strconv.FormatUint(v, 10) }

// ErrBadCheckpoint is wrapped by the error for a checkpoint the server did
// not produce.
var ErrBadCheckpoint = errors.New("invalid checkpoint")

// ParseCheckpoint reads a checkpoint. Empty, and the zero time
// "0001-01-01T00:00:00" in any precision or zone, mean "from the start".
func ParseCheckpoint(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	if strings.HasPrefix(s, "0001-01-01") {
		if t, err := wire.ParseTime(s); err == nil && t.IsZero() {
			return 0, nil
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: use the timestamp of the last pull, or empty for everything", ErrBadCheckpoint, truncate(s))
	}
	return v, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Pull returns the changes to the named collections (registry order) visible
// to id since checkpoint since, and the checkpoint they lead to. When device
// is not empty, rows that device wrote last are left out (it has them), and
// so are rows created and deleted since then by others (it never saw them).
func (s *Store) Pull(ctx context.Context, id Identity, device string, names []string, since uint64) ([]wire.ChangeSet, uint64, error) {
	tx, err := s.db.BeginTx(ctx, s.dialect.PullTx)
	if err != nil {
		return nil, 0, fmt.Errorf("ssync server: pull: %w", err)
	}
	defer tx.Rollback()
	var upto uint64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM ss_counter WHERE name = 'global'").Scan(&upto); err != nil {
		return nil, 0, fmt.Errorf("ssync server: pull: read counter: %w", err)
	}
	owners := id.owners()
	cp := Checkpoint(upto)
	sets := make([]wire.ChangeSet, 0, len(names))
	for _, name := range names {
		t, ok := s.tables[name]
		if !ok {
			return nil, 0, fmt.Errorf("ssync server: pull: %w %q", ssync.ErrUnknownCollection, name)
		}
		cs := wire.ChangeSet{Collection: name, Timestamp: cp}
		if since < upto {
			if err := s.pullTable(ctx, tx, t, owners, device, since, upto, &cs); err != nil {
				return nil, 0, err
			}
		}
		sets = append(sets, cs)
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, fmt.Errorf("ssync server: pull: %w", err)
	}
	return sets, upto, nil
}

func (s *Store) pullTable(ctx context.Context, tx *sql.Tx, t *serverTable, owners []string, device string, since, upto uint64, cs *wire.ChangeSet) error {
	args := make([]any, 0, 2+len(owners))
	args = append(args, int64(since), int64(upto))
	for _, o := range owners {
		args = append(args, o)
	}
	rows, err := tx.QueryContext(ctx, t.pullQuery(len(owners)), args...)
	if err != nil {
		return fmt.Errorf("ssync server: pull %s: %w", cs.Collection, err)
	}
	defer rows.Close()
	var targets []any
	for rows.Next() {
		row := t.coll.NewRow()
		rec := t.coll.RecordOf(row)
		var created int64
		var origin, writer string
		targets = t.coll.AppendTargets(row, metaTargets(rec, targets[:0]))
		targets = append(targets, &created, &origin, &writer)
		if err := rows.Scan(targets...); err != nil {
			return fmt.Errorf("ssync server: pull %s: %w", cs.Collection, err)
		}
		newToClient := uint64(created) > since
		switch {
		case device != "" && writer == device:
			// The device's own last write: it has the row as it is here.
		case rec.DeletedAt != nil && newToClient && (device == "" || origin != device):
			// Created and deleted since the client last pulled, and not by
			// this device: it never saw the row. A client that sends no
			// device id is taken to be none of the creators.
		case rec.DeletedAt != nil:
			cs.Deleted = append(cs.Deleted, rec.ID)
		case newToClient:
			cs.Created = append(cs.Created, row)
		default:
			cs.Updated = append(cs.Updated, row)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ssync server: pull %s: %w", cs.Collection, err)
	}
	return nil
}

// PushResult is what a push did.
type PushResult struct {
	// Checkpoint is the counter value the push committed at (or the current
	// one when it changed nothing).
	Checkpoint string
	// Replayed is true when the push repeated an Idempotency-Key and the
	// recorded answer was returned without applying anything.
	Replayed bool
	// Ignored lists rows not applied because they were deleted on the server
	// (delete wins), as "collection/id".
	Ignored []string
}

// Push applies change sets for id in one transaction: creates and updates in
// registry order, then deletes in reverse order. A non-empty key makes the
// push idempotent per user: the key, a hash of the request and the answer are
// stored with the writes, and a replay returns the stored answer.
//
// device names the pushing device; rows it writes are not sent back to it.
func (s *Store) Push(ctx context.Context, id Identity, device, key, requestHash string, sets []wire.ChangeSet) (*PushResult, error) {
	total := 0
	for i := range sets {
		total += sets[i].Len()
	}
	if total == 0 {
		// Nothing to write: answer with the current checkpoint and keep the
		// counter (and its lock) untouched.
		var v uint64
		if err := s.db.QueryRowContext(ctx, "SELECT value FROM ss_counter WHERE name = 'global'").Scan(&v); err != nil {
			return nil, fmt.Errorf("ssync server: push: read counter: %w", err)
		}
		return &PushResult{Checkpoint: Checkpoint(v)}, nil
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
	var version int64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM ss_counter WHERE name = 'global'").Scan(&version); err != nil {
		return nil, fmt.Errorf("ssync server: push: read counter: %w", err)
	}
	if key != "" {
		var hash, response string
		err := tx.QueryRowContext(ctx, "SELECT request_hash, response FROM ss_idempotency WHERE sync_id = "+ph(1)+" AND idem_key = "+ph(2),
			id.SyncID, key).Scan(&hash, &response)
		switch {
		case err == nil && hash == requestHash:
			return &PushResult{Checkpoint: response, Replayed: true}, nil
		case err == nil:
			return nil, ErrIdempotencyMismatch
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("ssync server: push: read idempotency key: %w", err)
		}
	}
	res := &PushResult{Checkpoint: Checkpoint(uint64(version))}
	byName := make(map[string]*wire.ChangeSet, len(sets))
	for i := range sets {
		byName[sets[i].Collection] = &sets[i]
	}
	names := s.reg.Names()
	now := s.now().UTC().Truncate(time.Microsecond)
	for _, name := range names {
		cs := byName[name]
		if cs == nil {
			continue
		}
		t := s.tables[name]
		for _, rows := range [][]any{cs.Created, cs.Updated} {
			for _, row := range rows {
				if err := s.pushRow(ctx, tx, t, id, device, row, version, res); err != nil {
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
			if err := s.pushDelete(ctx, tx, t, id, device, rowID, version, now); err != nil {
				return nil, err
			}
		}
	}
	if key != "" {
		_, err := tx.ExecContext(ctx, "INSERT INTO ss_idempotency (sync_id, idem_key, request_hash, response, created_at) VALUES ("+
			ph(1)+", "+ph(2)+", "+ph(3)+", "+ph(4)+", "+ph(5)+")", id.SyncID, key, requestHash, res.Checkpoint, now)
		if err != nil {
			return nil, fmt.Errorf("ssync server: push: record idempotency key: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ssync server: push: %w", err)
	}
	return res, nil
}

// lookup reads the owner and deletion of an existing row.
func (s *Store) lookup(ctx context.Context, tx *sql.Tx, t *serverTable, rowID uuid.UUID) (owner string, deleted, found bool, err error) {
	var deletedAt *time.Time
	err = tx.QueryRowContext(ctx, t.lookup, rowID.String()).Scan(&owner, &deletedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("ssync server: push %s %s: %w", t.coll.CollectionName(), rowID, err)
	}
	return owner, deletedAt != nil, true, nil
}

func (s *Store) pushRow(ctx context.Context, tx *sql.Tx, t *serverTable, id Identity, device string, row any, version int64, res *PushResult) error {
	rec := t.coll.RecordOf(row)
	name := t.coll.CollectionName()
	if rec.SyncID == "" {
		rec.SyncID = id.SyncID
	}
	if !id.Allowed(rec.SyncID) {
		return &RowError{Collection: name, ID: rec.ID, Err: fmt.Errorf("%w: row is owned by a user you may not write for", ErrForbidden)}
	}
	owner, deleted, found, err := s.lookup(ctx, tx, t, rec.ID)
	if err != nil {
		return err
	}
	switch {
	case found && !id.Allowed(owner):
		// Same answer as above: do not reveal that the id exists.
		return &RowError{Collection: name, ID: rec.ID, Err: fmt.Errorf("%w: row is owned by a user you may not write for", ErrForbidden)}
	case found && deleted:
		res.Ignored = append(res.Ignored, name+"/"+rec.ID.String())
		return nil
	case found:
		rec.SyncID = owner
		args := make([]any, 0, 5+t.nUser)
		args = append(args, rec.CreatedAt, rec.UpdatedAt, timeOrNil(rec.DeletedAt))
		args = t.coll.AppendValues(row, args)
		args = append(args, version, device, rec.ID.String())
		if _, err := tx.ExecContext(ctx, t.update, args...); err != nil {
			return &RowError{Collection: name, ID: rec.ID, Err: err}
		}
	default:
		args := metaValues(rec, make([]any, 0, 7+t.nUser))
		args = t.coll.AppendValues(row, args)
		args = append(args, version, version, device, device)
		if _, err := tx.ExecContext(ctx, t.insert, args...); err != nil {
			return &RowError{Collection: name, ID: rec.ID, Err: err}
		}
	}
	return nil
}

func (s *Store) pushDelete(ctx context.Context, tx *sql.Tx, t *serverTable, id Identity, device string, rowID uuid.UUID, version int64, now time.Time) error {
	name := t.coll.CollectionName()
	owner, deleted, found, err := s.lookup(ctx, tx, t, rowID)
	if err != nil {
		return err
	}
	switch {
	case !found:
		return nil // deleting what the server never had changes nothing
	case !id.Allowed(owner):
		return &RowError{Collection: name, ID: rowID, Err: fmt.Errorf("%w: row is owned by a user you may not write for", ErrForbidden)}
	case deleted:
		return nil
	}
	if _, err := tx.ExecContext(ctx, t.delete, now, now, version, device, rowID.String()); err != nil {
		return &RowError{Collection: name, ID: rowID, Err: err}
	}
	return nil
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func metaValues(rec *ssync.Record, dst []any) []any {
	return append(dst, rec.ID.String(), rec.CreatedAt, rec.UpdatedAt, timeOrNil(rec.DeletedAt), rec.SyncID)
}

func metaTargets(rec *ssync.Record, dst []any) []any {
	return append(dst, &rec.ID, &rec.CreatedAt, &rec.UpdatedAt, &rec.DeletedAt, &rec.SyncID)
}
