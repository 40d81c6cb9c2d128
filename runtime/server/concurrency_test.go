package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

var (
	concurrencyTime    = flag.Duration("concurrency-time", 0, "how long TestConcurrentInstances pushes per store (default 3s, or $SSYNC_CONCURRENCY_SECONDS)")
	concurrencyPushers = flag.Int("concurrency-pushers", 16, "concurrent pushers in TestConcurrentInstances")
)

// TestConcurrentInstances plays many devices against two server instances
// on one database: concurrent pushers of multi-row change sets (new rows and
// updates of rows other pushers wrote) and looping pullers that alternate
// between the instances and between /pull and /pull-stream. After every
// complete pull it checks the pull horizon: every acknowledged push at or
// below the pull's checkpoint is there whole (no skipped row, no part of a
// change set), and no push above it shows. At the end each puller holds
// exactly the acknowledged rows with their last acknowledged content.
//
// It runs briefly in make test; make soak runs it for minutes per store
// (SSYNC_CONCURRENCY_SECONDS or -concurrency-time).
func TestConcurrentInstances(t *testing.T) {
	d := *concurrencyTime
	if d == 0 {
		d = 3 * time.Second
		if s, err := strconv.Atoi(os.Getenv("SSYNC_CONCURRENCY_SECONDS")); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db, again := b.Open(t)
		one := serve(t, db, b, server.Config{})
		two := serve(t, again(), b, server.Config{})
		ccRun(t, []string{one.url, two.url}, *concurrencyPushers, 4, d)
	})
}

// ccWrite is one acknowledged write of a row: the version of the push that
// wrote it and the content it wrote.
type ccWrite struct {
	version uint64
	message string
}

// ccLedger is what the pushers had acknowledged.
type ccLedger struct {
	mu      sync.Mutex
	pushes  map[string]uint64    // message tag ("p<n>") → version its push committed at
	rows    map[string][]ccWrite // row id → its acknowledged writes
	ids     []string             // every acknowledged row id
	log     []ccAck              // acknowledged pushes, in the order of their answers
	maxSeen uint64
	done    bool // pushing has finished: maxSeen is final
}

func (l *ccLedger) ack(tag string, v uint64, ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pushes[tag] = v
	l.log = append(l.log, ccAck{tag: tag, version: v, ids: ids})
	for _, id := range ids {
		if _, ok := l.rows[id]; !ok {
			l.ids = append(l.ids, id)
		}
		l.rows[id] = append(l.rows[id], ccWrite{version: v, message: tag})
	}
	l.maxSeen = max(l.maxSeen, v)
}

func (l *ccLedger) randomIDs(r *rand.Rand, n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ids) == 0 {
		return nil
	}
	out := map[string]bool{}
	for range n {
		out[l.ids[r.IntN(len(l.ids))]] = true
	}
	ids := make([]string, 0, len(out))
	for id := range out {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ccAck is one acknowledged push.
type ccAck struct {
	tag     string
	version uint64
	ids     []string
}

// acksFrom returns the acknowledged pushes from position i of the ledger on,
// and the position after them.
func (l *ccLedger) acksFrom(i int) ([]ccAck, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log[i:]), len(l.log)
}

// versionOf returns the version of the push that wrote tag, if acknowledged.
func (l *ccLedger) versionOf(tag string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.pushes[tag]
	return v, ok
}

// check compares a puller's rows after a complete pull up to upto with the
// acknowledged pushes, returning the first violation: every push at or
// below upto is there whole (each of its rows holds its write or a later
// one), and no row it changed holds a push above upto.
func (p *ccPuller) check(upto uint64) error {
	l := p.c.ledger
	acks, next := l.acksFrom(p.seen)
	p.seen = next
	p.pending = append(p.pending, acks...)
	for id := range p.changed {
		if v, ok := l.versionOf(p.rows[id]); ok && v > upto {
			return fmt.Errorf("row %s holds %s of version %d, above the pull's checkpoint %d", id, p.rows[id], v, upto)
		}
	}
	clear(p.changed)
	keep := p.pending[:0]
	for _, a := range p.pending {
		if a.version > upto {
			keep = append(keep, a)
			continue
		}
		for _, id := range a.ids {
			got, ok := p.rows[id]
			if !ok {
				return fmt.Errorf("row %s written by %s (version %d) is missing after a pull up to %d", id, a.tag, a.version, upto)
			}
			if gv, known := l.versionOf(got); known && gv < a.version {
				return fmt.Errorf("row %s holds %s (version %d) but %s (version %d) is at or below the pull's checkpoint %d",
					id, got, gv, a.tag, a.version, upto)
			}
		}
	}
	p.pending = keep
	return nil
}

// final returns the content each acknowledged row must end with.
func (l *ccLedger) final() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.rows))
	for id, writes := range l.rows {
		last := writes[0]
		for _, w := range writes[1:] {
			if w.version > last.version {
				last = w
			}
		}
		out[id] = last.message
	}
	return out
}

type ccClient struct {
	t      *testing.T
	http   *http.Client
	urls   []string
	ledger *ccLedger
	pool   []string // ids pushers update whether or not they exist yet
}

func ccRun(t *testing.T, urls []string, pushers, pullers int, d time.Duration) {
	c := &ccClient{t: t, urls: urls, ledger: &ccLedger{pushes: map[string]uint64{}, rows: map[string][]ccWrite{}},
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pushers + pullers}, Timeout: time.Minute}}
	for range 20 {
		c.pool = append(c.pool, uuid.NewString())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, pushers+pullers)
	var pushWG, pullWG sync.WaitGroup
	pushing := make(chan struct{})
	var counter struct {
		sync.Mutex
		n int
	}
	next := func() int {
		counter.Lock()
		defer counter.Unlock()
		counter.n++
		return counter.n
	}
	for p := range pushers {
		pushWG.Add(1)
		go func() {
			defer pushWG.Done()
			r := rand.New(rand.NewPCG(uint64(p), 11))
			for i := 0; ; i++ {
				select {
				case <-pushing:
					return
				default:
				}
				if err := c.push(ctx, r, fmt.Sprintf("pusher-%d", p), urls[i%len(urls)], next()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var pulls, checked sync.Map
	for q := range pullers {
		pullWG.Add(1)
		go func() {
			defer pullWG.Done()
			pl := &ccPuller{c: c, device: fmt.Sprintf("puller-%d", q), rows: map[string]string{}, changed: map[string]bool{}}
			for i := 0; ctx.Err() == nil; i++ {
				upto, err := pl.pull(ctx, urls[(i+q)%len(urls)], (i+q)%2 == 1)
				if err != nil {
					errs <- err
					return
				}
				if err := pl.check(upto); err != nil {
					errs <- fmt.Errorf("%s, pull %d (%s): %w", pl.device, i, pl.last, err)
					return
				}
				pulls.Store(q, i+1)
				if upto >= c.ledger.doneAt() {
					// Pushing has stopped and this puller has caught up.
					if err := ccSame(pl.rows, c.ledger.final()); err != nil {
						errs <- fmt.Errorf("%s at the end: %w", pl.device, err)
					}
					checked.Store(q, true)
					return
				}
			}
		}()
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case err := <-errs:
		cancel()
		t.Fatal(err)
	}
	close(pushing)
	pushWG.Wait()
	c.ledger.finish()
	done := make(chan struct{})
	go func() { pullWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("pullers did not catch up within 2 minutes")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	pulls.Range(func(_, v any) bool { n += v.(int); return true })
	for q := range pullers {
		if _, ok := checked.Load(q); !ok {
			t.Fatalf("puller-%d never caught up", q)
		}
	}
	c.ledger.mu.Lock()
	t.Logf("%d pushes of %d rows acknowledged, %d checked pulls, in %v", len(c.ledger.pushes), len(c.ledger.rows), n, d)
	c.ledger.mu.Unlock()
}

// doneAt is the version a puller must reach to have seen every push: known
// once pushing has finished, else above any version.
func (l *ccLedger) doneAt() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		return ^uint64(0)
	}
	return l.maxSeen
}

func (l *ccLedger) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
}

func ccSame(got, want map[string]string) error {
	if len(got) != len(want) {
		return fmt.Errorf("holds %d rows, %d acknowledged", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			return fmt.Errorf("row %s holds %q, its last acknowledged write is %q", id, got[id], w)
		}
	}
	return nil
}

// push sends one change set of 1–20 new rows and, every third push, updates
// of up to 5 acknowledged rows, retrying with the same idempotency key until
// it is acknowledged.
func (c *ccClient) push(ctx context.Context, r *rand.Rand, device, url string, n int) error {
	tag := "p" + strconv.Itoa(n)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	row := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"createdAt":%q,"updatedAt":%q,"deletedAt":null,"syncId":"cc","message":%q,"completed":false,"userId":null,"userName":"","file":null}`,
			id, now, now, tag)
	}
	var created, updated []string
	var ids []string
	for range 1 + r.IntN(20) {
		id := uuid.NewString()
		ids = append(ids, id)
		created = append(created, row(id))
	}
	if n%3 == 0 {
		// Updates of acknowledged rows, and of rows from a small shared
		// pool that whichever push comes first creates (two pushes may
		// create one id at once).
		pick := c.ledger.randomIDs(r, 1+r.IntN(5))
		for range 1 + r.IntN(2) {
			pick = append(pick, c.pool[r.IntN(len(c.pool))])
		}
		slices.Sort(pick)
		for _, id := range slices.Compact(pick) {
			ids = append(ids, id)
			updated = append(updated, row(id))
		}
	}
	body := fmt.Sprintf(`[{"collection":"ss_tb_note","timestamp":"","changes":{"created":[%s],"updated":[%s],"deleted":[]}}]`,
		strings.Join(created, ","), strings.Join(updated, ","))
	key := uuid.NewString()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/push?collections=ss_tb_note", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(wire.HeaderUser, "cc")
		req.Header.Set(wire.HeaderDevice, device)
		req.Header.Set(wire.HeaderIdempotencyKey, key)
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s push %s: %w", device, tag, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			var cp string
			if err := json.Unmarshal(b, &cp); err != nil {
				return fmt.Errorf("%s push %s: answer %s: %w", device, tag, b, err)
			}
			cur, err := store.ParseCheckpoint(cp)
			if err != nil {
				return fmt.Errorf("%s push %s: %w", device, tag, err)
			}
			c.ledger.ack(tag, cur.Version, ids)
			return nil
		}
		if resp.StatusCode < 500 || attempt >= 20 {
			return fmt.Errorf("%s push %s: %d %s", device, tag, resp.StatusCode, b)
		}
	}
}

// ccPuller is one reading device: its rows and checkpoint.
type ccPuller struct {
	c          *ccClient
	device     string
	rows       map[string]string // id → message
	checkpoint string
	last       string // what the last pull was, for failure messages

	changed map[string]bool // rows the pulls since the last check wrote
	seen    int             // ledger position up to which acks are taken
	pending []ccAck         // acknowledged pushes not yet below a pull's checkpoint
}

type ccSet struct {
	Collection string `json:"collection"`
	Timestamp  string `json:"timestamp"`
	Changes    struct {
		Created []ccRow  `json:"created"`
		Updated []ccRow  `json:"updated"`
		Deleted []string `json:"deleted"`
	} `json:"changes"`
	Done  bool            `json:"done"`
	Error json.RawMessage `json:"error"`
}

type ccRow struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func (p *ccPuller) apply(s *ccSet) {
	for _, rows := range [][]ccRow{s.Changes.Created, s.Changes.Updated} {
		for _, r := range rows {
			p.rows[r.ID] = r.Message
			p.changed[r.ID] = true
		}
	}
	for _, id := range s.Changes.Deleted {
		delete(p.rows, id)
	}
}

// pull runs one complete pull (or stream) and returns the version its final
// checkpoint stands for.
func (p *ccPuller) pull(ctx context.Context, base string, stream bool) (uint64, error) {
	endpoint := "/pull"
	if stream {
		endpoint = "/pull-stream"
	}
	p.last = fmt.Sprintf("%s%s from %q", base, endpoint, p.checkpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+endpoint+"?collections=ss_tb_note&batch=7&timestamp="+p.checkpoint, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(wire.HeaderUser, "cc")
	req.Header.Set(wire.HeaderDevice, p.device)
	resp, err := p.c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.last, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("%s: %d %s", p.last, resp.StatusCode, b)
	}
	if !stream {
		var sets []ccSet
		if err := json.NewDecoder(resp.Body).Decode(&sets); err != nil {
			return 0, fmt.Errorf("%s: %w", p.last, err)
		}
		for i := range sets {
			p.apply(&sets[i])
			p.checkpoint = sets[i].Timestamp
		}
		if resp.Header.Get(wire.HeaderMore) == "true" {
			// Cut at the server's caps: the rest from the checkpoint.
			resp.Body.Close()
			return p.pull(ctx, base, stream)
		}
	} else {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<24)
		done := false
		for sc.Scan() {
			var s ccSet
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				return 0, fmt.Errorf("%s: %w", p.last, err)
			}
			if s.Error != nil {
				return 0, fmt.Errorf("%s: %s", p.last, s.Error)
			}
			if s.Done {
				done = true
				p.checkpoint = s.Timestamp
				break
			}
			p.apply(&s)
			p.checkpoint = s.Timestamp
		}
		if !done {
			return 0, fmt.Errorf("%s: stream ended without its done line (%v)", p.last, sc.Err())
		}
	}
	cur, err := store.ParseCheckpoint(p.checkpoint)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.last, err)
	}
	if !bytes.Equal(cur.After[:], uuid.Nil[:]) {
		return 0, fmt.Errorf("%s: a complete pull ended inside a version (%s)", p.last, p.checkpoint)
	}
	return cur.Version, nil
}
