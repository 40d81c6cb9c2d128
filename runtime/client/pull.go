package client

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// maxLine bounds one line of a streamed pull.
const maxLine = 256 << 20

// pull streams the server's changes for every checkpoint group and applies
// them line by line. A 410 (resync required) restarts the group from an empty
// checkpoint and, once the full pull is complete, drops local rows without
// pending changes that it did not return.
func (s *session) pull(ctx context.Context) error {
	db := s.db
	checkpoints, err := db.checkpoints(ctx, s.scope)
	if err != nil {
		return err
	}
	meta, err := readMeta(ctx, db.sql)
	if err != nil {
		return fmt.Errorf("ssync client: %w", err)
	}
	// Collections at the same checkpoint and resync state are pulled
	// together.
	type group struct {
		cp     string
		resync bool
		names  []string
	}
	var groups []*group
	for _, name := range db.reg.Names() {
		cp, rs := checkpoints[name], meta[resyncKey(s.scope, name)] != ""
		var g *group
		for _, x := range groups {
			if x.cp == cp && x.resync == rs {
				g = x
			}
		}
		if g == nil {
			g = &group{cp: cp, resync: rs}
			groups = append(groups, g)
		}
		g.names = append(g.names, name)
	}
	for _, g := range groups {
		err := s.pullGroup(ctx, g.names, g.cp, g.resync)
		var te *TransportError
		if errors.As(err, &te) && te.StatusCode == http.StatusGone && !g.resync {
			db.logger.WarnContext(ctx, "ssync: the server no longer has the deletions since our checkpoint; pulling everything again",
				"collections", g.names)
			if err := db.startResync(ctx, s.scope, g.names); err != nil {
				return err
			}
			err = s.pullGroup(ctx, g.names, "", true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// startResync marks collections for a full pull: their checkpoints go back
// to the start and the ids seen are collected in ss_resync.
func (db *DB) startResync(ctx context.Context, scope string, names []string) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ssync client: start resync: %w", err)
	}
	defer tx.Rollback()
	if err := startResyncTx(ctx, tx, scope, names); err != nil {
		return err
	}
	return tx.Commit()
}

// startResyncTx is startResync in tx.
func startResyncTx(ctx context.Context, tx queryer, scope string, names []string) error {
	for _, name := range names {
		if err := writeMeta(ctx, tx, resyncKey(scope, name), "1"); err != nil {
			return err
		}
		if err := writeMeta(ctx, tx, checkpointKey(scope, name), ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ss_resync WHERE collection = ?`, name); err != nil {
			return fmt.Errorf("ssync client: start resync: %w", err)
		}
	}
	return nil
}

// pullGroup streams one group of collections from checkpoint cp.
func (s *session) pullGroup(ctx context.Context, names []string, cp string, resync bool) error {
	q := url.Values{wire.ParamCollections: names}
	q.Set(wire.ParamCheckpoint, cp)
	if s.opts.PullBatchRows > 0 {
		q.Set(wire.ParamBatch, strconv.Itoa(s.opts.PullBatchRows))
	}
	// A full resync must also get the rows this device wrote itself, so it
	// does not say which device it is.
	const op = wire.PathPullStream
	body, err := s.ex.stream(ctx, call{op: op, method: http.MethodGet, query: q, device: !resync})
	if err != nil {
		return err
	}
	defer body.Close()
	rd := bufio.NewReaderSize(body, 64<<10)
	done := 0
	finished := false
	for {
		line, err := readLine(rd)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &TransportError{Op: op, Err: err}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte(`{"done"`)) || bytes.HasPrefix(line, []byte(`{"error"`)) {
			var tail wire.StreamEnd
			if err := json.Unmarshal(line, &tail); err != nil {
				return &TransportError{Op: op, StatusCode: http.StatusOK, Message: "malformed stream line", Err: err}
			}
			if tail.Error != nil {
				return &TransportError{Op: op, StatusCode: http.StatusInternalServerError, Code: tail.Error.Code, Message: tail.Error.Message}
			}
			finished = tail.Done
			if finished {
				s.res.Checkpoint = tail.Checkpoint
			}
			break
		}
		sets, err := wire.DecodeChangeSets(append(append([]byte{'['}, line...), ']'), s.db.reg, ssync.DecodeOptions{})
		if err != nil {
			return &TransportError{Op: op, StatusCode: http.StatusOK, Message: err.Error(), Err: err}
		}
		for i := range sets {
			cs := &sets[i]
			if !slices.Contains(names, cs.Collection) {
				return &TransportError{Op: op, StatusCode: http.StatusOK,
					Message: fmt.Sprintf("server sent collection %q, which was not asked for", cs.Collection)}
			}
			if cs.Checkpoint == "" {
				return &TransportError{Op: op, StatusCode: http.StatusOK,
					Message: fmt.Sprintf("server sent collection %q without a checkpoint", cs.Collection)}
			}
			if err := s.apply(ctx, cs, resync); err != nil {
				return err
			}
			done += cs.Len()
			s.progress(Progress{Stage: StagePull, Collection: cs.Collection, Done: done, Total: -1})
		}
	}
	if !finished {
		return &TransportError{Op: op, Err: io.ErrUnexpectedEOF, Message: "the stream ended before its last line"}
	}
	if resync {
		return s.finishResync(ctx, names)
	}
	return nil
}

// readLine reads one line of any length up to maxLine.
func readLine(rd *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := rd.ReadSlice('\n')
		if len(buf)+len(part) > maxLine {
			return nil, fmt.Errorf("stream line longer than %d bytes", maxLine)
		}
		if err == nil {
			if buf == nil {
				return part, nil
			}
			return append(buf, part...), nil
		}
		buf = append(buf, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) > 0 {
			return buf, nil
		}
		return nil, err
	}
}

// finishResync drops local rows the full pull did not return.
//
// The re-pull of a table that gained columns (addedKey) starts over, at
// the next sync, when it left rows of the table as they were because they
// had pending changes it could not merge: those rows still hold the new
// columns' defaults, which their pushes leave out while the re-pull is
// pending, and the next re-pull (after their push) brings them the
// server's values.
func (s *session) finishResync(ctx context.Context, names []string) error {
	db := s.db
	tx, end, err := db.beginApply(ctx)
	if err != nil {
		return fmt.Errorf("ssync client: finish resync: %w", err)
	}
	defer end()
	defer tx.Rollback()
	var finished []string
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, db.tables[name].resyncDrop, s.scope, name); err != nil {
			return fmt.Errorf("ssync client: finish resync of %s: %w", name, err)
		}
		if err := dropUnseenHeld(ctx, tx, name, s.scope); err != nil {
			return fmt.Errorf("ssync client: finish resync: %w", err)
		}
		again, err := s.repullAgain(ctx, tx, name)
		if err != nil {
			return err
		}
		if again {
			if err := startResyncTx(ctx, tx, s.scope, []string{name}); err != nil {
				return err
			}
			db.logger.InfoContext(ctx, "ssync: rows changed during the re-pull of a table that gained columns; the next sync pulls it again",
				"table", name)
			continue
		}
		finished = append(finished, name)
		if _, err := tx.ExecContext(ctx, `DELETE FROM ss_resync WHERE collection = ?`, name); err != nil {
			return fmt.Errorf("ssync client: finish resync: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ss_meta WHERE key IN (?, ?)`, resyncKey(s.scope, name), addedKey(s.scope, name)); err != nil {
			return fmt.Errorf("ssync client: finish resync: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: finish resync: %w", err)
	}
	db.changed(OriginPull, names...)
	s.res.Resynced = append(s.res.Resynced, finished...)
	return nil
}

// repullAgain reports whether the re-pull of table name, which gained
// columns, left rows with pending changes whole (see finishResync).
func (s *session) repullAgain(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	var added string
	err := tx.QueryRowContext(ctx, `SELECT value FROM ss_meta WHERE key = ?`, addedKey(s.scope, name)).Scan(&added)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && added == "") {
		return false, nil
	}
	var n int
	if err == nil {
		keptWhole := s.opts.WholeRows || !s.fields
		err = tx.QueryRowContext(ctx, s.db.tables[name].keptWhole, keptWhole, s.scope).Scan(&n)
	}
	if err != nil {
		return false, fmt.Errorf("ssync client: finish resync of %s: %w", name, err)
	}
	return n > 0, nil
}

// apply writes one pulled change set and its checkpoint in one transaction.
// A row with an unpushed local change keeps it (it is pushed next time),
// except that a delete always wins. Pulled rows never become local changes.
// References to rows the device does not have yet are held (held.go).
func (s *session) apply(ctx context.Context, cs *wire.ChangeSet, resync bool) error {
	db := s.db
	lt := db.tables[cs.Collection]
	name := cs.Collection
	tx, end, err := db.beginApply(ctx)
	if err != nil {
		return fmt.Errorf("ssync client: apply %s: %w", name, err)
	}
	defer end()
	defer tx.Rollback()
	// The statements run at full speed; ctx is checked every checkRows
	// rows, and ends the transaction (see hot.go).
	ap := &applier{s: s, ctx: quiet(ctx), check: ctx, tx: tx, resync: resync}
	defer ap.close()
	held, err := anyHeld(ap.ctx, tx)
	if err != nil {
		return fmt.Errorf("ssync client: apply %s: %w", name, cause(ctx, err))
	}
	var ids []uuid.UUID // of the rows written, whose waiting references are released
	if len(cs.Created)+len(cs.Updated) > 0 {
		rows := append(append(make([]any, 0, len(cs.Created)+len(cs.Updated)), cs.Created...), cs.Updated...)
		if held {
			if err := dropHeld(ap.ctx, tx, name, rowIDs(lt, rows)); err != nil {
				return fmt.Errorf("ssync client: apply %s: %w", name, cause(ctx, err))
			}
		}
		ap.created = len(cs.Created)
		if ids, err = ap.rows(lt, rows, held || len(lt.refs) > 0); err != nil {
			return fmt.Errorf("ssync client: apply %s: %w", name, cause(ctx, err))
		}
	}
	if err := ap.deletes(lt, cs); err != nil {
		return err
	}
	if held || ap.held {
		if len(cs.Deleted) > 0 {
			if err := dropHeld(ap.ctx, tx, name, uuidStrings(cs.Deleted)); err != nil {
				return fmt.Errorf("ssync client: apply %s: %w", name, cause(ctx, err))
			}
		}
		if err := ap.release(uuidStrings(ids)); err != nil {
			return fmt.Errorf("ssync client: apply %s: %w", name, cause(ctx, err))
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ssync client: apply %s: %w", name, err)
	}
	if err := writeMeta(ap.ctx, tx, checkpointKey(s.scope, name), cs.Checkpoint); err != nil {
		return fmt.Errorf("ssync client: %w", cause(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: apply %s: %w", name, cause(ctx, err))
	}
	for _, t := range db.reg.Names() {
		if c := ap.counts[t]; c != [3]int{} || ap.touched[t] {
			addCount(&s.res.Pulled, t, c[0], c[1], c[2])
			db.changed(OriginPull, t)
		}
	}
	s.res.Checkpoint = cs.Checkpoint
	return nil
}

// rowIDs returns the ids of rows of lt.
func rowIDs(lt *localTable, rows []any) []string {
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = lt.coll.RecordOf(row).ID.String()
	}
	return ids
}

// uuidStrings returns ids as strings.
func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// applier writes pulled rows in one apply transaction, with the
// statements it prepares once per table.
type applier struct {
	s      *session
	ctx    context.Context // quiet: see hot.go
	check  context.Context // the caller's, checked every checkRows rows
	tx     *sql.Tx
	resync bool
	// created is how many of the next rows passed to rows were created
	// on the server (the others were updated), for the counts.
	created int
	n       int  // rows handled, for the checks of check
	held    bool // something was held
	stmts   map[string]*applyStmts
	counts  map[string][3]int // created, updated, deleted per table
	touched map[string]bool   // tables changed beyond counts (cascades)
}

// applyStmts are the prepared statements of one table.
type applyStmts struct {
	apply, merge, seen *sql.Stmt
}

// pulled is a pulled row and its apply arguments.
type pulled struct {
	row  any
	id   uuid.UUID
	args []any
}

func (ap *applier) close() {
	for _, st := range ap.stmts {
		for _, s := range []*sql.Stmt{st.apply, st.merge, st.seen} {
			if s != nil {
				s.Close()
			}
		}
	}
}

// tick checks the caller's context every checkRows rows.
func (ap *applier) tick() error {
	ap.n++
	if ap.n%checkRows != 1 {
		return nil
	}
	return ap.check.Err()
}

// touch records that a pull changed table without counting a row of it
// (a cascade, which may hold rows: held.go).
func (ap *applier) touch(table string) {
	ap.held = true
	if ap.touched == nil {
		ap.touched = map[string]bool{}
	}
	ap.touched[table] = true
}

func (ap *applier) count(table string, i int) {
	if ap.counts == nil {
		ap.counts = map[string][3]int{}
	}
	c := ap.counts[table]
	c[i]++
	ap.counts[table] = c
}

// statements returns lt's prepared statements.
func (ap *applier) statements(lt *localTable) (*applyStmts, error) {
	name := lt.coll.CollectionName()
	if st := ap.stmts[name]; st != nil {
		return st, nil
	}
	st := &applyStmts{}
	var err error
	if st.apply, err = ap.tx.PrepareContext(ap.ctx, lt.apply); err != nil {
		return nil, err
	}
	if ap.stmts == nil {
		ap.stmts = map[string]*applyStmts{}
	}
	ap.stmts[name] = st
	if ap.resync {
		if st.seen, err = ap.tx.PrepareContext(ap.ctx, `INSERT OR IGNORE INTO ss_resync (collection, id) VALUES (?, ?)`); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// rows writes pulled rows of lt and returns the ids of those the device
// now has. With refs, references to rows the device lacks are held.
func (ap *applier) rows(lt *localTable, rows []any, refs bool) ([]uuid.UUID, error) {
	st, err := ap.statements(lt)
	if err != nil {
		return nil, err
	}
	// One array holds every row's arguments.
	width := nMeta + len(lt.coll.UserColumns())
	all := make([]any, 0, len(rows)*width)
	batch := make([]pulled, len(rows))
	for i, row := range rows {
		rec := lt.coll.RecordOf(row)
		all = lt.coll.AppendValues(row, metaValues(rec, all))
		batch[i] = pulled{row: row, id: rec.ID, args: all[len(all)-width:]}
	}
	var missing map[uuid.UUID][]heldLink
	if refs {
		if missing, err = missingRefs(ap.ctx, ap.tx, lt, batch); err != nil {
			return nil, err
		}
	}
	ids := make([]uuid.UUID, 0, len(batch))
	created := ap.created
	ap.created = 0
	var waiting map[uuid.UUID]bool // rows of the batch held whole
	for i, p := range batch {
		if err := ap.tick(); err != nil {
			return nil, err
		}
		written, err := ap.row(lt, st, p, missing[p.id], i < created)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.id, err)
		}
		if written {
			ids = append(ids, p.id)
		} else if len(missing[p.id]) > 0 {
			if waiting == nil {
				waiting = map[uuid.UUID]bool{}
			}
			waiting[p.id] = true
		}
	}
	if len(waiting) > 0 {
		if err := holdUnderWaiting(ap.ctx, ap.tx, lt, batch, waiting); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// row writes one pulled row and reports whether the device now has it.
func (ap *applier) row(lt *localTable, st *applyStmts, p pulled, links []heldLink, created bool) (bool, error) {
	name := lt.coll.CollectionName()
	if st.seen != nil {
		if _, err := st.seen.ExecContext(ap.ctx, name, p.id.String()); err != nil {
			return false, err
		}
	}
	if len(links) > 0 {
		ok, err := substitute(ap.ctx, ap.tx, lt, p.id, p.args, links)
		if err != nil {
			return false, err
		}
		ap.held = true
		if !ok {
			return false, holdRow(ap.ctx, ap.tx, lt, p.row, links)
		}
	}
	r, err := st.apply.ExecContext(ap.ctx, p.args...)
	if err != nil {
		return false, err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		merged, err := ap.s.mergeFields(ap.ctx, ap.tx, lt, p.row, p.args[nMeta:], &st.merge)
		if err != nil {
			return false, err
		}
		if !merged {
			ap.s.res.Skipped++
			return true, nil
		}
		ap.count(name, 1)
		ap.s.log("pull", name, "updated", lt.coll, p.row, p.id)
		return true, holdLinks(ap.ctx, ap.tx, lt, p.id, links, true)
	}
	op := "updated"
	if created {
		op = "created"
		ap.count(name, 0)
	} else {
		ap.count(name, 1)
	}
	ap.s.log("pull", name, op, lt.coll, p.row, p.id)
	return true, holdLinks(ap.ctx, ap.tx, lt, p.id, links, false)
}

// deletes applies the pulled deletes of cs.
func (ap *applier) deletes(lt *localTable, cs *wire.ChangeSet) error {
	db, name, ctx := ap.s.db, cs.Collection, ap.ctx
	now := db.timestamp()
	for i, id := range cs.Deleted {
		if err := ap.tick(); err != nil {
			return fmt.Errorf("ssync client: apply %s: %w", name, err)
		}
		// The server's deletedAt, which every device stores; an older
		// server sends none, and the device's clock stamps the delete.
		var at any
		if i < len(cs.DeletedAt) && !cs.DeletedAt[i].IsZero() {
			at = ssync.StoredTime(cs.DeletedAt[i])
		}
		r, err := ap.tx.ExecContext(ctx, lt.applyDel, at, now, id.String())
		if err != nil {
			return fmt.Errorf("ssync client: apply delete %s %s: %w", name, id, cause(ap.check, err))
		}
		if n, _ := r.RowsAffected(); n > 0 {
			ap.count(name, 2)
			ap.s.log("pull", name, "deleted", lt.coll, nil, id)
		} else if at != nil {
			// Deleted here already (and pushed): take the server's stamp.
			if _, err := ap.tx.ExecContext(ctx, lt.applyStamp, at, id.String(), at); err != nil {
				return fmt.Errorf("ssync client: apply delete %s %s: %w", name, id, cause(ap.check, err))
			}
		}
		if db.referenced[name] {
			if err := db.cascadePulled(ctx, ap.tx, name, id, now, ap.s.opts.WholeRows || !ap.s.fields, ap.touch); err != nil {
				return fmt.Errorf("ssync client: apply delete %s %s: %w", name, id, cause(ap.check, err))
			}
		}
	}
	return nil
}

// mergeFields writes a pulled row into a local row with pending changes
// known field by field, when pushes carry fields: the fields not changed
// locally take the pulled values, the changed ones stay (they are pushed
// next) with the pulled values as their bases. It reports whether the
// local row was such a row. values are the row's user values as written
// (held references replaced: held.go). *stmt is the prepared merge, prepared here on
// first use.
func (s *session) mergeFields(ctx context.Context, tx *sql.Tx, lt *localTable, row any, values []any, stmt **sql.Stmt) (bool, error) {
	if lt.fields.merge == "" || lt.coll.RecordOf(row).DeletedAt != nil || !s.fields || s.opts.WholeRows {
		// A device that pushes whole rows keeps its whole local row.
		return false, nil
	}
	if *stmt == nil {
		st, err := tx.PrepareContext(ctx, lt.fields.merge)
		if err != nil {
			return false, err
		}
		*stmt = st
	}
	args := append(slices.Clip(values), lt.coll.RecordOf(row).ID.String())
	r, err := (*stmt).ExecContext(ctx, args...)
	if err != nil {
		return false, err
	}
	if n, err := r.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	// The device has now seen the server's values of its changed fields.
	_, err = tx.ExecContext(ctx, lt.fields.rebase, args...)
	return true, err
}
