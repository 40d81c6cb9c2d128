package sim

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/jwtauth"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// simUnavailable is the error code of the 503 answers the harness injects.
const simUnavailable = "sim_unavailable"

// serverSide is the real server the devices talk to, restartable on the same
// address and store.
type serverSide struct {
	w     *world
	again func() *sql.DB

	mu   sync.Mutex // one restart at a time
	db   atomic.Pointer[sql.DB]
	st   atomic.Pointer[store.Store]
	mux  atomic.Pointer[http.ServeMux]
	hs   *httptest.Server
	addr string
	base atomic.Pointer[string]
	auth server.Authenticator
}

func newServerSide(w *world) *serverSide {
	s := &serverSide{w: w}
	db, again := w.cfg.Backend.Open(w.t)
	s.again = again
	s.db.Store(db)
	if w.secret != nil {
		a, err := jwtauth.New(w.secret)
		if err != nil {
			w.t.Fatalf("sim: NewJWTAuth: %v", err)
		}
		s.auth = a
	} else {
		s.auth = server.InsecureHeaderAuth()
	}
	s.build()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatalf("sim: listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.start(l)
	return s
}

// build opens the store and a server over the current database handle.
func (s *serverSide) build() {
	w := s.w
	// The server's clock moves two minutes a reading, so that it records
	// every device's checkpoint (it does so at most once a minute) and
	// purges can remove what every device has pulled past; the retention
	// window (90 days) is never reached.
	clock := store.WithClock(func() time.Time {
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(w.serverClock.Add(1)) * 2 * time.Minute)
	})
	st, err := store.Open(w.ctx, s.db.Load(), w.cfg.Backend.Dialect, w.reg, clock)
	if err != nil {
		w.t.Fatalf("sim: OpenStore: %v", err)
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: s.auth, Logger: slog.New(&errorLog{w: w})})
	if err != nil {
		w.t.Fatalf("sim: server.New: %v", err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	s.st.Store(st)
	s.mux.Store(mux)
}

func (s *serverSide) start(l net.Listener) {
	s.hs = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(s.w.serveHTTP)}}
	s.hs.Start()
	u := s.hs.URL
	s.base.Store(&u)
}

func (s *serverSide) url() string { return *s.base.Load() }

// restart stops the server (waiting for the requests in flight), builds a
// new one over the same store, optionally through a new database handle,
// and serves it on the same address.
func (s *serverSide) restart(reopen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The count is odd while a restart runs.
	s.w.restarts.Add(1)
	defer s.w.restarts.Add(1)
	s.hs.Close()
	if reopen {
		old := s.db.Load()
		s.db.Store(s.again())
		old.Close()
	}
	s.build()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		// The port is gone: serve elsewhere; syncs started later use the
		// new address.
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			s.w.t.Fatalf("sim: listen: %v", err)
		}
		s.addr = l.Addr().String()
	}
	s.start(l)
}

func (s *serverSide) purge(ctx context.Context) (*store.PurgeReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Load().PurgeTombstones(ctx)
}

// referencedTombstones counts the deleted user rows a note references.
func (s *serverSide) referencedTombstones(ctx context.Context) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.w.cfg.Backend.Dialect.Quote
	var n int
	err := s.db.Load().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q("ss_tb_user")+" u JOIN "+q("ss_tb_note")+" n ON n."+
		q("user_id")+" = u."+q("id")+" WHERE u."+q("deleted_at")+" IS NOT NULL").Scan(&n)
	if err != nil {
		s.w.t.Fatalf("sim: count referenced tombstones: %v", err)
	}
	return n
}

func (s *serverSide) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hs.Close()
	s.db.Load().Close() // now, not when the test ends: a soak runs many
}

// errorLog collects the server's error logs, which name the cause of a 500.
type errorLog struct {
	w     *world
	attrs []slog.Attr
}

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.w.mu.Lock()
	h.w.serverErrors = append(h.w.serverErrors, b.String())
	h.w.mu.Unlock()
	return nil
}

func (h *errorLog) WithAttrs(attrs []slog.Attr) slog.Handler { return h }

func (h *errorLog) WithGroup(string) slog.Handler { return h }

// pushRecord is one push the server answered.
type pushRecord struct {
	dev      string // device label
	deviceID string // X-Ssync-Device
	key      string
	body     []byte
	status   int
	answer   []byte
	replayed bool
	// start and end order the push in real time: a push whose end is
	// before another's start committed before that one began.
	start, end int64
}

// pulledDelete is a deleted id a pull sent to a device.
type pulledDelete struct {
	dev  string
	coll string
	id   uuid.UUID
}

func hijackClose(rw http.ResponseWriter) {
	if hj, ok := rw.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// serveHTTP wraps the real server: it injects the faults planned for the
// request and records what the server answered.
func (w *world) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	var p *plan
	if id, err := strconv.ParseInt(r.Header.Get(hdrSync), 10, 64); err == nil {
		if v, ok := w.plans.Load(id); ok {
			p = v.(*plan)
		}
	}
	var f fault
	if p != nil {
		ord, _ := strconv.Atoi(r.Header.Get(hdrReq))
		select {
		case p.arrived <- ord:
		default:
		}
		if got, ok := p.take(ord, false); ok {
			f = got
			w.countFault(f.kind.String())
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hijackClose(rw)
		return
	}
	// The simulation observes and cuts plain bodies, line by line: a
	// compressed push is decoded here, and answers are asked for as they
	// are (compression has tests of its own, runtime/client and
	// runtime/server).
	if enc := r.Header.Get("Content-Encoding"); enc != "" {
		dec, err := contentenc.NewReader(enc, bytes.NewReader(body), -1)
		if err == nil {
			body, err = io.ReadAll(dec)
		}
		if err != nil {
			w.violate("a push in Content-Encoding %s does not decode: %v", enc, err)
			hijackClose(rw)
			return
		}
	}
	switch f.kind {
	case faultDropBefore:
		hijackClose(rw)
		return
	case faultUnavailable:
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(rw, `{"error":{"code":%q,"message":"injected by the simulation"}}`, simUnavailable)
		return
	case faultSlow:
		time.Sleep(time.Duration(f.param) * time.Millisecond)
	}
	if path.Base(r.URL.Path) == "push" && w.serialPushes() {
		w.pushMu.Lock()
		defer w.pushMu.Unlock()
	}
	handle := func() *httptest.ResponseRecorder {
		req := r.Clone(r.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Del("Content-Encoding")
		req.Header.Set("Accept-Encoding", "identity")
		rec := httptest.NewRecorder()
		start := w.tick.Add(1)
		w.srv.mux.Load().ServeHTTP(rec, req)
		w.observe(req, body, rec, start, w.tick.Add(1))
		return rec
	}
	var rec *httptest.ResponseRecorder
	switch f.kind {
	case faultDuplicate:
		handle()
		rec = handle()
	case faultDuplicateConcurrent:
		var wg sync.WaitGroup
		recs := make([]*httptest.ResponseRecorder, 2)
		for i := range recs {
			wg.Go(func() { recs[i] = handle() })
		}
		wg.Wait()
		rec = recs[1]
	default:
		rec = handle()
	}
	switch f.kind {
	case faultDropAfter:
		hijackClose(rw)
		return
	case faultKillAfter:
		p.killed.Store(true)
		p.cancel()
		hijackClose(rw)
		return
	case faultCutStream:
		lines := bytes.SplitAfter(rec.Body.Bytes(), []byte("\n"))
		keep := min(f.param, max(len(lines)-1, 0))
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		for _, l := range lines[:keep] {
			rw.Write(l)
		}
		if keep < len(lines) && len(lines[keep]) > 2 && f.param%2 == 1 {
			rw.Write(lines[keep][:len(lines[keep])/2]) // and half a line
		}
		if fl, ok := rw.(http.Flusher); ok {
			fl.Flush()
		}
		hijackClose(rw)
		return
	}
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	rw.Write(rec.Body.Bytes())
}

// observe records a push the server answered, and checks that a pull sent
// nothing outside the device's scope.
func (w *world) observe(r *http.Request, body []byte, rec *httptest.ResponseRecorder, start, end int64) {
	dev := w.byLabel[r.Header.Get(hdrDevice)]
	if dev == nil {
		return
	}
	// A request whose connection went away (a restart closed it under the
	// request) may fail with "context canceled": nobody reads that answer.
	gone := r.Context().Err() != nil && rec.Code >= 500
	switch path.Base(r.URL.Path) {
	case "push":
		pr := &pushRecord{dev: dev.label, deviceID: r.Header.Get(wire.HeaderDevice), key: r.Header.Get("Idempotency-Key"),
			body: body, status: rec.Code, answer: append([]byte(nil), rec.Body.Bytes()...),
			replayed: rec.Header().Get("Idempotent-Replayed") == "true", start: start, end: end}
		w.mu.Lock()
		w.pushes = append(w.pushes, pr)
		w.mu.Unlock()
		if rec.Code != http.StatusOK && !gone {
			w.violate("server refused a push of %s: %d %s", dev.label, rec.Code, rec.Body.String())
		}
	case "pull-stream":
		if rec.Code != http.StatusOK {
			if rec.Code != http.StatusGone && !gone {
				w.violate("server refused a pull of %s: %d %s", dev.label, rec.Code, rec.Body.String())
			}
			return
		}
		w.checkPulled(dev, rec.Body.Bytes(), r.Context().Err() != nil)
	case "handshake":
		if rec.Code != http.StatusOK && !gone {
			w.violate("server refused the handshake of %s: %d %s", dev.label, rec.Code, rec.Body.String())
		}
	}
}

// checkPulled checks every row of a pull-stream answer against the
// device's scope; deleted ids are checked at the end, against the owners
// the model knows.
func (w *world) checkPulled(dev *device, data []byte, clientGone bool) {
	scope := dev.user.scope()
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte(`{"done"`)) {
			continue
		}
		if bytes.HasPrefix(line, []byte(`{"error"`)) {
			// A stream the client left (killed, or gave up) ends when its
			// context does; no one reads that line.
			if !clientGone {
				w.violate("pull-stream of %s ended with an error line: %s", dev.label, line)
			}
			continue
		}
		sets, err := wire.DecodeChangeSets(append(append([]byte{'['}, line...), ']'), w.reg, ssync.DecodeOptions{Strict: true})
		if err != nil {
			w.violate("pull-stream line for %s does not decode strictly: %v", dev.label, err)
			continue
		}
		for i := range sets {
			cs := &sets[i]
			coll, _ := w.reg.Lookup(cs.Collection)
			for _, rows := range [][]any{cs.Created, cs.Updated} {
				for _, row := range rows {
					if owner := coll.RecordOf(row).SyncID; !scope[owner] {
						w.violate("a pull sent %s a %s row of %s, whom %s may not read", dev.label, short(cs.Collection), owner, dev.user.name)
					}
				}
			}
			w.mu.Lock()
			for _, id := range cs.Deleted {
				w.pulledDels = append(w.pulledDels, pulledDelete{dev: dev.label, coll: cs.Collection, id: id})
			}
			w.mu.Unlock()
		}
	}
}

// pushAnswer is the answer to a push with result=full.
type pushAnswer struct {
	Checkpoint string `json:"checkpoint"`
	Ignored    []struct {
		Collection string    `json:"collection"`
		ID         uuid.UUID `json:"id"`
		Reason     string    `json:"reason"`
	} `json:"ignored"`
}

func parseAnswer(b []byte) (pushAnswer, uint64, error) {
	var a pushAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return a, 0, fmt.Errorf("push answer %q: %w", b, err)
	}
	v, err := strconv.ParseUint(a.Checkpoint, 10, 64)
	if err != nil {
		return a, 0, fmt.Errorf("push answer checkpoint %q: %w", a.Checkpoint, err)
	}
	return a, v, nil
}
