// Package watermelon serves WatermelonDB's sync protocol (the pullChanges
// and pushChanges of @nozbe/watermelondb/sync) over an ssync store, beside
// the ssync API and with the same Authenticator: WatermelonDB apps and
// ssync devices of one user share the same rows, scopes, limits, hooks and
// resolver.
//
// Endpoints, relative to where the Handler is mounted:
//
//	GET  pull?last_pulled_at=<n>&schema_version=<n>&migration=<json>
//	     → {"changes": {table: {"created": [...], "updated": [...], "deleted": [ids]}}, "timestamp": <n>}
//	POST push?last_pulled_at=<n>   body {table: {"created": [...], "updated": [...], "deleted": [ids]}}
//	     → {} , or 409 {"code":"conflict",...} when a pushed record changed on
//	     the server since last_pulled_at: nothing is written, and the client
//	     pulls and pushes again (synchronize() does this when retried).
//
// Tables are the registry's collection names; a record's columns are the
// collections' column names (Column.Name, as on ssync devices), its id the
// row's UUID as a string (apps configure WatermelonDB's id generator to
// make UUIDs), created_at and updated_at the record times in milliseconds.
// Time columns are milliseconds since the epoch, JSON columns their JSON
// text in a string column; the other kinds are as on the ssync wire.
//
// The timestamp is not a clock: it is the store's checkpoint version plus
// one (WatermelonDB wants a non-zero number). A pull answers everything up
// to the proven horizon of one snapshot, so pulling again from its
// timestamp never skips a row; rows may come again (a client's own pushes
// come back on its next pull, which WatermelonDB applies as the same
// values, unless the app sends a per-install id in the X-Ssync-Device
// header, as ssync devices do).
//
// Limits: Config.UserLimit (the ssync server's MaxUserRequests) answers 429
// too_many_requests with Retry-After. WatermelonDB's pull has no paging,
// and its timestamp cannot say a position inside a write, so an answer
// that would hold more than Config.MaxPullRows rows or Config.MaxPullBytes
// bytes of records ends after the last whole write within the caps (a
// single larger write comes whole) and says
// "more": true (and the header X-Ssync-More). synchronize() hands the
// answer's fields but changes to onDidPullChanges; an app syncs again
// while it says more:
//
//	let more = true
//	while (more) {
//	  more = false
//	  await synchronize({ ..., onDidPullChanges: (r) => { more = !!r.more } })
//	}
package watermelon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Query parameters of the two endpoints.
const (
	ParamLastPulledAt  = "last_pulled_at"
	ParamSchemaVersion = "schema_version"
	ParamMigration     = "migration"
)

// maxTimestamp is the largest integer a JavaScript number holds exactly.
const maxTimestamp = 1<<53 - 1

// Config configures a Handler.
type Config struct {
	// Store keeps the data. Required.
	Store *store.Store
	// Authenticator says who each request acts for, as for the ssync API.
	// Required.
	Authenticator server.Authenticator
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes caps a push body; larger ones get 413. 0 means 32 MiB.
	MaxBodyBytes int64
	// MaxPushRows caps the records and ids of one push; more get 413. 0
	// means 100,000.
	MaxPushRows int
	// MaxPullRows caps the rows of one pull answer; 0 means 100,000.
	// WatermelonDB's timestamp cannot say a position inside a write, so an
	// answer that would pass it ends after the last whole write within it
	// (a single write larger than the cap comes whole), with "more": true:
	// the app syncs again, as the package documentation shows.
	MaxPullRows int
	// MaxPullBytes caps the bytes of one pull answer's records the same
	// way; 0 means 64 MiB.
	MaxPullBytes int
	// UserLimit caps the requests each user has in progress at once: more
	// get 429 too_many_requests with Retry-After. Pass the ssync server's
	// (server.Server.UserLimit, its Config.MaxUserRequests) so that a
	// user's ssync devices and WatermelonDB apps count together. nil means
	// no limit.
	UserLimit *server.UserLimit
	// Now is the clock for records pushed without created_at or
	// updated_at; nil means time.Now.
	Now func() time.Time
}

// Handler serves WatermelonDB's pull and push.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the handler of cfg. Mount it under a prefix with
// http.StripPrefix, e.g. mux.Handle("/watermelon/", http.StripPrefix("/watermelon", h)).
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Authenticator == nil {
		return nil, errors.New("watermelon: Config.Store and Config.Authenticator are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = server.DefaultMaxBodyBytes
	}
	if cfg.MaxPushRows <= 0 {
		cfg.MaxPushRows = server.DefaultMaxPushRows
	}
	if cfg.MaxPullRows <= 0 {
		cfg.MaxPullRows = 100_000
	}
	if cfg.MaxPullBytes <= 0 {
		cfg.MaxPullBytes = 64 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /pull", h.pull)
	h.mux.HandleFunc("POST /push", h.push)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// tableChanges is one table's changes, as WatermelonDB sends and takes them.
type tableChanges struct {
	Created []json.RawMessage `json:"created"`
	Updated []json.RawMessage `json:"updated"`
	Deleted []string          `json:"deleted"`
}

// Migration is WatermelonDB's migration parameter: what was added to the
// app's schema since the version it last synced with.
type Migration struct {
	From    int      `json:"from"`
	Tables  []string `json:"tables"`
	Columns []struct {
		Table   string   `json:"table"`
		Columns []string `json:"columns"`
	} `json:"columns"`
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code wire.Code, msg string) {
	h.cfg.Logger.InfoContext(r.Context(), "watermelon: request refused", "path", r.URL.Path, "code", code, "error", msg)
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.WriteHeader(code.Status())
	w.Write(wire.EncodeErrorBody(code, msg))
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "watermelon: "+op, "error", err)
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.WriteHeader(http.StatusInternalServerError)
	w.Write(wire.EncodeErrorBody(wire.CodeInternal, op+" failed"))
}

// authenticate says who r acts for and counts r against the user's
// requests in progress (Config.UserLimit); the caller calls release when
// the request ends. Otherwise it answers w and returns false.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (id store.Identity, release func(), ok bool) {
	id, err := h.cfg.Authenticator.Authenticate(r)
	switch {
	case errors.Is(err, server.ErrUnauthenticated):
		h.fail(w, r, wire.CodeUnauthenticated, err.Error())
		return id, nil, false
	case err != nil:
		h.internal(w, r, "authenticate", err)
		return id, nil, false
	case id.SyncID == "":
		h.fail(w, r, wire.CodeUnauthenticated, "no user")
		return id, nil, false
	}
	release, err = h.cfg.UserLimit.Acquire(id.SyncID)
	if err != nil {
		w.Header().Set("Retry-After", server.RetryAfterBusy)
		h.fail(w, r, wire.CodeTooManyRequests, err.Error())
		return id, nil, false
	}
	return id, release, true
}

// since reads last_pulled_at: absent, empty or null is the first sync;
// otherwise a timestamp this handler answered.
func since(r *http.Request, required bool) (store.Checkpoint, error) {
	s := r.URL.Query().Get(ParamLastPulledAt)
	if s == "" || s == "null" || s == "undefined" {
		if required {
			return store.Checkpoint{}, fmt.Errorf("%s is required: the timestamp of the last pull", ParamLastPulledAt)
		}
		return store.Checkpoint{}, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > maxTimestamp {
		return store.Checkpoint{}, fmt.Errorf("%s %q is not a timestamp this server answered", ParamLastPulledAt, echo.Clip(s))
	}
	return store.Checkpoint{Version: n - 1}, nil
}

// device is the optional X-Ssync-Device header: an app that sends a
// per-install id does not get its own writes back on its next pull.
func device(r *http.Request) string {
	if d := r.Header.Get(wire.HeaderDevice); len(d) <= wire.MaxDeviceID {
		return d
	}
	return ""
}

// timestamp is the WatermelonDB timestamp of a whole-snapshot checkpoint.
func timestamp(cp string) (uint64, error) {
	c, err := store.ParseCheckpoint(cp)
	if err != nil {
		return 0, err
	}
	if c.After != uuid.Nil {
		return 0, fmt.Errorf("checkpoint %s inside a version", cp)
	}
	if c.Version+1 > maxTimestamp {
		return 0, fmt.Errorf("checkpoint %s beyond a JavaScript number", cp)
	}
	return c.Version + 1, nil
}

func (h *Handler) pull(w http.ResponseWriter, r *http.Request) {
	id, release, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	defer release()
	from, err := since(r, false)
	if err != nil {
		h.fail(w, r, wire.CodeInvalidCheckpoint, err.Error())
		return
	}
	if v := r.URL.Query().Get(ParamSchemaVersion); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			h.fail(w, r, wire.CodeInvalidParameters, fmt.Sprintf("%s %q is not a positive integer", ParamSchemaVersion, echo.Clip(v)))
			return
		}
	}
	reg := h.cfg.Store.Registry()
	full, err := migrated(reg, r.URL.Query().Get(ParamMigration), from)
	if err != nil {
		h.fail(w, r, wire.CodeInvalidParameters, err.Error())
		return
	}
	// Tables added or widened since the app's schema version come whole (a
	// pull from the start); the rest from last_pulled_at.
	parts := []pullPart{{full, store.Checkpoint{}}, {rest(reg.Names(), full), from}}
	ans, err := h.pullBounded(r.Context(), id, device(r), parts)
	if errors.Is(err, store.ErrResyncRequired) {
		h.fail(w, r, wire.CodeResyncRequired, err.Error())
		return
	} else if err != nil {
		h.internal(w, r, "pull", err)
		return
	}
	if ans.More {
		w.Header().Set(wire.HeaderMore, "true")
	}
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.Write(ans.appendJSON(nil))
}

// pullPart is a pull of some collections from a checkpoint.
type pullPart struct {
	names []string
	since store.Checkpoint
}

// pullAnswer is the body of a pull.
type pullAnswer struct {
	Changes   map[string]*pulledTable
	Timestamp uint64
	// More says that the answer was bounded by MaxPullRows: the app syncs
	// again for the rest. WatermelonDB hands it to onDidPullChanges.
	More bool
}

// pulledTable is one table's changes in a pull answer: its created and
// updated raw records, each list as JSON array elements.
type pulledTable struct {
	created, updated []byte
	deleted          []uuid.UUID
}

// appendJSON appends the answer's JSON to dst: {"changes": {table:
// {"created": [...], "updated": [...], "deleted": [ids]}}, "timestamp": n}
// with "more": true when it is bounded. Tables go in name order.
func (a *pullAnswer) appendJSON(dst []byte) []byte {
	names := make([]string, 0, len(a.Changes))
	for name := range a.Changes {
		names = append(names, name)
	}
	slices.Sort(names)
	dst = append(dst, `{"changes":{`...)
	for i, name := range names {
		tc := a.Changes[name]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, name)
		dst = append(dst, `:{"created":[`...)
		dst = append(dst, tc.created...)
		dst = append(dst, `],"updated":[`...)
		dst = append(dst, tc.updated...)
		dst = append(dst, `],"deleted":[`...)
		for j, id := range tc.deleted {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = append(dst, id.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, "]}"...)
	}
	dst = append(dst, `},"timestamp":`...)
	dst = strconv.AppendUint(dst, a.Timestamp, 10)
	if a.More {
		dst = append(dst, `,"more":true`...)
	}
	return append(dst, "}\n"...)
}

// errAnswerFull stops a pull whose answer passed MaxPullBytes.
var errAnswerFull = errors.New("watermelon: pull answer full")

// pullBatchRows is the rows of a batch that a pull reads before it
// counts the answer's bytes.
const pullBatchRows = 1000

// pullBounded pulls parts into one answer of at most MaxPullRows rows read
// and MaxPullBytes bytes of records (more only when a single write holds
// more), whose timestamp is the lowest of the parts' checkpoints, so that
// pulling from it never skips a row. A part cut short inside version v
// ends all parts at v - 1 instead and pulls again; an answer past
// MaxPullBytes pulls again with fewer rows. Each retry ends lower or
// reads fewer rows, so it ends.
func (h *Handler) pullBounded(ctx context.Context, id store.Identity, device string, parts []pullPart) (pullAnswer, error) {
	var until uint64 // 0: the snapshot's horizon
	rowCap := h.cfg.MaxPullRows
	bounded := true
	for {
		ans := pullAnswer{Changes: map[string]*pulledTable{}, More: until > 0}
		final := map[string]string{} // collection → its last checkpoint
		rows, size := 0, 0
		retry := false
		for _, p := range parts {
			if len(p.names) == 0 {
				continue
			}
			req := store.PullRequest{Identity: id, Device: device, Collections: p.names, Since: p.since, Until: until}
			if bounded {
				req.Limit = max(rowCap+1-rows, 1)
				req.BatchSize = min(req.Limit, pullBatchRows)
			}
			var last string
			err := h.cfg.Store.PullStream(ctx, req, func(cs *wire.ChangeSet) error {
				room := h.cfg.MaxPullBytes - size
				n, b, fit, err := ans.add(h.cfg.Store.Registry(), cs, room)
				if err != nil {
					return err
				}
				// Past the bytes: pull again with fewer rows, which a row
				// cap then cuts at a version. (The row read past the cap,
				// which only shows where to cut, may pass them.)
				if bounded && b > room && rows+fit < rowCap {
					rowCap = rows + fit
					return errAnswerFull
				}
				rows, size, last = rows+n, size+b, cs.Checkpoint
				final[cs.Collection] = cs.Checkpoint
				return nil
			})
			if errors.Is(err, errAnswerFull) {
				retry = true
				break
			} else if errors.Is(err, store.ErrPullCut) {
				c, perr := store.ParseCheckpoint(last)
				if perr != nil {
					return pullAnswer{}, perr
				}
				if cut := max(c.Version, p.since.Version+1); cut > p.since.Version+1 {
					until = cut - 1
				} else {
					// One write past the caps: it comes whole.
					until, bounded = cut, false
				}
				retry = true
				break
			} else if err != nil {
				return pullAnswer{}, err
			}
		}
		if retry {
			continue
		}
		for _, cp := range final {
			t, err := timestamp(cp)
			if err != nil {
				return pullAnswer{}, err
			}
			if ans.Timestamp == 0 || t < ans.Timestamp {
				ans.Timestamp = t
			}
		}
		if ans.Timestamp == 0 {
			cur, err := h.cfg.Store.Current(ctx)
			if err != nil {
				return pullAnswer{}, err
			}
			ans.Timestamp = cur.Version + 1
			if until > 0 && until < cur.Version {
				ans.Timestamp = until + 1
			}
		}
		return ans, nil
	}
}

// add adds a pulled change set to the answer as WatermelonDB raw records
// and returns the rows and bytes added, and how many of those rows fit in
// room bytes (in the set's order: created, updated, deleted).
func (a *pullAnswer) add(reg *ssync.Registry, cs *wire.ChangeSet, room int) (rows, bytes, fit int, err error) {
	coll, err := reg.Lookup(cs.Collection)
	if err != nil {
		return 0, 0, 0, err
	}
	tc := a.Changes[cs.Collection]
	if tc == nil {
		tc = &pulledTable{}
		a.Changes[cs.Collection] = tc
	}
	rw := newRawWriter(coll)
	for _, part := range []struct {
		rows []any
		dst  *[]byte
	}{{cs.Created, &tc.created}, {cs.Updated, &tc.updated}} {
		for _, row := range part.rows {
			before := len(*part.dst)
			if before > 0 {
				*part.dst = append(*part.dst, ',')
			}
			if *part.dst, err = rw.appendRow(*part.dst, row); err != nil {
				return 0, 0, 0, fmt.Errorf("%s: %w", cs.Collection, err)
			}
			if bytes += len(*part.dst) - before; bytes <= room {
				fit++
			}
		}
	}
	for range cs.Deleted {
		if bytes += 39; bytes <= room { // "<uuid>",
			fit++
		}
	}
	tc.deleted = append(tc.deleted, cs.Deleted...)
	return len(cs.Created) + len(cs.Updated) + len(cs.Deleted), bytes, fit, nil
}

// migrated returns the collections a migration sync pulls whole: the
// tables and the tables with columns added since the app's last synced
// schema version. A migration is only meaningful with last_pulled_at.
func migrated(reg *ssync.Registry, param string, from store.Checkpoint) ([]string, error) {
	if param == "" || param == "null" || from.Version == 0 {
		return nil, nil
	}
	var m Migration
	if err := json.Unmarshal([]byte(param), &m); err != nil {
		return nil, fmt.Errorf("%s is not WatermelonDB's migration object: %v", ParamMigration, err)
	}
	want := map[string]bool{}
	for _, t := range m.Tables {
		want[t] = true
	}
	for _, c := range m.Columns {
		want[c.Table] = true
	}
	var out []string
	for t := range want {
		if _, err := reg.Lookup(t); err != nil {
			return nil, fmt.Errorf("%s names table %q, which the server does not have", ParamMigration, echo.Clip(t))
		}
	}
	for _, name := range reg.Names() {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

func rest(all, without []string) []string {
	skip := make(map[string]bool, len(without))
	for _, n := range without {
		skip[n] = true
	}
	var out []string
	for _, n := range all {
		if !skip[n] {
			out = append(out, n)
		}
	}
	return out
}

func (h *Handler) push(w http.ResponseWriter, r *http.Request) {
	id, release, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	defer release()
	from, err := since(r, true)
	if err != nil {
		h.fail(w, r, wire.CodeInvalidCheckpoint, err.Error())
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, wire.CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", h.cfg.MaxBodyBytes))
		} else {
			h.fail(w, r, wire.CodeUnreadableBody, "could not read the whole request body")
		}
		return
	}
	sets, n, err := h.changeSets(body, from)
	if err != nil {
		code := wire.CodeInvalidChangeSet
		if errors.Is(err, ssync.ErrUnknownCollection) {
			code = wire.CodeUnknownCollection
		}
		h.fail(w, r, code, err.Error())
		return
	}
	if n > h.cfg.MaxPushRows {
		h.fail(w, r, wire.CodeTooManyRows, fmt.Sprintf("push holds %d records, more than the limit of %d", n, h.cfg.MaxPushRows))
		return
	}
	_, err = h.cfg.Store.Push(r.Context(), store.PushRequest{Identity: id, Device: device(r), Since: from, Sets: sets, RefuseChanged: true,
		Key: r.Header.Get(wire.HeaderIdempotencyKey)})
	if err != nil {
		h.pushFailed(w, r, err)
		return
	}
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.Write([]byte("{}\n"))
	h.cfg.Logger.InfoContext(r.Context(), "watermelon: push", "user", id.SyncID, "records", n)
}

func (h *Handler) pushFailed(w http.ResponseWriter, r *http.Request, err error) {
	var rowErr *store.RowError
	switch {
	case errors.Is(err, store.ErrIdempotencyMismatch):
		h.fail(w, r, wire.CodeIdempotencyKeyReused, err.Error())
	case errors.Is(err, store.ErrForbidden) && errors.As(err, &rowErr):
		h.fail(w, r, wire.CodeForbidden, rowErr.Error())
	case errors.Is(err, store.ErrConflict) && errors.As(err, &rowErr):
		h.fail(w, r, wire.CodeConflict, rowErr.Error())
	case errors.Is(err, store.ErrDanglingReference):
		h.fail(w, r, wire.CodeDanglingReference, err.Error())
	case errors.As(err, &rowErr):
		if cause := store.RefusalCause(err); cause != nil {
			h.cfg.Logger.WarnContext(r.Context(), "watermelon: the store refused a pushed record",
				"collection", rowErr.Collection, "id", rowErr.ID, "error", cause)
		}
		h.fail(w, r, wire.CodeRowRefused, rowErr.Error())
	default:
		h.internal(w, r, "push", err)
	}
}

// changeSets maps a push body onto ssync change sets, decoded by the
// collections' strict decoders, and returns them with their record count.
func (h *Handler) changeSets(body []byte, from store.Checkpoint) ([]wire.ChangeSet, int, error) {
	var tables map[string]tableChanges
	if err := json.Unmarshal(body, &tables); err != nil {
		return nil, 0, fmt.Errorf("body is not {table: {created, updated, deleted}}: %v", err)
	}
	reg := h.cfg.Store.Registry()
	now := h.cfg.Now()
	type set struct {
		Collection string `json:"collection"`
		Timestamp  string `json:"timestamp"`
		Changes    struct {
			Created []json.RawMessage `json:"created"`
			Updated []json.RawMessage `json:"updated"`
			Deleted []string          `json:"deleted"`
		} `json:"changes"`
	}
	out := []set{}
	n := 0
	for _, name := range reg.Names() {
		tc, ok := tables[name]
		if !ok {
			continue
		}
		delete(tables, name)
		coll, _ := reg.Lookup(name)
		s := set{Collection: name, Timestamp: from.String()}
		s.Changes.Created, s.Changes.Updated, s.Changes.Deleted = []json.RawMessage{}, []json.RawMessage{}, []string{}
		for _, part := range []struct {
			in  []json.RawMessage
			dst *[]json.RawMessage
		}{{tc.Created, &s.Changes.Created}, {tc.Updated, &s.Changes.Updated}} {
			for i, raw := range part.in {
				obj, err := fromRaw(coll, raw, now)
				if err != nil {
					return nil, 0, fmt.Errorf("table %q, record %d: %w", name, i, err)
				}
				*part.dst = append(*part.dst, obj)
			}
		}
		s.Changes.Deleted = append(s.Changes.Deleted, tc.Deleted...)
		n += len(tc.Created) + len(tc.Updated) + len(tc.Deleted)
		out = append(out, s)
	}
	for name := range tables {
		return nil, 0, fmt.Errorf("%w %q", ssync.ErrUnknownCollection, echo.Clip(name))
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, 0, err
	}
	sets, err := wire.DecodeChangeSets(data, reg, ssync.DecodeOptions{TrackAbsent: true, Strict: true, RefuseNUL: true})
	if err != nil {
		return nil, 0, err
	}
	return sets, n, nil
}
