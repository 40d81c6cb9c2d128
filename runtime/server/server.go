// Package server is the central side of ssync: an HTTP API (pull and push of
// change sets) over a SQL store that keeps the synchronized tables of one
// registry. Mount it on any http.ServeMux:
//
//	srv, err := server.New(server.Config{Store: store, Authenticator: auth})
//	srv.Mount(mux, "") // under /api/sync
package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// DefaultBasePath is where Mount puts the API when given an empty base.
const DefaultBasePath = "/api/sync"

// Config configures a Server.
type Config struct {
	// Store keeps the data. Required.
	Store *Store
	// Authenticator says who each request acts for. Required.
	Authenticator Authenticator
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes caps a push body; larger ones get 413. 0 means 32 MiB.
	MaxBodyBytes int64
	// MaxPushRows caps the rows and ids of one push; more get 413. 0 means
	// 100,000.
	MaxPushRows int
}

// Server serves the sync API.
type Server struct {
	store   *Store
	auth    Authenticator
	logger  *slog.Logger
	maxBody int64
	maxRows int
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("ssync server: Config.Store is nil")
	}
	if cfg.Authenticator == nil {
		return nil, errors.New("ssync server: Config.Authenticator is nil")
	}
	s := &Server{store: cfg.Store, auth: cfg.Authenticator, logger: cfg.Logger,
		maxBody: cfg.MaxBodyBytes, maxRows: cfg.MaxPushRows}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = 32 << 20
	}
	if s.maxRows <= 0 {
		s.maxRows = 100_000
	}
	return s, nil
}

// Mount registers the API on mux under base (DefaultBasePath when empty):
// GET {base}/pull, POST {base}/push, and GET /healthz.
func (s *Server) Mount(mux *http.ServeMux, base string) {
	if base == "" {
		base = DefaultBasePath
	}
	base = "/" + strings.Trim(base, "/")
	mux.HandleFunc("GET "+base+"/pull", s.handlePull)
	mux.HandleFunc("POST "+base+"/push", s.handlePush)
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

func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
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

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	id, err := s.auth.Authenticate(r)
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

func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
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
	sets, upto, err := s.store.Pull(r.Context(), id, device(r), names, since)
	if err != nil {
		s.fail(w, r, apiError{http.StatusInternalServerError, "internal", "pull failed"})
		s.logger.ErrorContext(r.Context(), "ssync: pull", "error", err)
		return
	}
	jw := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(jw, s.store.reg, sets); err != nil {
		s.fail(w, r, apiError{http.StatusInternalServerError, "internal", "encode failed"})
		s.logger.ErrorContext(r.Context(), "ssync: pull encode", "error", err)
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
	s.logger.InfoContext(r.Context(), "ssync: pull", "user", id.SyncID, "since", since, "checkpoint", upto, "rows", rows)
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
	if _, err := ParseCheckpoint(r.URL.Query().Get("timestamp")); err != nil {
		s.fail(w, r, apiError{http.StatusBadRequest, "invalid_checkpoint", err.Error()})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		s.fail(w, r, apiError{http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key is longer than 255 characters"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, r, apiError{http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body exceeds %d bytes", s.maxBody)})
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
		total += sets[i].Len()
	}
	if total > s.maxRows {
		s.fail(w, r, apiError{http.StatusRequestEntityTooLarge, "too_many_rows",
			fmt.Sprintf("push holds %d rows, more than the limit of %d", total, s.maxRows)})
		return
	}
	sum := sha256.Sum256(body)
	res, err := s.store.Push(r.Context(), id, device(r), key, hex.EncodeToString(sum[:]), sets)
	if err != nil {
		var rowErr *RowError
		switch {
		case errors.Is(err, ErrIdempotencyMismatch):
			s.fail(w, r, apiError{http.StatusUnprocessableEntity, "idempotency_key_reused", err.Error()})
		case errors.Is(err, ErrForbidden) && errors.As(err, &rowErr):
			s.fail(w, r, apiError{http.StatusForbidden, "forbidden", rowErr.Error()})
		case errors.As(err, &rowErr):
			s.fail(w, r, apiError{http.StatusUnprocessableEntity, "row_refused", rowErr.Error()})
			s.logger.WarnContext(r.Context(), "ssync: push row refused", "error", err)
		default:
			s.fail(w, r, apiError{http.StatusInternalServerError, "internal", "push failed"})
			s.logger.ErrorContext(r.Context(), "ssync: push", "error", err)
		}
		return
	}
	out, _ := json.Marshal(res.Checkpoint)
	w.Header().Set("Content-Type", "application/json")
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Write(out)
	s.logger.InfoContext(r.Context(), "ssync: push", "user", id.SyncID, "rows", total,
		"checkpoint", res.Checkpoint, "replayed", res.Replayed, "ignored", len(res.Ignored))
}

// HeaderDevice carries the requesting device's id. It only decides which
// rows a pull leaves out because that device has them already.
const HeaderDevice = "X-Ssync-Device"

// device returns the request's device id, or empty when it is missing or
// implausible.
func device(r *http.Request) string {
	d := r.Header.Get(HeaderDevice)
	if len(d) > 64 {
		return ""
	}
	return d
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
