package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/wire"
)

// exchange is how the client talks to one server, for synchronization
// (handshake, push, pull-stream) and for attachment content alike: it
// builds every request (newRequest), sends it (send, or sendContent under a
// stall guard), reads an error answer into a *TransportError
// (errorAnswer), and decides whether and when a failed request is sent
// again (retrier).
type exchange struct {
	device string
	base   *url.URL
	// api sends requests of rows: SyncOptions.HTTPClient, with its time
	// limit.
	api *http.Client
	// content sends attachment content: the same transport without an
	// overall time limit (content may be large); a stall guard ends a
	// transfer that stopped moving instead.
	content *http.Client
	// stall is how long a transfer of content may move no byte.
	stall    time.Duration
	decorate func(*http.Request) error
	policy   retryPolicy
	// compress is true unless SyncOptions.DisableCompression: answers are
	// asked for in zstd or gzip.
	compress bool
}

// defaultContentClient sends attachment content when
// SyncOptions.HTTPClient is nil.
var defaultContentClient = &http.Client{}

// stallTimeout ends a transfer of attachment content that moved no byte
// for this long; the retry resumes it.
const stallTimeout = 2 * time.Minute

// errStalled is why a transfer that stopped moving was ended.
var errStalled = errors.New("the transfer stalled")

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
		bp = wire.DefaultBasePath
	}
	base.Path += "/" + strings.Trim(bp, "/")
	ex := &exchange{device: device, base: base, api: opts.HTTPClient, content: defaultContentClient,
		stall: stallTimeout, decorate: opts.Decorate, policy: newRetryPolicy(opts), compress: !opts.DisableCompression}
	if ex.api == nil {
		ex.api = &http.Client{Timeout: 2 * time.Minute}
	} else {
		c := *opts.HTTPClient
		c.Timeout = 0
		ex.content = &c
	}
	return ex, nil
}

// maxResponse bounds what one buffered response may hold.
const maxResponse = 1 << 30

// call is one request of rows: JSON in (when body is set) and out.
type call struct {
	// op names the endpoint, under the base path and in errors.
	op     string
	method string
	query  url.Values
	// body is sent as it is with every attempt.
	body []byte
	// key is the idempotency key, the same for every attempt.
	key string
	// device sends the device id.
	device bool
	// encoding, when set, sends body compressed in this content coding
	// (one the server announced in its handshake).
	encoding string
	// encodedBody, when set, is body already compressed in encoding: sent
	// in its place, with no compression of its own.
	encodedBody []byte
}

// do sends c until an attempt succeeds or the retry policy gives up, and
// returns the body of the 2xx answer.
func (ex *exchange) do(ctx context.Context, c call) ([]byte, error) {
	c, err := c.encoded()
	if err != nil {
		return nil, err
	}
	r := ex.retrier(ctx, c.op)
	for {
		data, err := ex.once(ctx, c)
		if err == nil {
			return data, nil
		}
		if err := r.fail(err); err != nil {
			return nil, err
		}
	}
}

// encoded returns c with its body compressed in c.encoding, once for every
// attempt.
func (c call) encoded() (call, error) {
	if c.encoding == "" || c.body == nil {
		c.encoding = ""
		return c, nil
	}
	if c.encodedBody != nil {
		c.body = c.encodedBody
		return c, nil
	}
	body, err := contentenc.Encode(c.encoding, c.body)
	if err != nil {
		return c, &TransportError{Op: c.op, Err: fmt.Errorf("compress request: %w", err)}
	}
	c.body = body
	return c, nil
}

// once sends c one time.
func (ex *exchange) once(ctx context.Context, c call) ([]byte, error) {
	resp, err := ex.sendCall(ctx, c)
	if err != nil {
		return nil, err
	}
	body, err := decoded(resp, maxResponse)
	if err != nil {
		resp.Body.Close()
		return nil, &TransportError{Op: c.op, Err: fmt.Errorf("read response: %w", err)}
	}
	defer body.Close()
	data, rerr := io.ReadAll(body)
	if rerr != nil {
		return nil, &TransportError{Op: c.op, Err: fmt.Errorf("read response: %w", rerr)}
	}
	return data, nil
}

// decoded returns resp's body decoded from its Content-Encoding, failing
// past limit decoded bytes. Closing it reads what is left of the raw body
// (a little at most) before closing it, so that the connection is kept for
// the next request.
func decoded(resp *http.Response, limit int64) (io.ReadCloser, error) {
	rd, err := contentenc.NewReader(resp.Header.Get("Content-Encoding"), resp.Body, limit)
	if err != nil {
		return nil, err
	}
	return &answerBody{Reader: rd, dec: rd, raw: resp.Body}, nil
}

// answerBody is a decoded answer's body.
type answerBody struct {
	io.Reader
	dec io.Closer
	raw io.ReadCloser
}

// drainLimit is how much of an answer's unread rest Close reads so that
// its connection can carry the next request; a longer rest closes it.
const drainLimit = 64 << 10

func (b *answerBody) Close() error {
	b.dec.Close()
	io.Copy(io.Discard, io.LimitReader(b.raw, drainLimit))
	return b.raw.Close()
}

// stream sends c like do and returns the open body of the 2xx answer; a
// failure while it is read is the caller's.
func (ex *exchange) stream(ctx context.Context, c call) (io.ReadCloser, error) {
	r := ex.retrier(ctx, c.op)
	for {
		resp, err := ex.sendCall(ctx, c)
		if err == nil {
			body, err := decoded(resp, -1)
			if err != nil {
				resp.Body.Close()
				return nil, &TransportError{Op: c.op, Err: fmt.Errorf("read response: %w", err)}
			}
			return body, nil
		}
		if err := r.fail(err); err != nil {
			return nil, err
		}
	}
}

// sendCall builds and sends c once and returns its 2xx answer.
func (ex *exchange) sendCall(ctx context.Context, c call) (*http.Response, error) {
	var body io.Reader
	hdr := http.Header{"Accept": {wire.ContentTypeJSON}, "Accept-Encoding": {ex.acceptEncoding()}}
	if c.body != nil {
		body = bytes.NewReader(c.body)
		hdr.Set("Content-Type", wire.ContentTypeJSON)
		if c.encoding != "" {
			hdr.Set("Content-Encoding", c.encoding)
		}
	}
	if c.key != "" {
		hdr.Set(wire.HeaderIdempotencyKey, c.key)
	}
	req, err := ex.newRequest(ctx, c.op, c.method, c.op, c.query, hdr, body, c.device)
	if err != nil {
		return nil, err
	}
	resp, err := ex.send(req, c.op)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, errorAnswer(c.op, resp)
	}
	return resp, nil
}

// acceptEncoding is the Accept-Encoding of the client's requests. Without
// compression it is "identity", which also keeps net/http from asking for
// gzip by itself.
func (ex *exchange) acceptEncoding() string {
	if ex.compress {
		return contentenc.AcceptEncoding
	}
	return "identity"
}

// newRequest builds a request to path under the base path with the query,
// the headers, the device id when device is set, and last the caller's
// Decorate.
func (ex *exchange) newRequest(ctx context.Context, op, method, path string, q url.Values, hdr http.Header, body io.Reader, device bool) (*http.Request, error) {
	u := *ex.base
	u.Path += "/" + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if device {
		req.Header.Set(wire.HeaderDevice, ex.device)
	}
	if ex.decorate != nil {
		if err := ex.decorate(req); err != nil {
			return nil, &TransportError{Op: op, Err: fmt.Errorf("decorate request: %w", err)}
		}
	}
	return req, nil
}

// send sends a request of rows. The answer may have any status.
func (ex *exchange) send(req *http.Request, op string) (*http.Response, error) {
	resp, err := ex.api.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	return resp, nil
}

// sendContent sends a request of attachment content under a stall guard:
// the request ends when no byte moved for ex.stall, neither of the
// request's body (read through upload, when there is one) nor of the
// answer's. The answer may have any status; closing its body ends the
// guard.
func (ex *exchange) sendContent(req *http.Request, op string, upload *progressReader) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	g := &stallGuard{cancel: cancel, after: ex.stall}
	g.timer = time.AfterFunc(g.after, g.fire)
	if upload != nil {
		upload.guard = g
	}
	resp, err := ex.content.Do(req.WithContext(ctx))
	if err != nil {
		g.stop()
		return nil, &TransportError{Op: op, Err: g.cause(err)}
	}
	resp.Body = &guardedBody{ReadCloser: resp.Body, g: g}
	return resp, nil
}

// stallGuard cancels a transfer that did not move for after.
type stallGuard struct {
	cancel  context.CancelFunc
	after   time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

func (g *stallGuard) fire() {
	g.stalled.Store(true)
	g.cancel()
}

func (g *stallGuard) touch() { g.timer.Reset(g.after) }

func (g *stallGuard) stop() {
	g.timer.Stop()
	g.cancel()
}

// cause names the stall as the reason for err when the guard fired.
func (g *stallGuard) cause(err error) error {
	if err != nil && g.stalled.Load() {
		return fmt.Errorf("%w: no byte moved for %v (%v)", errStalled, g.after, err)
	}
	return err
}

// guardedBody is an answer's body under a stall guard.
type guardedBody struct {
	io.ReadCloser
	g *stallGuard
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.g.touch()
	}
	if err != nil && err != io.EOF {
		err = b.g.cause(err)
	}
	return n, err
}

func (b *guardedBody) Close() error {
	b.g.stop()
	return b.ReadCloser.Close()
}

// progressReader counts the bytes read through it, touching a stall
// guard.
type progressReader struct {
	r     io.Reader
	n     int64
	guard *stallGuard
	on    func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.n += int64(n)
		if p.guard != nil {
			p.guard.touch()
		}
		p.on(int64(n))
	}
	return n, err
}

// errorAnswer reads an error answer: the status, the code and message of
// its JSON body, and the Retry-After of a 429 or 503.
func errorAnswer(op string, resp *http.Response) *TransportError {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	te := &TransportError{Op: op, StatusCode: resp.StatusCode}
	if e, ok := wire.DecodeErrorBody(data); ok {
		te.Code, te.Message = e.Code, e.Message
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		te.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return te
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP-date,
// as a wait from now; 0 when there is none, it is malformed or it has
// passed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryPolicy says whether and when a failed request is sent again.
type retryPolicy struct {
	// attempts is how often one request is sent at most.
	attempts int
	// first is the backoff before the second attempt; each later one
	// doubles, up to max.
	first time.Duration
	// max bounds one wait. A server that asks for a longer one (with
	// Retry-After) is not retried.
	max time.Duration
	// jitter returns a random duration in [0, d]; nil uses math/rand.
	jitter func(d time.Duration) time.Duration
}

func newRetryPolicy(opts SyncOptions) retryPolicy {
	p := retryPolicy{attempts: opts.MaxAttempts, first: opts.RetryDelay, max: opts.MaxRetryDelay}
	if p.attempts <= 0 {
		p.attempts = 4
	}
	if p.first <= 0 {
		p.first = 250 * time.Millisecond
	}
	if p.max <= 0 {
		p.max = 30 * time.Second
	}
	p.first = min(p.first, p.max)
	return p
}

// backoff is the wait before the next attempt after n failed ones in a
// row, without jitter: first·2^(n-1), at most max.
func (p retryPolicy) backoff(n int) time.Duration {
	d := p.first
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// wait says how long to wait after the n-th failed attempt in a row with
// err before sending again, or ok false to give up: when attempts are used
// up, or err asks for a wait longer than max. The wait is drawn between
// half the backoff and the whole, so that clients that failed together do
// not come back together; after a Retry-After it is that wait plus up to
// half the backoff. Whether err is worth a retry at all is the caller's
// question.
func (p retryPolicy) wait(n int, err error) (d time.Duration, ok bool) {
	if n >= p.attempts {
		return 0, false
	}
	b := p.backoff(n)
	half := b / 2
	var te *TransportError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		if te.RetryAfter > p.max {
			return 0, false
		}
		return te.RetryAfter + p.rand(half), true
	}
	return b - half + p.rand(half), true
}

func (p retryPolicy) rand(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if p.jitter != nil {
		return p.jitter(d)
	}
	return rand.N(d + 1)
}

// retrier counts the failed attempts of one request, or of one transfer,
// in a row, and waits between them.
type retrier struct {
	ctx    context.Context
	op     string
	policy retryPolicy
	failed int
}

func (ex *exchange) retrier(ctx context.Context, op string) *retrier {
	return &retrier{ctx: ctx, op: op, policy: ex.policy}
}

// fail records a failed attempt. It returns err when the failure will not
// pass (see retryable) or the policy gives up, the context's error when it
// is done; else it waits and returns nil: send again.
func (r *retrier) fail(err error) error {
	if r.ctx.Err() == nil && !retryable(err) {
		return err
	}
	return r.again(err)
}

// again is fail for a failure the caller knows to be worth another
// attempt.
func (r *retrier) again(err error) error {
	if r.ctx.Err() != nil {
		return &TransportError{Op: r.op, Err: r.ctx.Err()}
	}
	r.failed++
	d, ok := r.policy.wait(r.failed, err)
	if !ok {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return &TransportError{Op: r.op, Err: r.ctx.Err()}
	case <-t.C:
	}
	return nil
}

// progress records that a transfer moved forward: its failures so far no
// longer count, so that a large transfer over a bad network goes on while
// it advances.
func (r *retrier) progress() { r.failed = 0 }

// retryable reports whether a failed attempt may succeed when made again.
func retryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return te.retryable()
	}
	return true // no answer: the network
}
