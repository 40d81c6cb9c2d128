package sim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Headers the harness adds to every request so that its handler wrapper
// knows which sync and which request of it it sees.
const (
	hdrDevice = "X-Sim-Device"
	hdrSync   = "X-Sim-Sync"
	hdrReq    = "X-Sim-Req"
)

// faultKind is a fault injected into one request.
type faultKind int

const (
	faultNone faultKind = iota
	// faultDropBefore closes the connection before the server sees the
	// request.
	faultDropBefore
	// faultUnavailable answers 503 before the server sees the request.
	faultUnavailable
	// faultDropAfter lets the server handle (and commit) the request, then
	// closes the connection without an answer.
	faultDropAfter
	// faultDuplicate hands the request to the server twice in a row.
	faultDuplicate
	// faultDuplicateConcurrent hands the request to the server twice at
	// once.
	faultDuplicateConcurrent
	// faultSlow delays the request, so that others overlap it.
	faultSlow
	// faultCutStream sends part of the answer, then closes the connection.
	faultCutStream
	// faultRestart restarts the server just before the request.
	faultRestart
	// faultKillBefore kills the client just before it sends the request.
	faultKillBefore
	// faultKillAfter kills the client once the server handled the request,
	// before the answer arrives.
	faultKillAfter
	numFaults
)

var faultNames = [...]string{
	faultNone:                "none",
	faultDropBefore:          "request-dropped",
	faultUnavailable:         "503-before-server",
	faultDropAfter:           "response-dropped-after-commit",
	faultDuplicate:           "duplicated-request",
	faultDuplicateConcurrent: "duplicated-request-concurrently",
	faultSlow:                "slow-request",
	faultCutStream:           "cut-response",
	faultRestart:             "server-restart-mid-sync",
	faultKillBefore:          "client-killed-before-request",
	faultKillAfter:           "client-killed-after-server-handled",
}

func (k faultKind) String() string { return faultNames[k] }

// clientSide reports whether the fault acts in the client (Decorate) rather
// than in the server's handler wrapper.
func (k faultKind) clientSide() bool { return k == faultRestart || k == faultKillBefore }

type fault struct {
	kind  faultKind
	param int
}

func (f fault) String() string {
	switch f.kind {
	case faultSlow:
		return fmt.Sprintf("%s(%dms)", f.kind, f.param)
	case faultCutStream:
		return fmt.Sprintf("%s(after %d lines)", f.kind, f.param)
	case faultRestart:
		if f.param%2 == 1 {
			return f.kind.String() + "(database reopened)"
		}
	}
	return f.kind.String()
}

// plan is the faults of one Synchronize, by request number (0 is the
// handshake), drawn by the driver before the sync starts. Each fires once.
type plan struct {
	mu             sync.Mutex
	faults         map[int]fault
	killBeforePull bool
	injected       []string
	pullSeen       bool

	pushBatch, pullBatch, attempts int
	// cutAfter, when positive, cancels the sync once that many pulled
	// change sets are applied: a pull cut between two batches, which no
	// retry resumes within the sync.
	cutAfter, pulledSets int

	cancel context.CancelFunc
	killed atomic.Bool
	// arrived receives the number of every request the server gets.
	arrived chan int
}

func (p *plan) describe() string {
	var parts []string
	for i := 0; i < 16; i++ {
		if f, ok := p.faults[i]; ok {
			parts = append(parts, fmt.Sprintf("#%d %s", i, f))
		}
	}
	if p.killBeforePull {
		parts = append(parts, "kill before the pull")
	}
	if p.cutAfter > 0 {
		parts = append(parts, fmt.Sprintf("pull cut after %d change sets", p.cutAfter))
	}
	s := fmt.Sprintf("push batch %d, pull batch %d, %d attempts", p.pushBatch, p.pullBatch, p.attempts)
	if len(parts) > 0 {
		s += "; planned faults: " + strings.Join(parts, ", ")
	}
	return s
}

// take returns the fault planned for request ord on the given side, once.
func (p *plan) take(ord int, client bool) (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.faults[ord]
	if !ok || f.kind.clientSide() != client {
		return fault{}, false
	}
	delete(p.faults, ord)
	p.injected = append(p.injected, fmt.Sprintf("#%d %s", ord, f))
	return f, true
}

func (p *plan) note(s string) {
	p.mu.Lock()
	p.injected = append(p.injected, s)
	p.mu.Unlock()
}

func (p *plan) injectedList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.injected...)
}

// drawPlan draws the batch sizes and, when faulty, the faults of one sync.
func (w *world) drawPlan(faulty bool) *plan {
	p := &plan{faults: map[int]fault{}, arrived: make(chan int, 64)}
	p.pushBatch = []int{0, 1, 2, 3, 7}[w.rng.IntN(5)]
	p.pullBatch = []int{0, 1, 2, 5, 50}[w.rng.IntN(5)]
	p.attempts = 2 + w.rng.IntN(4)
	if !faulty {
		return p
	}
	if w.cutRng.Float64() < w.cfg.FaultRate {
		p.cutAfter = 1 + w.cutRng.IntN(8)
	}
	for i := 0; i < 12; i++ {
		if w.rng.Float64() >= w.cfg.FaultRate {
			continue
		}
		k := faultKind(1 + w.rng.IntN(int(numFaults)-1))
		f := fault{kind: k}
		switch k {
		case faultSlow:
			f.param = 1 + w.rng.IntN(15)
		case faultCutStream:
			f.param = w.rng.IntN(4)
		case faultRestart:
			f.param = w.rng.IntN(2)
		case faultKillBefore, faultKillAfter:
			// Kills end the sync: keep them rarer than the rest.
			if w.rng.IntN(3) > 0 {
				continue
			}
		}
		p.faults[i] = f
	}
	return p
}

// outcome is what one sync did.
type outcome struct {
	dev      *device
	plan     *plan
	res      *client.Result
	err      error
	startSeq int64 // the last local write made before the sync started
	restarts int64 // server restarts that overlapped it
	step     int
	kind     string
}

// startSync runs one Synchronize of d with plan p in a new goroutine.
func (w *world) startSync(d *device, p *plan, kind string) chan outcome {
	done := make(chan outcome, 1)
	ctx, cancel := context.WithCancel(w.ctx)
	p.cancel = cancel
	id := w.syncSeq.Add(1)
	w.plans.Store(id, p)
	ord := 0
	opts := client.SyncOptions{
		ServerURL:     w.srv.url(),
		HTTPClient:    d.hc,
		MaxAttempts:   p.attempts,
		RetryDelay:    time.Millisecond,
		PushBatchRows: p.pushBatch,
		PullBatchRows: p.pullBatch,
		LogLevel:      client.LogFields,
		// The notes and relations models check whole-row pushes (last
		// writer wins per row); the versions model checks fields, and its
		// devices push fields but for some (see versionsApp).
		WholeRows: d.wholeRows,
		Progress: func(pr client.Progress) {
			if p.cutAfter == 0 || pr.Stage != client.StagePull {
				return
			}
			if p.pulledSets++; p.pulledSets == p.cutAfter {
				p.note(fmt.Sprintf("pull cut after %d change sets", p.cutAfter))
				w.countFault("pull-cut-between-batches")
				cancel()
			}
		},
		Decorate: func(r *http.Request) error {
			n := ord
			ord++
			r.Header.Set(hdrDevice, d.label)
			r.Header.Set(hdrSync, strconv.FormatInt(id, 10))
			r.Header.Set(hdrReq, strconv.Itoa(n))
			if d.user.token != "" {
				r.Header.Set("Authorization", "Bearer "+d.user.token)
			} else {
				r.Header.Set(wire.HeaderUser, d.user.name)
				if len(d.user.linked) > 0 {
					r.Header.Set(wire.HeaderLinked, strings.Join(d.user.linked, ","))
				}
			}
			if strings.HasSuffix(r.URL.Path, "/pull-stream") && p.killBeforePull && !p.pullSeen {
				p.pullSeen = true
				p.note("client killed between push and pull")
				w.countFault("client-killed-between-push-and-pull")
				p.killed.Store(true)
				cancel()
				return errKilled
			}
			if f, ok := p.take(n, true); ok {
				w.countFault(f.kind.String())
				switch f.kind {
				case faultRestart:
					w.srv.restart(f.param%2 == 1)
				case faultKillBefore:
					p.killed.Store(true)
					cancel()
					return errKilled
				}
			}
			return nil
		},
	}
	o := outcome{dev: d, plan: p, startSeq: w.writeSeq, restarts: w.restarts.Load(), step: w.step, kind: kind}
	go func() {
		defer cancel()
		o.res, o.err = d.db.Synchronize(ctx, opts)
		w.plans.Delete(id)
		// Count the restarts that ran while the sync did, even in part.
		o.restarts = (w.restarts.Load() - o.restarts + o.restarts%2 + 1) / 2
		done <- o
	}()
	return done
}

func (w *world) countFault(name string) {
	w.mu.Lock()
	w.faults[name]++
	w.mu.Unlock()
}

// bgSync is a sync running while the driver goes on.
type bgSync struct {
	done chan outcome
}

// join waits for d's background sync, if any, and records it.
func (w *world) join(d *device) {
	if d.bg == nil {
		return
	}
	o := <-d.bg.done
	d.bg = nil
	w.finishSync(o, false)
}

// joinAll waits for every background sync.
func (w *world) joinAll() {
	any := false
	for _, d := range w.devices {
		if d.bg != nil {
			any = true
			w.join(d)
		}
	}
	if !any {
		w.logf("no background sync to join")
	}
}

func (w *world) busy() bool {
	for _, d := range w.devices {
		if d.bg != nil {
			return true
		}
	}
	return false
}

// syncNow runs a sync of d in the foreground and records it. With no other
// sync in flight, a successful sync must leave d holding exactly the
// server's rows of its scope.
func (w *world) syncNow(d *device, p *plan, kind string) *outcome {
	w.join(d)
	alone := !w.busy()
	o := <-w.startSync(d, p, kind)
	w.finishSync(o, alone)
	return &o
}

func (w *world) opSync() {
	d := w.pickDevice()
	w.syncNow(d, w.drawPlan(w.rng.IntN(3) > 0), "")
}

func (w *world) opKill() {
	d := w.pickDevice()
	p := w.drawPlan(w.rng.IntN(2) == 0)
	p.killBeforePull = true
	w.syncNow(d, p, "kill")
}

func (w *world) opBackgroundSync() {
	var free []*device
	running := 0
	for _, d := range w.devices {
		if d.bg == nil {
			free = append(free, d)
		} else {
			running++
		}
	}
	if running >= 2 || len(free) == 0 {
		w.logf("enough background syncs running: join them")
		w.joinAll()
		return
	}
	d := free[w.rng.IntN(len(free))]
	p := w.drawPlan(w.rng.IntN(2) == 0)
	// A slow request keeps the sync going while the next operations run.
	p.faults[w.rng.IntN(4)] = fault{kind: faultSlow, param: 10 + w.rng.IntN(40)}
	w.logf("%s starts a background sync (%s)", d.label, p.describe())
	d.bg = &bgSync{done: w.startSync(d, p, "background")}
}

// opEditDuringSync edits a row while a sync pushes it: the push carries the
// row as it was, the edit stays a local change and goes out next time.
func (w *world) opEditDuringSync() {
	d := w.pickDevice()
	w.join(d)
	coll, id, ok := w.pickRow(d)
	if !ok {
		w.logf("%s has no row to edit", d.label)
		return
	}
	if !w.edit(d, coll, id, "") {
		return
	}
	p := w.drawPlan(false)
	p.faults[1] = fault{kind: faultSlow, param: 20 + w.rng.IntN(30)}
	w.logf("%s starts a background sync and edits %s while its push is on the way (%s)", d.label, w.label(coll, id), p.describe())
	done := w.startSync(d, p, "background")
	d.bg = &bgSync{done: done}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-p.arrived:
			if n < 1 {
				continue
			}
		case o := <-done:
			// The sync ended before its push (a restart by another sync
			// may fail it): keep its outcome for the join.
			again := make(chan outcome, 1)
			again <- o
			d.bg.done = again
			w.logf("%s: the sync ended before its push", d.label)
		case <-timeout:
			w.violate("%s: the push of a background sync never reached the server", d.label)
			return
		}
		break
	}
	w.edit(d, coll, id, "d")
}

func (w *world) opConcurrentSyncs() {
	var pairs [][2]*device
	for i, a := range w.devices {
		for _, b := range w.devices[i+1:] {
			if a.user == b.user {
				pairs = append(pairs, [2]*device{a, b})
			}
		}
	}
	if len(pairs) == 0 {
		w.logf("no user has two devices: single sync")
		w.opSync()
		return
	}
	pr := pairs[w.rng.IntN(len(pairs))]
	w.join(pr[0])
	w.join(pr[1])
	pa, pb := w.drawPlan(w.rng.IntN(2) == 0), w.drawPlan(w.rng.IntN(2) == 0)
	w.logf("%s and %s sync at the same time", pr[0].label, pr[1].label)
	ca, cb := w.startSync(pr[0], pa, "concurrent"), w.startSync(pr[1], pb, "concurrent")
	oa, ob := <-ca, <-cb
	w.finishSync(oa, false)
	w.finishSync(ob, false)
}

// opBurst plays the shape of many devices at once: each device creates 1 to
// 8 notes (one multi-row change set), then every device syncs at the same
// time, a third of them with faults, so concurrent pushes of several rows
// commit while the other devices pull.
func (w *world) opBurst() {
	for _, d := range w.devices {
		w.join(d)
	}
	for _, d := range w.devices {
		for range 1 + w.rng.IntN(8) {
			w.newNote(d)
		}
	}
	w.logf("burst: %d devices sync at the same time", len(w.devices))
	running := make([]chan outcome, len(w.devices))
	for i, d := range w.devices {
		running[i] = w.startSync(d, w.drawPlan(w.rng.IntN(3) == 0), "burst")
	}
	for _, c := range running {
		w.finishSync(<-c, false)
	}
}

// finishSync logs a sync's outcome, acknowledges the local writes it
// carried, reopens a killed client and, when the sync ran alone, checks the
// device against the server.
func (w *world) finishSync(o outcome, alone bool) {
	d, p := o.dev, o.plan
	w.rep.Syncs++
	injected := p.injectedList()
	kind := "sync"
	if o.kind != "" {
		kind = o.kind + " sync"
	}
	head := fmt.Sprintf("%s %s (%s)", kind, d.label, p.describe())
	if o.step != w.step {
		head = fmt.Sprintf("%s started at step %d", head, o.step)
	}
	var tail string
	if len(injected) > 0 {
		tail = "; injected: " + strings.Join(injected, ", ")
	}
	if o.restarts > 0 {
		tail += fmt.Sprintf("; %d server restart(s) meanwhile", o.restarts)
	}
	d.synced = o.err == nil
	if o.err != nil {
		w.rep.FailedSyncs++
		w.logf("%s -> failed: %v%s", head, o.err, tail)
		if !w.expectedFailure(o, injected) {
			w.violate("%s %s failed without a cause the harness injected: %v", kind, d.label, o.err)
		}
	} else {
		w.logf("%s -> ok: %s%s", head, w.describeResult(o.res), tail)
		w.ack(d, o.startSeq)
		if d.upgradedAt > 0 && o.step >= d.upgradedAt {
			d.repulled = true
		}
		w.checkCheckpoint(d, o.res)
	}
	if p.killed.Load() {
		if err := d.db.Close(); err != nil {
			w.violate("%s: close killed client: %v", d.label, err)
		}
		d.hc.CloseIdleConnections()
		d.db = w.openDevice(d)
		w.logf("%s was killed; its database file is opened again", d.label)
		if w.app.afterOwnSync != nil {
			w.app.afterOwnSync(d, fmt.Sprintf("after %s %s, killed", kind, d.label))
		}
		return
	}
	if w.app.afterOwnSync != nil {
		w.app.afterOwnSync(d, fmt.Sprintf("after %s %s", kind, d.label))
	}
	if o.err == nil && alone && !w.busy() {
		w.app.afterSync(d, fmt.Sprintf("after %s %s", kind, d.label))
	}
}

// checkReferences checks the device's side of the ondelete rules: no live
// note references a user row the device holds deleted.
func (w *world) checkReferences(d *device, when string) {
	rows, err := d.db.SQL().QueryContext(w.ctx, `SELECT n.id, n.user_id FROM ss_tb_note n JOIN ss_tb_user u ON u.id = n.user_id
		WHERE n.deleted_at IS NULL AND u.deleted_at IS NOT NULL`)
	if err != nil {
		w.violate("%s: %s: check references: %v", when, d.label, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var note, user uuid.UUID
		if err := rows.Scan(&note, &user); err != nil {
			w.violate("%s: %s: check references: %v", when, d.label, err)
			return
		}
		w.violate("%s: %s holds note %s live under user %s, which it holds deleted", when, d.label,
			w.label(generated.NoteTable().Name, note), w.label(generated.UserTable().Name, user))
	}
}

// expectedFailure reports whether a failed sync is explained by what the
// harness did to it: a fault in its plan, a kill, or a server restart.
func (w *world) expectedFailure(o outcome, injected []string) bool {
	if len(injected) == 0 && o.restarts == 0 && !o.plan.killed.Load() {
		return false
	}
	if o.plan.killed.Load() || errors.Is(o.err, context.Canceled) || errors.Is(o.err, errKilled) {
		return true
	}
	var te *client.TransportError
	if !errors.As(o.err, &te) {
		return false
	}
	switch {
	case te.StatusCode == 0:
		return true // no answer: a dropped or cut connection
	case te.StatusCode == http.StatusServiceUnavailable && te.Code == simUnavailable:
		return true
	case te.StatusCode == http.StatusOK && te.Op == "pull-stream":
		return true // a stream cut inside a line
	}
	return false
}

// describeResult says what a sync moved, naming the rows.
func (w *world) describeResult(r *client.Result) string {
	type key struct{ dir, coll, op string }
	moved := map[key][]string{}
	var order []key
	for _, e := range r.Log {
		k := key{e.Direction, e.Collection, e.Op}
		if _, ok := moved[k]; !ok {
			order = append(order, k)
		}
		moved[k] = append(moved[k], w.label(e.Collection, e.ID))
	}
	var parts []string
	for _, k := range order {
		ids := moved[k]
		if len(ids) > 8 {
			ids = append(ids[:8:8], fmt.Sprintf("and %d more", len(ids)-8))
		}
		parts = append(parts, fmt.Sprintf("%s %s %s %s", k.dir, short(k.coll), k.op, strings.Join(ids, " ")))
	}
	for _, ig := range r.Ignored {
		parts = append(parts, fmt.Sprintf("server ignored %s (%s)", w.label(ig.Collection, ig.ID), ig.Reason))
	}
	if r.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d pulled rows skipped (local changes)", r.Skipped))
	}
	if len(r.Resynced) > 0 {
		parts = append(parts, "full resync of "+strings.Join(r.Resynced, ","))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing moved")
	}
	return strings.Join(parts, "; ") + "; checkpoint " + r.Checkpoint
}

// checkCheckpoint checks that a device's checkpoint never goes back (but
// on a full resync): a pull that hands out an older checkpoint makes the
// device take rows it has as new and, worse, skip the deletions of rows
// created since (they are left out as never seen). Checkpoints are opaque to
// clients; the harness knows their form, "<version>" or "<version>.<id>".
func (w *world) checkCheckpoint(d *device, r *client.Result) {
	vs, _, _ := strings.Cut(r.Checkpoint, ".")
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		if r.Checkpoint != "" {
			w.violate("%s: checkpoint %q is not one the server makes", d.label, r.Checkpoint)
		}
		return
	}
	if v < d.checkpoint && len(r.Resynced) == 0 {
		w.violate("%s: the server moved the device's checkpoint back from %d to %d", d.label, d.checkpoint, v)
	}
	d.checkpoint = v
}

func short(coll string) string { return strings.TrimPrefix(coll, "ss_tb_") }

// moved reports whether a sync pushed or pulled anything.
func moved(r *client.Result) bool {
	return len(r.Pushed) > 0 || len(r.Pulled) > 0 || r.Skipped > 0 || len(r.Resynced) > 0 || len(r.Ignored) > 0
}

// ack marks d's writes made before a successful sync started as
// acknowledged: the latest of them per row must now be on the server.
func (w *world) ack(d *device, startSeq int64) {
	latest := map[string]*localWrite{}
	var order []string
	var rest []*localWrite
	for _, lw := range d.unacked {
		if lw.seq > startSeq {
			rest = append(rest, lw)
			continue
		}
		k := lw.coll + "/" + lw.id.String()
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = lw
	}
	for _, k := range order {
		w.acked = append(w.acked, latest[k])
	}
	d.unacked = rest
}
