// Package server is the central side of ssync: an HTTP API (handshake, pull,
// streamed pull and push of change sets) over a SQL store that keeps the
// synchronized tables of one registry on SQLite, PostgreSQL or MariaDB/MySQL.
// Mount it on any http.ServeMux:
//
//	srv, err := server.New(server.Config{Store: store, Authenticator: auth})
//	srv.Mount(mux, "") // under /api/sync
//
// docs/protocol.md describes the wire protocol in full.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// DefaultBasePath is where Mount puts the API when given an empty base.
const DefaultBasePath = "/api/sync"

// HeaderDevice carries the requesting device's id. It only decides which
// rows a pull leaves out because that device has them already.
const HeaderDevice = "X-Ssync-Device"

// Config configures a Server.
type Config struct {
	// Store keeps the data. Required.
	Store *Store
	// Authenticator says who each request acts for. Required.
	Authenticator Authenticator
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// SchemaVersion is the schema version the server speaks, answered in
	// the handshake.
	SchemaVersion int
	// OnHandshake may refuse a client (e.g. an app version whose schema is
	// too old): a returned error refuses it with 409 and the error's text.
	OnHandshake func(ctx context.Context, h Handshake) error
	// ParameterDecoder turns a pull's query into custom parameters handed
	// to the FilterPull hooks (SSync's SSyncParameter); an error refuses
	// the pull with 400 and its text.
	ParameterDecoder func(q url.Values) (any, error)
	// MaxBodyBytes caps a push body; larger ones get 413. 0 means 32 MiB.
	MaxBodyBytes int64
	// MaxPushRows caps the rows and ids of one push; more get 413. 0 means
	// 100,000.
	MaxPushRows int
	// StreamBatchRows is the default number of rows per pull-stream line; 0
	// means 1,000. Clients may ask for fewer or more, up to MaxStreamBatch.
	StreamBatchRows int
	// MaxStreamBatch caps the rows of one pull-stream line; 0 means 10,000.
	MaxStreamBatch int
	// MaxBlobBytes caps the size of one attachment's content; larger
	// uploads get 413. 0 means DefaultMaxBlobBytes (1 GiB).
	MaxBlobBytes int64
}

// Handshake is what a client says before syncing.
type Handshake struct {
	// Identity is who the client acts for.
	Identity Identity
	// Device is the client's device id, if it sent one.
	Device string
	// SchemaVersion is the client's schema version.
	SchemaVersion int
	// Info is whatever custom information the client sent (raw JSON), or
	// nil.
	Info json.RawMessage
}

// Server serves the sync API.
type Server struct {
	cfg    Config
	store  *Store
	logger *slog.Logger
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("ssync server: Config.Store is nil")
	}
	if cfg.Authenticator == nil {
		return nil, errors.New("ssync server: Config.Authenticator is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.MaxPushRows <= 0 {
		cfg.MaxPushRows = 100_000
	}
	if cfg.MaxStreamBatch <= 0 {
		cfg.MaxStreamBatch = 10_000
	}
	if cfg.StreamBatchRows <= 0 {
		cfg.StreamBatchRows = 1000
	}
	if cfg.StreamBatchRows > cfg.MaxStreamBatch {
		cfg.StreamBatchRows = cfg.MaxStreamBatch
	}
	return &Server{cfg: cfg, store: cfg.Store, logger: cfg.Logger}, nil
}

// Mount registers the API on mux under base (DefaultBasePath when empty):
// POST {base}/handshake, GET {base}/pull, GET {base}/pull-stream,
// POST {base}/push, GET, HEAD and PUT {base}/blobs/{hash} (attachment
// content, see WithBlobStore), and GET /healthz.
func (s *Server) Mount(mux *http.ServeMux, base string) {
	if base == "" {
		base = DefaultBasePath
	}
	base = "/" + strings.Trim(base, "/")
	mux.HandleFunc("POST "+base+"/handshake", s.handleHandshake)
	mux.HandleFunc("GET "+base+"/pull", s.handlePull)
	mux.HandleFunc("GET "+base+"/pull-stream", s.handlePullStream)
	mux.HandleFunc("POST "+base+"/push", s.handlePush)
	s.mountBlobs(mux, base)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.db.PingContext(r.Context()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "store_unavailable", "store unreachable")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
}

// apiError is an error answer: status, machine code, human message.
type apiError struct {
	status  int
	code    string
	message string
}

func errorBody(code, message string) []byte {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return body
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(errorBody(code, message))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e apiError) {
	level := slog.LevelInfo
	if e.status >= 500 {
		level = slog.LevelError
	}
	s.logger.Log(r.Context(), level, "ssync: request refused",
		"method", r.Method, "path", r.URL.Path, "status", e.status, "code", e.code, "error", e.message)
	writeError(w, e.status, e.code, e.message)
}

// internal answers 500 without details and logs the cause.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.logger.ErrorContext(r.Context(), "ssync: "+op, "error", err)
	writeError(w, http.StatusInternalServerError, "internal", op+" failed")
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	id, err := s.cfg.Authenticator.Authenticate(r)
	if err != nil || id.SyncID == "" {
		msg := "missing or invalid credentials"
		if err != nil {
			msg = err.Error()
		}
		s.fail(w, r, apiError{http.StatusUnauthorized, "unauthenticated", msg})
		return Identity{}, false
	}
	return id, true
}

// device returns the request's device id, or empty when it is missing or
// implausible.
func device(r *http.Request) string {
	d := r.Header.Get(HeaderDevice)
	if len(d) > 64 {
		return ""
	}
	return d
}

// collections reads the collections parameter (repeated, or comma
// separated); none means all. The result is in registry order.
func (s *Server) collections(r *http.Request) ([]string, *apiError) {
	var asked []string
	for _, v := range r.URL.Query()["collections"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				asked = append(asked, name)
			}
		}
	}
	reg := s.store.reg
	if len(asked) == 0 {
		return reg.Names(), nil
	}
	want := make(map[string]bool, len(asked))
	for _, name := range asked {
		if _, err := reg.Lookup(name); err != nil {
			return nil, &apiError{http.StatusBadRequest, "unknown_collection",
				fmt.Sprintf("unknown collection %q (known: %s)", truncate(name), strings.Join(reg.Names(), ", "))}
		}
		want[name] = true
	}
	var out []string
	for _, name := range reg.Names() {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

func (s *Server) handleHandshake(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.fail(w, r, apiError{http.StatusRequestEntityTooLarge, "body_too_large", "handshake body exceeds 1 MiB"})
		return
	}
	var in struct {
		SchemaVersion *int            `json:"schemaVersion"`
		Info          json.RawMessage `json:"info"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.SchemaVersion == nil {
		msg := `want {"schemaVersion": <int>, "info": <any JSON>}`
		if err != nil {
			msg = "malformed handshake: " + err.Error() + "; " + msg
		}
		s.fail(w, r, apiError{http.StatusBadRequest, "invalid_handshake", msg})
		return
	}
	h := Handshake{Identity: id, Device: device(r), SchemaVersion: *in.SchemaVersion, Info: in.Info}
	if s.cfg.OnHandshake != nil {
		if err := s.cfg.OnHandshake(r.Context(), h); err != nil {
			s.fail(w, r, apiError{http.StatusConflict, "handshake_refused", err.Error()})
			return
		}
	}
	cp, err := s.store.counterValue(r.Context(), s.store.db, "global")
	if err != nil {
		s.internal(w, r, "handshake", err)
		return
	}
	out, _ := json.Marshal(map[string]any{
		"schemaVersion": s.cfg.SchemaVersion,
		"collections":   s.store.reg.Names(),
		"checkpoint":    Checkpoint(cp),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// pullRequest reads what pull and pull-stream share.
func (s *Server) pullRequest(w http.ResponseWriter, r *http.Request) (PullRequest, bool) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return PullRequest{}, false
	}
	names, aerr := s.collections(r)
	if aerr != nil {
		s.fail(w, r, *aerr)
		return PullRequest{}, false
	}
	since, err := ParseCheckpoint(r.URL.Query().Get("timestamp"))
	if err != nil {
		s.fail(w, r, apiError{http.StatusBadRequest, "invalid_checkpoint", err.Error()})
		return PullRequest{}, false
	}
	req := PullRequest{Identity: id, Device: device(r), Collections: names, Since: since}
	if s.cfg.ParameterDecoder != nil {
		p, err := s.cfg.ParameterDecoder(r.URL.Query())
		if err != nil {
			s.fail(w, r, apiError{http.StatusBadRequest, "invalid_parameters", err.Error()})
			return PullRequest{}, false
		}
		req.Params = p
	}
	return req, true
}

func (s *Server) pullFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrResyncRequired) {
		s.fail(w, r, apiError{http.StatusGone, "resync_required", err.Error()})
		return
	}
	s.internal(w, r, "pull", err)
}

func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	req, ok := s.pullRequest(w, r)
	if !ok {
		return
	}
	sets, err := s.store.Pull(r.Context(), req)
	if err != nil {
		s.pullFailed(w, r, err)
		return
	}
	jw := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(jw, s.store.reg, sets); err != nil {
		s.internal(w, r, "pull encode", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if _, err := jw.DumpTo(w); err != nil {
		s.logger.WarnContext(r.Context(), "ssync: pull: write response", "error", err)
	}
	rows := 0
	for i := range sets {
		rows += sets[i].Len()
	}
	cp := ""
	if len(sets) > 0 {
		cp = sets[0].Timestamp
	}
	s.logger.InfoContext(r.Context(), "ssync: pull", "user", req.Identity.SyncID, "since", req.Since.String(), "checkpoint", cp, "rows", rows)
}

// handlePullStream answers NDJSON: one change-set object per line, each
// carrying the checkpoint to resume from once it is applied, then a final
// {"done":true,"timestamp":...} line. An error after the first line is sent
// as a last {"error":{...}} line.
func (s *Server) handlePullStream(w http.ResponseWriter, r *http.Request) {
	req, ok := s.pullRequest(w, r)
	if !ok {
		return
	}
	req.BatchSize = s.cfg.StreamBatchRows
	if b := r.URL.Query().Get("batch"); b != "" {
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 {
			s.fail(w, r, apiError{http.StatusBadRequest, "invalid_batch", fmt.Sprintf("batch %q is not a positive integer", truncate(b))})
			return
		}
		req.BatchSize = min(n, s.cfg.MaxStreamBatch)
	}
	flusher, _ := w.(http.Flusher)
	started := false
	rows, lines := 0, 0
	final := ""
	jw := &jwriter.Writer{}
	err := s.store.PullStream(r.Context(), req, func(cs *wire.ChangeSet) error {
		coll, err := s.store.reg.Lookup(cs.Collection)
		if err != nil {
			return err
		}
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			started = true
		}
		wire.EncodeChangeSet(jw, coll, cs)
		jw.RawByte('\n')
		if _, err := jw.DumpTo(w); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		rows += cs.Len()
		lines++
		final = cs.Timestamp
		return nil
	})
	if err != nil {
		if !started {
			s.pullFailed(w, r, err)
			return
		}
		s.logger.ErrorContext(r.Context(), "ssync: pull-stream", "error", err)
		w.Write(append(errorBody("internal", "pull-stream failed"), '\n'))
		return
	}
	if !started {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	done, _ := json.Marshal(map[string]any{"done": true, "timestamp": final})
	w.Write(append(done, '\n'))
	s.logger.InfoContext(r.Context(), "ssync: pull-stream", "user", req.Identity.SyncID, "since", req.Since.String(),
		"checkpoint", final, "rows", rows, "lines", lines)
}

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	names, aerr := s.collections(r)
	if aerr != nil {
		s.fail(w, r, *aerr)
		return
	}
	since, err := ParseCheckpoint(r.URL.Query().Get("timestamp"))
	if err != nil {
		s.fail(w, r, apiError{http.StatusBadRequest, "invalid_checkpoint", err.Error()})
		return
	}
	full := r.URL.Query().Get("result") == "full"
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		s.fail(w, r, apiError{http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key is longer than 255 characters"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, r, apiError{http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodyBytes)})
			return
		}
		s.fail(w, r, apiError{http.StatusBadRequest, "unreadable_body", "could not read request body: " + err.Error()})
		return
	}
	sets, err := wire.DecodeChangeSets(body, s.store.reg, ssync.DecodeOptions{Strict: true})
	if err != nil {
		code := "invalid_change_set"
		if errors.Is(err, ssync.ErrUnknownCollection) {
			code = "unknown_collection"
		}
		s.fail(w, r, apiError{http.StatusBadRequest, code, err.Error()})
		return
	}
	total := 0
	for i := range sets {
		if !contains(names, sets[i].Collection) {
			s.fail(w, r, apiError{http.StatusBadRequest, "collection_not_listed",
				fmt.Sprintf("body holds collection %q, which the collections parameter does not list", sets[i].Collection)})
			return
		}
		if _, err := ParseCheckpoint(sets[i].Timestamp); err != nil {
			s.fail(w, r, apiError{http.StatusBadRequest, "invalid_checkpoint",
				fmt.Sprintf("collection %q: %v", sets[i].Collection, err)})
			return
		}
		total += sets[i].Len()
	}
	if total > s.cfg.MaxPushRows {
		s.fail(w, r, apiError{http.StatusRequestEntityTooLarge, "too_many_rows",
			fmt.Sprintf("push holds %d rows, more than the limit of %d", total, s.cfg.MaxPushRows)})
		return
	}
	sum := sha256.Sum256(body)
	res, err := s.store.Push(r.Context(), PushRequest{Identity: id, Device: device(r), Key: key,
		RequestHash: hex.EncodeToString(sum[:]), Since: since, Sets: sets})
	if err != nil {
		var rowErr *RowError
		switch {
		case errors.Is(err, ErrIdempotencyMismatch):
			s.fail(w, r, apiError{http.StatusUnprocessableEntity, "idempotency_key_reused", err.Error()})
		case errors.Is(err, ErrForbidden) && errors.As(err, &rowErr):
			s.fail(w, r, apiError{http.StatusForbidden, "forbidden", rowErr.Error()})
		case errors.Is(err, ErrConflict) && errors.As(err, &rowErr):
			s.fail(w, r, apiError{http.StatusConflict, "conflict", rowErr.Error()})
		case errors.Is(err, ErrDanglingReference):
			s.fail(w, r, apiError{http.StatusUnprocessableEntity, "dangling_reference", err.Error()})
		case s.store.dialect.ForeignKey != nil && s.store.dialect.ForeignKey(err) && errors.As(err, &rowErr):
			// Checked at the statement (MariaDB): the row is known.
			s.fail(w, r, apiError{http.StatusUnprocessableEntity, "dangling_reference",
				fmt.Sprintf("collection %q row %s: %v", rowErr.Collection, rowErr.ID, ErrDanglingReference)})
		case errors.As(err, &rowErr):
			s.fail(w, r, apiError{http.StatusUnprocessableEntity, "row_refused", rowErr.Error()})
		default:
			s.internal(w, r, "push", err)
		}
		return
	}
	var out []byte
	if full {
		out, _ = json.Marshal(res)
	} else {
		out, _ = json.Marshal(res.Checkpoint)
	}
	w.Header().Set("Content-Type", "application/json")
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Write(out)
	s.logger.InfoContext(r.Context(), "ssync: push", "user", id.SyncID, "rows", total,
		"checkpoint", res.Checkpoint, "replayed", res.Replayed, "ignored", len(res.Ignored))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
