package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ssync-go/ssync/runtime/wire"
)

// LiveOptions says how Run keeps a device in sync.
type LiveOptions struct {
	// Sync is how each sync reaches the server.
	Sync SyncOptions
	// Debounce is how long Run waits after a local change for more before
	// it syncs; 0 means 200ms.
	Debounce time.Duration
	// Interval is the longest Run goes without a sync, whatever else
	// happens (a fallback when change notifications are not available);
	// 0 means 5 minutes, negative never.
	Interval time.Duration
	// MinBackoff is the wait after a failed sync, doubled for each failure
	// in a row up to MaxBackoff, each wait drawn between half and the
	// whole so that devices that failed together do not come back
	// together; a server's longer Retry-After is waited out. 0 means 1s
	// and 2 minutes.
	MinBackoff, MaxBackoff time.Duration
	// NoEvents keeps Run from listening to the server's change
	// notifications (GET {base}/events): it then learns of new server data
	// only by Interval.
	NoEvents bool
	// Trigger, when set, asks for a sync with each value received, as a
	// local change does (debounced): for writes Run cannot see, such as
	// another process's on the same file.
	Trigger <-chan struct{}
	// OnState, when set, is called on every change of state, from Run's
	// goroutine: keep it short.
	OnState func(LiveStatus)
}

// LiveState is what Run is doing.
type LiveState string

// The states of Run.
const (
	// LiveIdle: the last sync succeeded; Run waits for something to do.
	LiveIdle LiveState = "idle"
	// LiveSyncing: a sync runs.
	LiveSyncing LiveState = "syncing"
	// LiveOffline: the last sync reached no server; Run retries after
	// LiveStatus.RetryIn, or as soon as the server's change notifications
	// connect again.
	LiveOffline LiveState = "offline"
	// LiveError: the server refused the last sync (LiveStatus.Err says
	// why); Run retries after LiveStatus.RetryIn.
	LiveError LiveState = "error"
)

// LiveStatus is Run's state, reported to LiveOptions.OnState.
type LiveStatus struct {
	// State is what Run is doing.
	State LiveState
	// Result is the last sync's result, when State is LiveIdle.
	Result *Result
	// Err is why the last sync failed, when State is LiveOffline or
	// LiveError.
	Err error
	// RetryIn is how long Run waits before it tries again, when State is
	// LiveOffline or LiveError.
	RetryIn time.Duration
}

// Run keeps the device in sync until ctx ends, then returns nil (or an
// error at once when opts cannot work). It syncs when it starts, shortly
// after local changes (debounced), when the server announces changes in
// the device's scope (change notifications: GET {base}/events), when
// those notifications connect again after an outage (the network came
// back), and every Interval as a fallback. Failed syncs are retried with
// exponential backoff and jitter, honouring Retry-After. Never two syncs
// run at once, here or with Synchronize called beside it (they take
// turns). Progress and results go to OnState.
func (db *DB) Run(ctx context.Context, opts LiveOptions) error {
	if _, _, _, err := db.activeScope(); err != nil {
		return err
	}
	ex, err := newExchange(opts.Sync, db.DeviceID())
	if err != nil {
		return err
	}
	l := &live{db: db, opts: opts, ex: ex, serverKick: make(chan struct{}, 1)}
	l.defaults()
	sub := db.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if !opts.NoEvents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.listen(ctx)
		}()
	}
	l.loop(ctx, sub)
	cancel()
	wg.Wait()
	return nil
}

// live is one Run.
type live struct {
	db   *DB
	opts LiveOptions
	ex   *exchange
	// serverKick receives a value when the server announced changes or
	// its notifications connected again.
	serverKick chan struct{}
	policy     retryPolicy

	mu    sync.Mutex
	since string // the checkpoint of the last successful sync
}

func (l *live) defaults() {
	o := &l.opts
	if o.Debounce <= 0 {
		o.Debounce = 200 * time.Millisecond
	}
	if o.Interval == 0 {
		o.Interval = 5 * time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Minute
	}
	l.policy = retryPolicy{first: min(o.MinBackoff, o.MaxBackoff), max: o.MaxBackoff}
}

// state reports st to OnState.
func (l *live) state(st LiveStatus) {
	if l.opts.OnState != nil {
		l.opts.OnState(st)
	}
}

// kick asks for a sync on behalf of the server's notifications.
func (l *live) kick() {
	select {
	case l.serverKick <- struct{}{}:
	default:
	}
}

// stopped returns a timer that has not started.
func stopped() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// loop runs syncs when they are due until ctx ends. A failed sync blocks
// the next one until its backoff has passed, unless the server's
// notifications say the server is back.
func (l *live) loop(ctx context.Context, sub *Subscription) {
	debounce, retry := stopped(), stopped()
	defer debounce.Stop()
	defer retry.Stop()
	var tick <-chan time.Time
	if l.opts.Interval > 0 {
		t := time.NewTicker(l.opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	due, blocked, failures := true, false, 0
	for {
		if due && !blocked {
			due = false
			if wait, failed := l.syncOnce(ctx, &failures); failed {
				if ctx.Err() != nil {
					return
				}
				due, blocked = true, true
				retry.Reset(wait)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
			if c, ok := sub.Take(); ok && c.Origin&OriginLocal != 0 {
				debounce.Reset(l.opts.Debounce)
			}
		case <-l.opts.Trigger:
			debounce.Reset(l.opts.Debounce)
		case <-debounce.C:
			due = true
		case <-tick:
			due = true
		case <-l.serverKick:
			due, blocked = true, false
			retry.Stop()
		case <-retry.C:
			blocked = false
		}
	}
}

// syncOnce runs one sync and reports it; after a failure it returns how
// long to wait before the next.
func (l *live) syncOnce(ctx context.Context, failures *int) (wait time.Duration, failed bool) {
	l.state(LiveStatus{State: LiveSyncing})
	res, err := l.db.Synchronize(ctx, l.opts.Sync)
	if err == nil {
		*failures = 0
		l.mu.Lock()
		if res.Checkpoint != "" {
			l.since = res.Checkpoint
		}
		l.mu.Unlock()
		l.state(LiveStatus{State: LiveIdle, Result: res})
		return 0, false
	}
	if ctx.Err() != nil {
		return 0, true
	}
	*failures++
	wait = l.backoff(*failures, err)
	st := LiveError
	var te *TransportError
	if errors.As(err, &te) && te.StatusCode == 0 {
		st = LiveOffline
	}
	l.db.logger.WarnContext(ctx, "ssync: live sync failed", "error", err, "retry_in", wait)
	l.state(LiveStatus{State: st, Err: err, RetryIn: wait})
	return wait, true
}

// backoff is the wait after the n-th failure in a row with err.
func (l *live) backoff(n int, err error) time.Duration {
	b := l.policy.backoff(n)
	d := b - b/2 + l.policy.rand(b/2)
	var te *TransportError
	if errors.As(err, &te) && te.RetryAfter > d {
		d = te.RetryAfter + l.policy.rand(b/2)
	}
	return d
}

// eventIdle ends an event stream that sent nothing, not even its
// heartbeat (every 20s by default), for this long: the connection is dead.
const eventIdle = 75 * time.Second

// listen keeps the server's change notifications open until ctx ends,
// reconnecting with backoff; each announcement, and each reconnection
// after a failure, asks for a sync. A server without them (404) leaves
// Run to its Interval.
func (l *live) listen(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		err := l.stream(ctx, func() {
			if failures > 0 {
				l.kick() // back after an outage: catch up now
			}
			failures = 0
		})
		if ctx.Err() != nil {
			return
		}
		var te *TransportError
		if errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusMethodNotAllowed) {
			l.db.logger.WarnContext(ctx, "ssync: the server has no change notifications; syncing by the interval only", "error", err)
			return
		}
		if errors.Is(err, errStreamEnded) && time.Since(start) > time.Second {
			continue // the server ended a long stream: reconnect at once
		}
		failures++
		wait := l.backoff(failures, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// ownPushes reports whether an EventChanged event's data announces only
// this device's own pushes (wire.EventData.Own): the sync that pushed them
// pulled after them, so there is nothing new to pull. Data that does not
// decode announces changes.
func ownPushes(data string) bool {
	var d wire.EventData
	return json.Unmarshal([]byte(data), &d) == nil && d.Own
}

// errStreamEnded is how an event stream the server closed ends.
var errStreamEnded = errors.New("the server ended the event stream")

// stream reads one event stream until it fails or ends; opened is called
// once it is connected.
func (l *live) stream(ctx context.Context, opened func()) error {
	q := url.Values{}
	l.mu.Lock()
	if l.since != "" {
		q.Set(wire.ParamSince, l.since)
	}
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hdr := http.Header{"Accept": {wire.ContentTypeEvents}, "Accept-Encoding": {"identity"}}
	req, err := l.ex.newRequest(ctx, wire.PathEvents, http.MethodGet, wire.PathEvents, q, hdr, nil, true)
	if err != nil {
		return err
	}
	resp, err := l.ex.content.Do(req)
	if err != nil {
		return &TransportError{Op: wire.PathEvents, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errorAnswer(wire.PathEvents, resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wire.ContentTypeEvents) {
		return &TransportError{Op: wire.PathEvents, StatusCode: resp.StatusCode, Message: fmt.Sprintf("answer is %q, not an event stream", ct)}
	}
	opened()
	guard := time.AfterFunc(eventIdle, cancel)
	defer guard.Stop()
	sc := bufio.NewScanner(resp.Body)
	event, data := "", ""
	for sc.Scan() {
		guard.Reset(eventIdle)
		line := sc.Text()
		switch {
		case line == "":
			if event == wire.EventChanged && !ownPushes(data) {
				l.kick()
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	if err := sc.Err(); err != nil {
		return &TransportError{Op: wire.PathEvents, Err: err}
	}
	return errStreamEnded
}
