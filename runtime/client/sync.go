package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// HeaderDevice carries the device id (knowledge id) on every request. The
// server uses it only to leave out of a pull what that device wrote itself.
const HeaderDevice = "X-Ssync-Device"

// DefaultBasePath is where the server's sync API is mounted unless told
// otherwise.
const DefaultBasePath = "/api/sync"

// SyncOptions says how Synchronize reaches the server.
type SyncOptions struct {
	// ServerURL is the server's address, e.g. "http://127.0.0.1:8080".
	ServerURL string
	// BasePath is where the sync API is mounted; empty means
	// DefaultBasePath.
	BasePath string
	// HTTPClient sends the requests; nil uses a client with a two-minute
	// timeout per request.
	HTTPClient *http.Client
	// Decorate, when set, is called on every request before it is sent, to
	// add credentials or other headers.
	Decorate func(*http.Request) error
	// MaxAttempts bounds how often one request is sent when it fails in a
	// way that may pass on retry (no response, 408, 429, 5xx); 0 means 4.
	MaxAttempts int
	// RetryDelay is the first wait between attempts, doubled each time;
	// 0 means 250ms.
	RetryDelay time.Duration
}

// TableCounts counts the rows of one table moved in one direction.
type TableCounts struct {
	// Collection is the table's collection name.
	Collection string
	// Created, Updated and Deleted count rows by kind of change.
	Created, Updated, Deleted int
}

// Result tells what one Synchronize did.
type Result struct {
	// Pushed counts the local changes the server acknowledged, per table.
	Pushed []TableCounts
	// Pulled counts the server changes applied locally, per table.
	Pulled []TableCounts
	// Skipped counts pulled rows not applied because the row has a local
	// change not yet pushed; the local change is pushed next time.
	Skipped int
	// Checkpoint is the server checkpoint the device is now at.
	Checkpoint string
	// Duration is how long the whole exchange took.
	Duration time.Duration
}

// Synchronize pushes the local changes of the active user's scope to the
// server, then pulls the server's changes since the stored checkpoints and
// applies them in one local transaction together with the new checkpoints.
// Only one Synchronize runs at a time per database; a second one waits.
func (db *DB) Synchronize(ctx context.Context, opts SyncOptions) (*Result, error) {
	start := time.Now()
	select {
	case db.syncSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-db.syncSem }()

	_, scope, _, err := db.activeScope()
	if err != nil {
		return nil, err
	}
	ex, err := newExchange(opts, db.DeviceID())
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if err := db.push(ctx, ex, scope, res); err != nil {
		return nil, err
	}
	if err := db.pull(ctx, ex, scope, res); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	db.logger.InfoContext(ctx, "ssync: synchronized",
		"pushed", countsAttr(res.Pushed), "pulled", countsAttr(res.Pulled),
		"skipped", res.Skipped, "checkpoint", res.Checkpoint, "duration", res.Duration)
	return res, nil
}

// countsAttr turns counts into a compact log value.
func countsAttr(counts []TableCounts) string {
	parts := make([]string, 0, len(counts))
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s:+%d~%d-%d", c.Collection, c.Created, c.Updated, c.Deleted))
	}
	return strings.Join(parts, ",")
}

// pendingRow is a pushed row and the change counter it had when read.
type pendingRow struct {
	table *localTable
	id    string
	dirty int64
	sent  bool // false for rows created and deleted before the server saw them
}

func (db *DB) push(ctx context.Context, ex *exchange, scope string, res *Result) error {
	checkpoints, err := db.checkpoints(ctx, scope)
	if err != nil {
		return err
	}
	var sets []wire.ChangeSet
	var pending []pendingRow
	var counts []TableCounts
	names := make([]string, 0)
	for _, c := range db.reg.Collections() {
		lt := db.tables[c.CollectionName()]
		cs, rows, err := db.readDirty(ctx, lt, scope)
		if err != nil {
			return err
		}
		pending = append(pending, rows...)
		if cs.Len() == 0 {
			continue
		}
		cs.Timestamp = checkpoints[c.CollectionName()]
		sets = append(sets, cs)
		names = append(names, c.CollectionName())
		counts = append(counts, TableCounts{Collection: c.CollectionName(),
			Created: len(cs.Created), Updated: len(cs.Updated), Deleted: len(cs.Deleted)})
	}
	if len(pending) == 0 {
		return nil
	}
	if len(sets) > 0 {
		w := &jwriter.Writer{}
		if err := wire.EncodeChangeSets(w, db.reg, sets); err != nil {
			return fmt.Errorf("ssync client: encode push: %w", err)
		}
		body, err := w.BuildBytes()
		if err != nil {
			return fmt.Errorf("ssync client: encode push: %w", err)
		}
		q := url.Values{"collections": names}
		q.Set("timestamp", commonCheckpoint(sets))
		key := uuid.NewString()
		respBody, err := ex.do(ctx, "push", http.MethodPost, q, body, key)
		if err != nil {
			return err
		}
		var cp string
		if err := json.Unmarshal(respBody, &cp); err != nil {
			return &TransportError{Op: "push", StatusCode: http.StatusOK,
				Message: "response is not a checkpoint string", Err: err}
		}
	}
	// Acknowledge: a row is clean only if it did not change since it was
	// read for this push.
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ssync client: acknowledge push: %w", err)
	}
	defer tx.Rollback()
	for _, p := range pending {
		var err error
		if p.sent {
			_, err = tx.ExecContext(ctx, p.table.ack, p.dirty, p.id)
		} else {
			_, err = tx.ExecContext(ctx, p.table.ackUnsent, p.id, p.dirty)
		}
		if err != nil {
			return fmt.Errorf("ssync client: acknowledge push: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: acknowledge push: %w", err)
	}
	res.Pushed = counts
	return nil
}

// commonCheckpoint is the push's timestamp parameter: the checkpoint the
// pushed collections share, or empty (the start) when they differ.
// Checkpoints are opaque, so they are compared only for equality.
func commonCheckpoint(sets []wire.ChangeSet) string {
	cp := sets[0].Timestamp
	for _, s := range sets[1:] {
		if s.Timestamp != cp {
			return ""
		}
	}
	return cp
}

// readDirty reads the table's changed rows in scope into a change set. Rows
// created and deleted before the server ever saw them are not sent but are
// returned for acknowledgement.
func (db *DB) readDirty(ctx context.Context, lt *localTable, scope string) (wire.ChangeSet, []pendingRow, error) {
	cs := wire.ChangeSet{Collection: lt.coll.CollectionName()}
	rows, err := db.sql.QueryContext(ctx, lt.dirty, scope)
	if err != nil {
		return cs, nil, fmt.Errorf("ssync client: read changes of %s: %w", cs.Collection, err)
	}
	defer rows.Close()
	var pending []pendingRow
	var targets []any
	for rows.Next() {
		row := lt.coll.NewRow()
		rec := lt.coll.RecordOf(row)
		var dirty int64
		var known bool
		targets = lt.coll.AppendTargets(row, metaTargets(rec, targets[:0]))
		targets = append(targets, &dirty, &known)
		if err := rows.Scan(targets...); err != nil {
			return cs, nil, fmt.Errorf("ssync client: read changes of %s: %w", cs.Collection, err)
		}
		p := pendingRow{table: lt, id: rec.ID.String(), dirty: dirty, sent: true}
		switch {
		case rec.DeletedAt != nil && known:
			cs.Deleted = append(cs.Deleted, rec.ID)
		case rec.DeletedAt != nil:
			p.sent = false // never reached the server: nothing to tell it
		case known:
			cs.Updated = append(cs.Updated, row)
		default:
			cs.Created = append(cs.Created, row)
		}
		pending = append(pending, p)
	}
	if err := rows.Err(); err != nil {
		return cs, nil, fmt.Errorf("ssync client: read changes of %s: %w", cs.Collection, err)
	}
	return cs, pending, nil
}

// checkpointKey is where the checkpoint of one collection is kept for one
// scope (active user and linked users): what a device has pulled for one
// user says nothing about another user's rows.
func checkpointKey(scope, collection string) string { return "checkpoint:" + collection + ":" + scope }

func (db *DB) checkpoints(ctx context.Context, scope string) (map[string]string, error) {
	meta, err := readMeta(ctx, db.sql)
	if err != nil {
		return nil, fmt.Errorf("ssync client: %w", err)
	}
	cps := make(map[string]string)
	for _, name := range db.reg.Names() {
		cps[name] = meta[checkpointKey(scope, name)]
	}
	return cps, nil
}

// Checkpoint returns the server checkpoint stored for collection in the
// active scope; empty means the device has pulled nothing yet.
func (db *DB) Checkpoint(ctx context.Context, collection string) (string, error) {
	_, scope, _, err := db.activeScope()
	if err != nil {
		return "", err
	}
	cps, err := db.checkpoints(ctx, scope)
	if err != nil {
		return "", err
	}
	if _, err := db.reg.Lookup(collection); err != nil {
		return "", err
	}
	return cps[collection], nil
}

func (db *DB) pull(ctx context.Context, ex *exchange, scope string, res *Result) error {
	checkpoints, err := db.checkpoints(ctx, scope)
	if err != nil {
		return err
	}
	// Collections at the same checkpoint are pulled together.
	groups := map[string][]string{}
	var order []string
	for _, name := range db.reg.Names() {
		cp := checkpoints[name]
		if _, ok := groups[cp]; !ok {
			order = append(order, cp)
		}
		groups[cp] = append(groups[cp], name)
	}
	var all []wire.ChangeSet
	for _, cp := range order {
		q := url.Values{"collections": groups[cp]}
		q.Set("timestamp", cp)
		body, err := ex.do(ctx, "pull", http.MethodGet, q, nil, "")
		if err != nil {
			return err
		}
		sets, err := wire.DecodeChangeSets(body, db.reg, ssync.DecodeOptions{})
		if err != nil {
			return &TransportError{Op: "pull", StatusCode: http.StatusOK, Message: err.Error(), Err: err}
		}
		for _, s := range sets {
			if !slices.Contains(groups[cp], s.Collection) {
				return &TransportError{Op: "pull", StatusCode: http.StatusOK,
					Message: fmt.Sprintf("server sent collection %q, which was not asked for", s.Collection)}
			}
			if s.Timestamp == "" {
				return &TransportError{Op: "pull", StatusCode: http.StatusOK,
					Message: fmt.Sprintf("server sent collection %q without a checkpoint", s.Collection)}
			}
		}
		all = append(all, sets...)
	}
	return db.apply(ctx, scope, all, res)
}

// apply writes pulled change sets and their checkpoints in one transaction:
// creates and updates parents first, deletes children first. A row with an
// unpushed local change keeps it (it is pushed next time), except that a
// delete always wins.
func (db *DB) apply(ctx context.Context, scope string, sets []wire.ChangeSet, res *Result) error {
	byName := make(map[string]*wire.ChangeSet, len(sets))
	for i := range sets {
		byName[sets[i].Collection] = &sets[i]
	}
	names := db.reg.Names()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ssync client: apply pull: %w", err)
	}
	defer tx.Rollback()
	counts := make(map[string]*TableCounts)
	var args []any
	for _, name := range names {
		cs := byName[name]
		if cs == nil {
			continue
		}
		lt := db.tables[name]
		stmt, err := tx.PrepareContext(ctx, lt.apply)
		if err != nil {
			return fmt.Errorf("ssync client: apply %s: %w", name, err)
		}
		tc := &TableCounts{Collection: name}
		counts[name] = tc
		for part, rows := range [][]any{cs.Created, cs.Updated} {
			for _, row := range rows {
				rec := lt.coll.RecordOf(row)
				args = lt.coll.AppendValues(row, metaValues(rec, args[:0]))
				r, err := stmt.ExecContext(ctx, args...)
				if err != nil {
					stmt.Close()
					return fmt.Errorf("ssync client: apply %s %s: %w", name, rec.ID, err)
				}
				if n, _ := r.RowsAffected(); n == 0 {
					res.Skipped++
					continue
				}
				if part == 0 {
					tc.Created++
				} else {
					tc.Updated++
				}
			}
		}
		stmt.Close()
	}
	now := db.timestamp()
	for i := len(names) - 1; i >= 0; i-- {
		cs := byName[names[i]]
		if cs == nil || len(cs.Deleted) == 0 {
			continue
		}
		lt := db.tables[names[i]]
		for _, id := range cs.Deleted {
			r, err := tx.ExecContext(ctx, lt.applyDel, now, id.String())
			if err != nil {
				return fmt.Errorf("ssync client: apply delete %s %s: %w", names[i], id, err)
			}
			if n, _ := r.RowsAffected(); n > 0 {
				counts[names[i]].Deleted++
			}
		}
	}
	for _, cs := range sets {
		if err := writeMeta(ctx, tx, checkpointKey(scope, cs.Collection), cs.Timestamp); err != nil {
			return fmt.Errorf("ssync client: %w", err)
		}
		res.Checkpoint = cs.Timestamp
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ssync client: apply pull: %w", err)
	}
	for _, name := range names {
		if tc := counts[name]; tc != nil && tc.Created+tc.Updated+tc.Deleted > 0 {
			res.Pulled = append(res.Pulled, *tc)
		}
	}
	return nil
}

// exchange sends requests to one server with retries.
type exchange struct {
	device   string
	base     *url.URL
	client   *http.Client
	decorate func(*http.Request) error
	attempts int
	delay    time.Duration
}

func newExchange(opts SyncOptions, device string) (*exchange, error) {
	if opts.ServerURL == "" {
		return nil, errors.New("ssync client: SyncOptions.ServerURL is empty")
	}
	base, err := url.Parse(strings.TrimRight(opts.ServerURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("ssync client: SyncOptions.ServerURL %q is not an http(s) URL", opts.ServerURL)
	}
	bp := opts.BasePath
	if bp == "" {
		bp = DefaultBasePath
	}
	base.Path += "/" + strings.Trim(bp, "/")
	ex := &exchange{device: device, base: base, client: opts.HTTPClient, decorate: opts.Decorate,
		attempts: opts.MaxAttempts, delay: opts.RetryDelay}
	if ex.client == nil {
		ex.client = &http.Client{Timeout: 2 * time.Minute}
	}
	if ex.attempts <= 0 {
		ex.attempts = 4
	}
	if ex.delay <= 0 {
		ex.delay = 250 * time.Millisecond
	}
	return ex, nil
}

// do sends one request, retrying with the same body and idempotency key when
// the failure may pass, and returns the body of a 2xx response.
func (ex *exchange) do(ctx context.Context, op, method string, q url.Values, body []byte, idemKey string) ([]byte, error) {
	u := *ex.base
	u.Path += "/" + op
	u.RawQuery = q.Encode()
	delay := ex.delay
	var last *TransportError
	for attempt := 1; ; attempt++ {
		out, terr := ex.once(ctx, op, method, u.String(), body, idemKey)
		if terr == nil {
			return out, nil
		}
		last = terr
		if !terr.retryable() || attempt >= ex.attempts || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, &TransportError{Op: op, Err: ctx.Err()}
			}
			return nil, last
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &TransportError{Op: op, Err: ctx.Err()}
		case <-t.C:
		}
		delay *= 2
	}
}

// maxResponse bounds what one response may hold.
const maxResponse = 1 << 30

func (ex *exchange) once(ctx context.Context, op, method, target string, body []byte, idemKey string) ([]byte, *TransportError) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	req.Header.Set(HeaderDevice, ex.device)
	if ex.decorate != nil {
		if err := ex.decorate(req); err != nil {
			return nil, &TransportError{Op: op, Err: fmt.Errorf("decorate request: %w", err)}
		}
	}
	resp, err := ex.client.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &TransportError{Op: op, Err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	te := &TransportError{Op: op, StatusCode: resp.StatusCode}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil {
		te.Code, te.Message = eb.Error.Code, eb.Error.Message
	}
	return nil, te
}
