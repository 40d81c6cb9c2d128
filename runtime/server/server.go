// Package server is the central side of ssync: an HTTP API (handshake,
// pull, streamed pull and push of change sets, attachment content) over a
// store.Store (package runtime/store), which keeps the synchronized tables
// of one registry on SQLite, PostgreSQL or MariaDB/MySQL. Serve its Handler
// under any prefix, or Mount it on an http.ServeMux:
//
//	st, err := store.Open(ctx, db, postgres.Dialect(), generated.Registry())
//	srv, err := server.New(server.Config{Store: st, Authenticator: auth})
//	srv.Mount(mux, "")                       // under /api/sync
//	mux.Handle("GET /healthz", srv.Health()) // where a health check is wanted
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/store"

	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Config configures a Server.
type Config struct {
	// Store keeps the data. Required.
	Store *store.Store
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
	// MaxStreamBatchBytes also bounds a pull-stream line: it ends once its
	// rows' text and binary values hold that many bytes, whatever the
	// batch asked for, so that a stream's memory stays small with large
	// rows. 0 means 2 MiB.
	MaxStreamBatchBytes int
	// MaxPullRows caps the rows of one /pull answer; 0 means 50,000. An
	// answer that reaches it (or MaxPullBytes) ends early, each collection
	// with the checkpoint to continue from, and says so with the header
	// wire.HeaderMore.
	MaxPullRows int
	// MaxPullBytes caps the bytes of one /pull answer (it may pass it by
	// one batch of rows); 0 means 8 MiB.
	MaxPullBytes int
	// MaxBlobBytes caps the size of one attachment's content; larger
	// uploads get 413. 0 means DefaultMaxBlobBytes (1 GiB).
	MaxBlobBytes int64
	// MaxUserBlobBytes caps the bytes of one user's uploads: the content
	// it uploaded that the server keeps (until PurgeBlobs removes it) plus
	// the announced size of its incomplete uploads. An upload that would
	// pass it gets 413 blob_quota_exceeded. 0 means
	// DefaultMaxUserBlobBytes (10 GiB); negative, no limit.
	MaxUserBlobBytes int64
	// MaxOpenUploads caps one user's incomplete uploads (those written
	// within the store's upload expiry, store.WithUploadExpiry); a new one
	// beyond it gets 429 too_many_uploads. 0 means DefaultMaxOpenUploads
	// (16); negative, no limit.
	MaxOpenUploads int
	// DisableCompression turns content coding off both ways: answers go
	// as they are whatever the client's Accept-Encoding, the handshake
	// announces no encodings, and a compressed request body gets 415
	// unsupported_encoding. By default pulls, streamed pulls and
	// attachments that compress well are answered in zstd or gzip when the
	// client accepts it, and pushes are taken in either.
	DisableCompression bool
	// MaxUserRequests caps the requests one user has in progress on this
	// server instance at once (a user's devices together); more get 429
	// too_many_requests with Retry-After, which clients wait out. 0 means
	// no limit.
	MaxUserRequests int
	// EventHeartbeat is how often an idle change-notification stream
	// (GET {base}/events) sends a comment line; 0 means
	// DefaultEventHeartbeat.
	EventHeartbeat time.Duration
	// MaxEventStream is how long one change-notification stream lasts
	// before the server ends it (the client reconnects and authenticates
	// again); 0 means DefaultMaxEventStream.
	MaxEventStream time.Duration
}

// Handshake is what a client says before syncing.
type Handshake struct {
	// Identity is who the client acts for.
	Identity store.Identity
	// Device is the client's device id, if it sent one.
	Device string
	// SchemaVersion is the client's schema version.
	SchemaVersion int
	// SchemaFingerprint is the client's schema fingerprint
	// (ssync.Registry.Fingerprint of the app's generated registry), or
	// empty when it sent none. It equals the store's
	// Registry().Fingerprint() when client and server run the same models.
	SchemaFingerprint string
	// Info is whatever custom information the client sent (raw JSON), or
	// nil.
	Info json.RawMessage
}

// Server serves the sync API.
type Server struct {
	cfg    Config
	store  *store.Store
	logger *slog.Logger

	limit *UserLimit // MaxUserRequests
}

// slotKey is the context key of a request's *userSlot.
type slotKey struct{}

// userSlot is a request's place in its user's MaxUserRequests, given back
// when the request ends.
type userSlot struct{ release func() }

// takeSlot counts r against id's MaxUserRequests; false when the user has
// that many requests in progress already.
func (s *Server) takeSlot(r *http.Request, id store.Identity) bool {
	slot, _ := r.Context().Value(slotKey{}).(*userSlot)
	if slot == nil || slot.release != nil {
		return true
	}
	release, err := s.limit.Acquire(id.SyncID)
	if err != nil {
		return false
	}
	slot.release = release
	return true
}

// UserLimit returns the server's limit of requests in progress per user
// (Config.MaxUserRequests), to share with other fronts over the same store
// (watermelon.Config.UserLimit).
func (s *Server) UserLimit() *UserLimit { return s.limit }

// The limits a zero Config field means, for every protocol front.
const (
	// DefaultMaxBodyBytes is the push body cap of a zero MaxBodyBytes.
	DefaultMaxBodyBytes = 32 << 20
	// DefaultMaxPushRows is the rows-per-push cap of a zero MaxPushRows.
	DefaultMaxPushRows = 100_000
)

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
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxPushRows <= 0 {
		cfg.MaxPushRows = DefaultMaxPushRows
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
	if cfg.MaxStreamBatchBytes <= 0 {
		cfg.MaxStreamBatchBytes = 2 << 20
	}
	if cfg.MaxPullRows <= 0 {
		cfg.MaxPullRows = 50_000
	}
	if cfg.MaxPullBytes <= 0 {
		cfg.MaxPullBytes = 8 << 20
	}
	if cfg.EventHeartbeat <= 0 {
		cfg.EventHeartbeat = DefaultEventHeartbeat
	}
	if cfg.MaxEventStream <= 0 {
		cfg.MaxEventStream = DefaultMaxEventStream
	}
	return &Server{cfg: cfg, store: cfg.Store, logger: cfg.Logger, limit: NewUserLimit(cfg.MaxUserRequests)}, nil
}

// Handler returns the API as an http.Handler whose paths are relative to
// where it is mounted: POST /handshake, GET /pull, GET /pull-stream,
// POST /push, GET /events (change notifications, Server-Sent Events), and
// GET, HEAD and PUT /blobs/{hash} (attachment content, see
// store.WithBlobStore). Mount it under any prefix with http.StripPrefix (or
// Mount), behind any middleware, as many times as needed. Any other path
// answers 404 not_found, and a known path with another method 405
// method_not_allowed (with Allow), in the JSON error body like every other
// error.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(path string, handlers map[string]http.HandlerFunc) {
		var allow []string
		for m := range handlers {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			h, ok := handlers[r.Method]
			if !ok {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				s.fail(w, r, apiError{wire.CodeMethodNotAllowed,
					fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, " or "), echo.Clip(r.Method))})
				return
			}
			// authenticate takes the user's slot (MaxUserRequests); it is
			// given back when the handler returns.
			slot := &userSlot{}
			defer func() {
				if slot.release != nil {
					slot.release()
				}
			}()
			h(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, slot)))
		})
	}
	route("/"+wire.PathHandshake, map[string]http.HandlerFunc{http.MethodPost: s.handleHandshake})
	route("/"+wire.PathPull, map[string]http.HandlerFunc{http.MethodGet: s.handlePull})
	route("/"+wire.PathPullStream, map[string]http.HandlerFunc{http.MethodGet: s.handlePullStream})
	route("/"+wire.PathPush, map[string]http.HandlerFunc{http.MethodPost: s.handlePush})
	route("/"+wire.PathEvents, map[string]http.HandlerFunc{http.MethodGet: s.handleEvents})
	route("/"+wire.PathBlobs+"/{hash}", map[string]http.HandlerFunc{
		http.MethodGet: s.handleBlobGet, http.MethodHead: s.handleBlobGet, http.MethodPut: s.handleBlobPut})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, apiError{wire.CodeNotFound, fmt.Sprintf("no endpoint %s (the API has handshake, pull, pull-stream, push, events and blobs/{hash})", echo.Clip(r.URL.Path))})
	})
	return mux
}

// Mount registers Handler on mux under base (wire.DefaultBasePath when
// empty): POST {base}/handshake, GET {base}/pull, and so on. It registers
// nothing else, so one mux may hold several servers under several bases;
// mount Health where the deployment wants a health check.
func (s *Server) Mount(mux *http.ServeMux, base string) {
	if base == "" {
		base = wire.DefaultBasePath
	}
	base = "/" + strings.Trim(base, "/")
	mux.Handle(base+"/", http.StripPrefix(base, s.Handler()))
}

// Health returns a handler that answers {"status":"ok"} while the store's
// database answers, and 503 store_unavailable otherwise, e.g.
// mux.Handle("GET /healthz", srv.Health()).
func (s *Server) Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.Ping(r.Context()); err != nil {
			writeError(w, wire.CodeStoreUnavailable, "store unreachable")
			return
		}
		w.Header().Set("Content-Type", wire.ContentTypeJSON)
		io.WriteString(w, `{"status":"ok"}`)
	})
}

// apiError is an error answer: its code (which gives the status) and a
// message for people.
type apiError struct {
	code    wire.Code
	message string
}

// writeError answers code, with its status, and message.
func writeError(w http.ResponseWriter, code wire.Code, message string) {
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.WriteHeader(code.Status())
	w.Write(wire.EncodeErrorBody(code, message))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e apiError) {
	status := e.code.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.logger.Log(r.Context(), level, "ssync: request refused",
		"method", r.Method, "path", r.URL.Path, "status", status, "code", e.code, "error", e.message)
	writeError(w, e.code, e.message)
}

// internal answers 500 without details and logs the cause.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.logger.ErrorContext(r.Context(), "ssync: "+op, "error", err)
	writeError(w, wire.CodeInternal, op+" failed")
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (store.Identity, bool) {
	id, err := s.cfg.Authenticator.Authenticate(r)
	if (err != nil || id.SyncID == "") && r.ContentLength != 0 {
		// Refused before its body is read: close the connection instead of
		// draining a body that may never come (net/http would wait for up
		// to 256 KiB of it before closing).
		w.Header().Set("Connection", "close")
		http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	switch {
	case err != nil && !errors.Is(err, ErrUnauthenticated):
		// The authenticator failed (an identity provider down, a bug): its
		// text is not for the client.
		s.internal(w, r, "authenticate", err)
		return store.Identity{}, false
	case err != nil:
		// The code already says "unauthenticated": the message says why.
		s.fail(w, r, apiError{wire.CodeUnauthenticated, strings.TrimPrefix(err.Error(), ErrUnauthenticated.Error()+": ")})
		return store.Identity{}, false
	case id.SyncID == "":
		s.fail(w, r, apiError{wire.CodeUnauthenticated, "missing or invalid credentials"})
		return store.Identity{}, false
	case !s.takeSlot(r, id):
		w.Header().Set("Retry-After", RetryAfterBusy)
		s.fail(w, r, apiError{wire.CodeTooManyRequests, (&TooManyRequestsError{Max: s.cfg.MaxUserRequests}).Error()})
		return store.Identity{}, false
	}
	return id, true
}

// readBody reads a request body of at most limit bytes, decoded from its
// Content-Encoding (zstd or gzip) when it has one. A longer body, or one
// whose decoded content is longer, is refused with 413 body_too_large
// (decoding stops there: a small compressed body cannot expand into a large
// one); a coding the server does not take with 415 unsupported_encoding;
// one that ends early (shorter than its Content-Length) or cannot be read
// or decoded with 400 unreadable_body; either way the connection is closed,
// not drained.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	rd, ok := s.decodedBody(w, r, limit)
	if !ok {
		return nil, false
	}
	body, err := io.ReadAll(rd)
	rd.Close()
	if err == nil {
		return body, true
	}
	w.Header().Set("Connection", "close")
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.Is(err, contentenc.ErrTooLarge) {
		s.fail(w, r, apiError{wire.CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", limit)})
	} else {
		msg := "could not read the whole request body (it ended before its Content-Length)"
		if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
			msg = "could not read the whole request body in Content-Encoding " + echo.Clip(enc) + ": " + err.Error()
		}
		s.fail(w, r, apiError{wire.CodeUnreadableBody, msg})
	}
	return nil, false
}

// device returns the request's device id, or empty when it is missing or
// implausible.
func device(r *http.Request) string {
	d := r.Header.Get(wire.HeaderDevice)
	if len(d) > wire.MaxDeviceID {
		return ""
	}
	return d
}

// collections reads the collections parameter (repeated, or comma
// separated); none means all. The result is in registry order.
func (s *Server) collections(r *http.Request) ([]string, *apiError) {
	var asked []string
	for _, v := range r.URL.Query()[wire.ParamCollections] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				asked = append(asked, name)
			}
		}
	}
	reg := s.store.Registry()
	if len(asked) == 0 {
		return reg.Names(), nil
	}
	want := make(map[string]bool, len(asked))
	for _, name := range asked {
		if _, err := reg.Lookup(name); err != nil {
			return nil, &apiError{wire.CodeUnknownCollection,
				fmt.Sprintf("unknown collection %q (known: %s)", echo.Clip(name), strings.Join(reg.Names(), ", "))}
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
	body, ok := s.readBody(w, r, 1<<20)
	if !ok {
		return
	}
	var in wire.HandshakeRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.SchemaVersion == nil {
		msg := `want {"schemaVersion": <int>, "info": <any JSON>}`
		if err != nil {
			msg = "malformed handshake: " + err.Error() + "; " + msg
		}
		s.fail(w, r, apiError{wire.CodeInvalidHandshake, msg})
		return
	}
	h := Handshake{Identity: id, Device: device(r), SchemaVersion: *in.SchemaVersion, Info: in.Info,
		SchemaFingerprint: in.SchemaFingerprint}
	if s.cfg.OnHandshake != nil {
		if err := s.cfg.OnHandshake(r.Context(), h); err != nil {
			s.fail(w, r, apiError{wire.CodeHandshakeRefused, err.Error()})
			return
		}
	}
	cp, err := s.store.Current(r.Context())
	if err != nil {
		s.internal(w, r, "handshake", err)
		return
	}
	out, _ := json.Marshal(wire.HandshakeResponse{
		SchemaVersion:   s.cfg.SchemaVersion,
		Collections:     s.store.Registry().Names(),
		Checkpoint:      cp.String(),
		Encodings:       s.encodings(),
		UploadEncodings: s.encodings(),
		Features:        []string{wire.FeatureFields, wire.FeatureDeletedAt},
	})
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	w.Write(out)
}

// pullRequest reads what pull and pull-stream share.
func (s *Server) pullRequest(w http.ResponseWriter, r *http.Request) (store.PullRequest, bool) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return store.PullRequest{}, false
	}
	names, aerr := s.collections(r)
	if aerr != nil {
		s.fail(w, r, *aerr)
		return store.PullRequest{}, false
	}
	since, err := store.ParseCheckpoint(r.URL.Query().Get(wire.ParamCheckpoint))
	if err != nil {
		s.fail(w, r, apiError{wire.CodeInvalidCheckpoint, err.Error()})
		return store.PullRequest{}, false
	}
	req := store.PullRequest{Identity: id, Device: device(r), Collections: names, Since: since}
	if s.cfg.ParameterDecoder != nil {
		p, err := s.cfg.ParameterDecoder(r.URL.Query())
		if err != nil {
			s.fail(w, r, apiError{wire.CodeInvalidParameters, err.Error()})
			return store.PullRequest{}, false
		}
		req.Params = p
	}
	return req, true
}

func (s *Server) pullFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrResyncRequired) {
		s.fail(w, r, apiError{wire.CodeResyncRequired, err.Error()})
		return
	}
	s.internal(w, r, "pull", err)
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
	req.BatchBytes = s.cfg.MaxStreamBatchBytes
	if b := r.URL.Query().Get(wire.ParamBatch); b != "" {
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 {
			s.fail(w, r, apiError{wire.CodeInvalidBatch, fmt.Sprintf("batch %q is not a positive integer", echo.Clip(b))})
			return
		}
		req.BatchSize = min(n, s.cfg.MaxStreamBatch)
	}
	// Compressed per response; each line is flushed as a complete block,
	// so the device applies it before the next arrives.
	w, finish := s.compressed(w, r)
	defer finish()
	flusher, _ := w.(http.Flusher)
	started := false
	rows, lines := 0, 0
	final := ""
	jw := &jwriter.Writer{}
	err := s.store.PullStream(r.Context(), req, func(cs *wire.ChangeSet) error {
		coll, err := s.store.Registry().Lookup(cs.Collection)
		if err != nil {
			return err
		}
		if !started {
			w.Header().Set("Content-Type", wire.ContentTypeNDJSON)
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
		final = cs.Checkpoint
		return nil
	})
	if err != nil {
		if !started {
			s.pullFailed(w, r, err)
			return
		}
		s.logger.ErrorContext(r.Context(), "ssync: pull-stream", "error", err)
		w.Write(append(wire.EncodeErrorBody(wire.CodeInternal, "pull-stream failed"), '\n'))
		return
	}
	if !started {
		w.Header().Set("Content-Type", wire.ContentTypeNDJSON)
	}
	done, _ := json.Marshal(wire.StreamEnd{Done: true, Checkpoint: final})
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
	since, err := store.ParseCheckpoint(r.URL.Query().Get(wire.ParamCheckpoint))
	if err != nil {
		s.fail(w, r, apiError{wire.CodeInvalidCheckpoint, err.Error()})
		return
	}
	full := r.URL.Query().Get(wire.ParamResult) == wire.ResultFull
	key := r.Header.Get(wire.HeaderIdempotencyKey)
	if len(key) > wire.MaxIdempotencyKey {
		s.fail(w, r, apiError{wire.CodeInvalidIdempotencyKey,
			fmt.Sprintf("%s is longer than %d characters", wire.HeaderIdempotencyKey, wire.MaxIdempotencyKey)})
		return
	}
	body, ok := s.readBody(w, r, s.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	// The body's hash (the idempotency record's) is taken beside the
	// decoding.
	hashed := make(chan [sha256.Size]byte, 1)
	go func() { hashed <- sha256.Sum256(body) }()
	sets, err := wire.DecodeChangeSets(body, s.store.Registry(), ssync.DecodeOptions{TrackAbsent: true, Strict: true, RefuseNUL: true})
	if err != nil {
		code := wire.CodeInvalidChangeSet
		if errors.Is(err, ssync.ErrUnknownCollection) {
			code = wire.CodeUnknownCollection
		}
		s.fail(w, r, apiError{code, err.Error()})
		return
	}
	total := 0
	for i := range sets {
		if !contains(names, sets[i].Collection) {
			s.fail(w, r, apiError{wire.CodeCollectionNotListed,
				fmt.Sprintf("body holds collection %q, which the collections parameter does not list", sets[i].Collection)})
			return
		}
		if _, err := store.ParseCheckpoint(sets[i].Checkpoint); err != nil {
			s.fail(w, r, apiError{wire.CodeInvalidCheckpoint,
				fmt.Sprintf("collection %q: %v", sets[i].Collection, err)})
			return
		}
		total += sets[i].Len()
	}
	if total > s.cfg.MaxPushRows {
		s.fail(w, r, apiError{wire.CodeTooManyRows,
			fmt.Sprintf("push holds %d rows, more than the limit of %d", total, s.cfg.MaxPushRows)})
		return
	}
	sum := <-hashed
	res, err := s.store.Push(r.Context(), store.PushRequest{Identity: id, Device: device(r), Key: key,
		RequestHash: hex.EncodeToString(sum[:]), Since: since, Sets: sets})
	if err != nil {
		var rowErr *store.RowError
		switch {
		case errors.Is(err, store.ErrIdempotencyMismatch):
			s.fail(w, r, apiError{wire.CodeIdempotencyKeyReused, err.Error()})
		case errors.Is(err, store.ErrForbidden) && errors.As(err, &rowErr):
			s.fail(w, r, apiError{wire.CodeForbidden, rowErr.Error()})
		case errors.Is(err, store.ErrConflict) && errors.As(err, &rowErr):
			s.fail(w, r, apiError{wire.CodeConflict, rowErr.Error()})
		case errors.Is(err, store.ErrDanglingReference):
			s.fail(w, r, apiError{wire.CodeDanglingReference, err.Error()})
		case errors.As(err, &rowErr):
			if cause := store.RefusalCause(err); cause != nil {
				// The database's text stays in the log.
				s.logger.WarnContext(r.Context(), "ssync: the store refused a pushed row",
					"collection", rowErr.Collection, "id", rowErr.ID, "error", cause)
			}
			s.fail(w, r, apiError{wire.CodeRowRefused, rowErr.Error()})
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
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	if res.Replayed {
		w.Header().Set(wire.HeaderIdempotentReplayed, "true")
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
