package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssync-go/ssync/runtime/wire"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, in string
		want     time.Duration
	}{
		{"none", "", 0},
		{"zero seconds", "0", 0},
		{"seconds", "3", 3 * time.Second},
		{"seconds with spaces", " 120 ", 2 * time.Minute},
		{"negative", "-1", 0},
		{"fraction", "1.5", 0},
		{"not a number", "soon", 0},
		{"too many seconds", "99999999999", 0},
		{"HTTP-date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"RFC 850 date", now.Add(time.Minute).Format(time.RFC850), time.Minute},
		{"asctime date", now.Add(time.Hour).Format(time.ANSIC), time.Hour},
		{"date now", now.Format(http.TimeFormat), 0},
		{"date past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"malformed date", "Sun, 01 Mar 2026 25:00:00 GMT", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parseRetryAfter(c.in, now); got != c.want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestRetryPolicyWait(t *testing.T) {
	p := newRetryPolicy(SyncOptions{MaxAttempts: 6, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second})
	unavailable := func(after time.Duration) error {
		return &TransportError{Op: "push", StatusCode: http.StatusServiceUnavailable, RetryAfter: after}
	}
	network := &TransportError{Op: "push", Err: errors.New("connection reset")}
	ms := time.Millisecond
	cases := []struct {
		name     string
		failed   int
		err      error
		min, max time.Duration
		giveUp   bool
	}{
		{"first failure", 1, network, 50 * ms, 100 * ms, false},
		{"second failure doubles", 2, network, 100 * ms, 200 * ms, false},
		{"third", 3, network, 200 * ms, 400 * ms, false},
		{"fourth", 4, network, 400 * ms, 800 * ms, false},
		{"fifth is capped", 5, network, 500 * ms, time.Second, false},
		{"attempts used up", 6, network, 0, 0, true},
		{"Retry-After is waited out", 1, unavailable(700 * ms), 700 * ms, 750 * ms, false},
		{"Retry-After later on", 3, unavailable(300 * ms), 300 * ms, 500 * ms, false},
		{"Retry-After at the limit", 1, unavailable(time.Second), time.Second, time.Second + 50*ms, false},
		{"Retry-After beyond the limit gives up", 1, unavailable(time.Second + ms), 0, 0, true},
		{"Retry-After does not add attempts", 6, unavailable(ms), 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, jitter := range []func(time.Duration) time.Duration{
				func(time.Duration) time.Duration { return 0 },
				func(d time.Duration) time.Duration { return d },
				nil, // math/rand
			} {
				q := p
				q.jitter = jitter
				for range 200 {
					d, ok := q.wait(c.failed, c.err)
					if ok == c.giveUp {
						t.Fatalf("wait(%d, %v) gives up = %v, want %v", c.failed, c.err, !ok, c.giveUp)
					}
					if ok && (d < c.min || d > c.max) {
						t.Fatalf("wait(%d, %v) = %v, want within [%v, %v]", c.failed, c.err, d, c.min, c.max)
					}
				}
			}
		})
	}
	// The jitter spreads: waits drawn by math/rand are not all the same.
	seen := map[time.Duration]bool{}
	for range 50 {
		d, _ := p.wait(3, network)
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 waits took only %d values: %v", len(seen), seen)
	}
}

// script is a server that answers the requests to one path in turn from a
// list, and records when each arrived.
type script struct {
	mu       sync.Mutex
	answers  []func(w http.ResponseWriter)
	arrivals []time.Time
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.arrivals)
	s.arrivals = append(s.arrivals, time.Now())
	s.mu.Unlock()
	if n >= len(s.answers) {
		n = len(s.answers) - 1
	}
	s.answers[n](w)
}

func (s *script) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.arrivals); i++ {
		out = append(out, s.arrivals[i].Sub(s.arrivals[i-1]))
	}
	return out
}

func answer(status int, code wire.Code, hdr ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		if code == "" {
			w.Header().Set("Content-Type", wire.ContentTypeJSON)
			w.WriteHeader(status)
			fmt.Fprint(w, `"7"`)
			return
		}
		w.Header().Set("Content-Type", wire.ContentTypeJSON)
		w.WriteHeader(status)
		w.Write(wire.EncodeErrorBody(code, "scripted"))
	}
}

// TestExchangeRetries sends requests through the exchange to a real HTTP
// server on 127.0.0.1 that answers from a script, and checks how often and
// how far apart they arrive.
func TestExchangeRetries(t *testing.T) {
	ok := answer(http.StatusOK, "")
	unavailable := answer(http.StatusServiceUnavailable, wire.CodeStoreUnavailable)
	// slack allows for the scheduler and the loopback round trip.
	const slack = 150 * time.Millisecond
	cases := []struct {
		name    string
		opts    SyncOptions
		answers []func(http.ResponseWriter)
		// requests is how many arrive; gaps bound the waits between them.
		requests int
		gaps     [][2]time.Duration
		// is is the error the call ends with (nil: it succeeds).
		is         error
		retryAfter time.Duration
	}{
		{
			name:     "backoff with jitter until an answer",
			opts:     SyncOptions{MaxAttempts: 4, RetryDelay: 80 * time.Millisecond},
			answers:  []func(http.ResponseWriter){unavailable, answer(http.StatusBadGateway, ""), unavailable, ok},
			requests: 4,
			gaps: [][2]time.Duration{
				{40 * time.Millisecond, 80 * time.Millisecond},
				{80 * time.Millisecond, 160 * time.Millisecond},
				{160 * time.Millisecond, 320 * time.Millisecond},
			},
		},
		{
			name:     "gives up after MaxAttempts",
			opts:     SyncOptions{MaxAttempts: 3, RetryDelay: 10 * time.Millisecond},
			answers:  []func(http.ResponseWriter){answer(http.StatusInternalServerError, wire.CodeInternal)},
			requests: 3,
			is:       ErrInternal,
		},
		{
			name:     "429 with Retry-After in seconds",
			opts:     SyncOptions{MaxAttempts: 2, RetryDelay: 10 * time.Millisecond},
			answers:  []func(http.ResponseWriter){answer(http.StatusTooManyRequests, "", "Retry-After", "1"), ok},
			requests: 2,
			gaps:     [][2]time.Duration{{time.Second, time.Second + 5*time.Millisecond}},
		},
		{
			name: "503 with Retry-After as an HTTP-date",
			opts: SyncOptions{MaxAttempts: 2, RetryDelay: 10 * time.Millisecond},
			answers: []func(http.ResponseWriter){func(w http.ResponseWriter) {
				// Two seconds on, in whole seconds: between one and two
				// seconds from now.
				answer(http.StatusServiceUnavailable, wire.CodeStoreUnavailable,
					"Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))(w)
			}, ok},
			requests: 2,
			gaps:     [][2]time.Duration{{time.Second, 2*time.Second + 5*time.Millisecond}},
		},
		{
			name:       "Retry-After beyond MaxRetryDelay gives up at once",
			opts:       SyncOptions{MaxAttempts: 4, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: time.Second},
			answers:    []func(http.ResponseWriter){answer(http.StatusServiceUnavailable, wire.CodeStoreUnavailable, "Retry-After", "3600"), ok},
			requests:   1,
			is:         ErrStoreUnavailable,
			retryAfter: time.Hour,
		},
		{
			name:     "Retry-After is read on 429 and 503 only",
			opts:     SyncOptions{MaxAttempts: 2, RetryDelay: 10 * time.Millisecond},
			answers:  []func(http.ResponseWriter){answer(http.StatusInternalServerError, wire.CodeInternal, "Retry-After", "3600"), ok},
			requests: 2,
			gaps:     [][2]time.Duration{{5 * time.Millisecond, 10 * time.Millisecond}},
		},
		{
			name:     "a refusal is not retried",
			opts:     SyncOptions{MaxAttempts: 4, RetryDelay: 10 * time.Millisecond},
			answers:  []func(http.ResponseWriter){answer(http.StatusForbidden, wire.CodeForbidden), ok},
			requests: 1,
			is:       ErrForbidden,
		},
		{
			name:     "501 is not retried",
			opts:     SyncOptions{MaxAttempts: 4, RetryDelay: 10 * time.Millisecond},
			answers:  []func(http.ResponseWriter){answer(http.StatusNotImplemented, wire.CodeBlobsUnsupported), ok},
			requests: 1,
			is:       ErrBlobsUnsupported,
		},
		{
			name:     "408 is retried",
			opts:     SyncOptions{MaxAttempts: 4, RetryDelay: 10 * time.Millisecond},
			answers:  []func(http.ResponseWriter){answer(http.StatusRequestTimeout, ""), ok},
			requests: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := &script{answers: c.answers}
			hs := httptest.NewServer(s)
			t.Cleanup(hs.Close)
			c.opts.ServerURL = hs.URL
			ex, err := newExchange(c.opts, "dev-1")
			if err != nil {
				t.Fatal(err)
			}
			body, err := ex.do(context.Background(), call{op: wire.PathPush, method: http.MethodPost, body: []byte(`[]`), key: "k1", device: true})
			gaps := s.gaps()
			if len(gaps)+1 != c.requests {
				t.Fatalf("%d requests arrived, want %d (err %v)", len(gaps)+1, c.requests, err)
			}
			for i, g := range gaps {
				if i < len(c.gaps) && (g < c.gaps[i][0] || g > c.gaps[i][1]+slack) {
					t.Errorf("wait %d was %v, want within [%v, %v]", i+1, g, c.gaps[i][0], c.gaps[i][1])
				}
			}
			if c.is == nil {
				if err != nil || string(body) != `"7"` {
					t.Fatalf("answer %q, %v; want \"7\"", body, err)
				}
				return
			}
			var te *TransportError
			if !errors.Is(err, c.is) || !errors.As(err, &te) {
				t.Fatalf("error %v, want one matching %v", err, c.is)
			}
			if te.RetryAfter != c.retryAfter {
				t.Fatalf("RetryAfter = %v, want %v", te.RetryAfter, c.retryAfter)
			}
		})
	}
}

// TestExchangeRequest checks what every request carries, and that a
// retry sends the same body and idempotency key.
func TestExchangeRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	var bodies []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		mu.Lock()
		seen = append(seen, r)
		bodies = append(bodies, string(b[:n]))
		first := len(seen) == 1
		mu.Unlock()
		if first {
			answer(http.StatusServiceUnavailable, wire.CodeStoreUnavailable)(w)
			return
		}
		answer(http.StatusOK, "")(w)
	}))
	t.Cleanup(hs.Close)
	ex, err := newExchange(SyncOptions{ServerURL: hs.URL + "/", BasePath: "/custom/", RetryDelay: time.Millisecond,
		Decorate: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer t")
			// Decorate runs last: it sees, and may change, what the
			// exchange set.
			if r.Header.Get(wire.HeaderIdempotencyKey) == "" {
				return errors.New("decorate ran before the headers were set")
			}
			return nil
		}}, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.do(context.Background(), call{op: wire.PathPush, method: http.MethodPost,
		query: map[string][]string{wire.ParamCollections: {"a", "b"}}, body: []byte(`[1]`), key: "key-1", device: true}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("%d requests, want 2", len(seen))
	}
	for i, r := range seen {
		if r.URL.Path != "/custom/push" || r.URL.RawQuery != "collections=a&collections=b" || bodies[i] != "[1]" ||
			r.Header.Get(wire.HeaderIdempotencyKey) != "key-1" || r.Header.Get(wire.HeaderDevice) != "dev-1" ||
			r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Content-Type") != wire.ContentTypeJSON {
			t.Fatalf("request %d: %s %s?%s body %q headers %v", i+1, r.Method, r.URL.Path, r.URL.RawQuery, bodies[i], r.Header)
		}
	}
	// A failing Decorate fails the call, without a request.
	ex.decorate = func(*http.Request) error { return errors.New("no token") }
	_, err = ex.do(context.Background(), call{op: wire.PathHandshake, method: http.MethodPost, body: []byte(`{}`)})
	var te *TransportError
	if !errors.As(err, &te) || te.StatusCode != 0 || len(seen) != 2 {
		t.Fatalf("decorate failure: %v after %d requests", err, len(seen))
	}
}

// TestExchangeContext: a cancelled context ends the waits between
// attempts.
func TestExchangeContext(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(http.StatusServiceUnavailable, wire.CodeStoreUnavailable, "Retry-After", strconv.Itoa(20))(w)
	}))
	t.Cleanup(hs.Close)
	ex, err := newExchange(SyncOptions{ServerURL: hs.URL, MaxAttempts: 3}, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = ex.do(ctx, call{op: wire.PathPull, method: http.MethodGet})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("error %v after %v, want the context's deadline soon", err, time.Since(start))
	}
}

// TestStallGuard sends attachment content through a real server on
// 127.0.0.1 with a short stall limit: a transfer that keeps moving lasts
// longer than the limit, in either direction; one that stops is ended.
func TestStallGuard(t *testing.T) {
	const stall = 300 * time.Millisecond
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/sync/blobs/trickle":
			// 12 parts, one every 100ms: 1.2s in all, never 300ms idle.
			for range 12 {
				w.Write([]byte("0123456789"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		case "/api/sync/blobs/stop":
			w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/api/sync/blobs/slow-reader":
			// Reads the upload slowly: 64 KiB every 5ms.
			buf := make([]byte, 64<<10)
			n := 0
			for {
				k, err := io.ReadFull(r.Body, buf)
				n += k
				if err != nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			w.Header().Set(wire.HeaderUploadOffset, strconv.Itoa(n))
			w.WriteHeader(http.StatusCreated)
		}
	}))
	t.Cleanup(hs.Close)
	ex, err := newExchange(SyncOptions{ServerURL: hs.URL}, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	ex.stall = stall
	get := func(path string) ([]byte, error) {
		req, err := ex.newRequest(context.Background(), wire.PathBlobs, http.MethodGet, path, nil, nil, nil, true)
		if err != nil {
			return nil, err
		}
		resp, err := ex.sendContent(req, wire.PathBlobs, nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}

	start := time.Now()
	b, err := get("blobs/trickle")
	if err != nil || len(b) != 120 || time.Since(start) < 4*stall {
		t.Fatalf("trickling download: %d bytes, %v, after %v", len(b), err, time.Since(start))
	}

	start = time.Now()
	b, err = get("blobs/stop")
	if !errors.Is(err, errStalled) || len(b) != 10 || time.Since(start) > 5*time.Second {
		t.Fatalf("stopped download: %d bytes, %v after %v; want the stall after 10 bytes", len(b), err, time.Since(start))
	}

	// 40 MiB read at about 12 MB/s: over three seconds of sending, longer
	// than the stall limit, while the request body keeps moving. (The limit
	// is longer here: once the body is all in the loopback's socket
	// buffers, the server still reads them before it answers.)
	ex.stall = time.Second
	size := int64(40 << 20)
	upload := &progressReader{r: io.LimitReader(zeros{}, size), on: func(int64) {}}
	req, err := ex.newRequest(context.Background(), wire.PathBlobs, http.MethodPut, "blobs/slow-reader", nil, nil, upload, true)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	start = time.Now()
	resp, err := ex.sendContent(req, wire.PathBlobs, upload)
	if err != nil {
		t.Fatalf("slow upload: %v after %v", err, time.Since(start))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(wire.HeaderUploadOffset) != strconv.FormatInt(size, 10) ||
		upload.n != size || time.Since(start) < 2*ex.stall {
		t.Fatalf("slow upload: %d, server read %s of %d bytes, after %v", resp.StatusCode, resp.Header.Get(wire.HeaderUploadOffset), size, time.Since(start))
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestCodeSentinels: every code of the protocol has its sentinel, and a
// TransportError matches the sentinel of its code alone.
func TestCodeSentinels(t *testing.T) {
	for _, c := range wire.Codes() {
		s, ok := sentinels[c]
		if !ok {
			t.Errorf("no sentinel for %s", c)
			continue
		}
		err := fmt.Errorf("sync: %w", &TransportError{Op: "push", StatusCode: c.Status(), Code: c, Message: "m"})
		for other, o := range sentinels {
			if got := errors.Is(err, o); got != (other == c) {
				t.Errorf("a TransportError with %s matches the sentinel of %s: %v", c, other, got)
			}
		}
		if !errors.Is(err, s) {
			t.Errorf("a TransportError with %s does not match its sentinel", c)
		}
	}
	if len(sentinels) != len(wire.Codes()) {
		t.Errorf("%d sentinels for %d codes", len(sentinels), len(wire.Codes()))
	}
	// No code (a network failure, an answer without a JSON body) matches
	// none.
	for _, te := range []*TransportError{{Op: "pull", Err: errors.New("reset")}, {Op: "pull", StatusCode: 502}} {
		for c, s := range sentinels {
			if errors.Is(te, s) {
				t.Errorf("%v matches the sentinel of %s", te, c)
			}
		}
	}
	if !errors.Is(&RefusedError{Message: "update"}, ErrHandshakeRefused) || !errors.Is(&RefusedError{}, ErrRefused) {
		t.Error("a RefusedError matches neither ErrHandshakeRefused nor ErrRefused")
	}
}
