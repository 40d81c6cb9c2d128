package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// concurrent measures pulls while many devices push: two server instances
// over one database, cfg.pushers devices pushing change sets of 1–20 new
// rows (every third push also updates up to 5 earlier rows) back to back,
// and 4 devices pulling in a loop, alternating between the instances and
// between /pull and /pull-stream. It reports each endpoint's latency, how
// long an acknowledged push took to reach the pullers (lag), and the push
// rate.
func concurrent(ctx context.Context, cfg config, st string) (result, error) {
	one, err := startServer(ctx, cfg, st, "concurrent")
	if err != nil {
		return result{}, err
	}
	defer one.close()
	two, err := one.instance(ctx)
	if err != nil {
		return result{}, err
	}
	defer two.close()
	urls := []string{one.url, two.url}
	load := &loadRun{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.pushers + 8}, Timeout: time.Minute}}
	runCtx, cancel := context.WithTimeout(ctx, cfg.concDuration)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.pushers+4)
	for p := range cfg.pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(p), 7))
			for i := 0; runCtx.Err() == nil; i++ {
				if err := load.push(runCtx, r, urls[i%2], fmt.Sprintf("pusher-%d", p)); err != nil && runCtx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	for q := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl := &loadPuller{run: load, device: fmt.Sprintf("puller-%d", q)}
			for i := 0; runCtx.Err() == nil; i++ {
				if err := pl.pull(runCtx, urls[(i+q)%2], (i+q)%2 == 1); err != nil && runCtx.Err() == nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	return load.result(st, cfg)
}

// loadRun collects what the pushers and pullers measured.
type loadRun struct {
	http *http.Client

	mu     sync.Mutex
	n      int
	acks   []loadAck // in the order the answers came
	pushes []time.Duration
	pulls  []time.Duration
	stream []time.Duration
	lags   []time.Duration
}

type loadAck struct {
	version uint64
	at      time.Time
}

func (l *loadRun) push(ctx context.Context, r *rand.Rand, url, device string) error {
	l.mu.Lock()
	l.n++
	tag := fmt.Sprintf("push %d", l.n)
	var old []string
	if l.n%3 == 0 {
		// 1,000 shared rows that pushers update concurrently.
		for range 1 + r.IntN(5) {
			old = append(old, loadID(r.IntN(1000)))
		}
	}
	l.mu.Unlock()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	row := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"createdAt":%q,"updatedAt":%q,"deletedAt":null,"syncId":"load","message":%q,"completed":false,"userId":null,"userName":"","file":null}`,
			id, now, now, tag)
	}
	var created, updated []string
	for range 1 + r.IntN(20) {
		created = append(created, row(uuid.NewString()))
	}
	slices.Sort(old)
	for _, id := range slices.Compact(old) {
		updated = append(updated, row(id))
	}
	body := fmt.Sprintf(`[{"collection":"ss_tb_note","timestamp":"","changes":{"created":[%s],"updated":[%s],"deleted":[]}}]`,
		strings.Join(created, ","), strings.Join(updated, ","))
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/sync/push?collections=ss_tb_note", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(wire.HeaderUser, "load")
	req.Header.Set(wire.HeaderDevice, device)
	req.Header.Set(wire.HeaderIdempotencyKey, uuid.NewString())
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("push: %d %s", resp.StatusCode, b)
	}
	var cp string
	if err := json.Unmarshal(b, &cp); err != nil {
		return fmt.Errorf("push answer %s: %w", b, err)
	}
	cur, err := store.ParseCheckpoint(cp)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pushes = append(l.pushes, time.Since(start))
	l.acks = append(l.acks, loadAck{version: cur.Version, at: time.Now()})
	return nil
}

// loadID is a row id the updates of the load can name without a lookup:
// updating a row the server lacks creates it.
func loadID(i int) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "load-%d", i)).String()
}

// loadPuller is one pulling device.
type loadPuller struct {
	run        *loadRun
	device     string
	checkpoint string
	seen       int       // acks taken from the run
	pending    []loadAck // acknowledged pushes above the checkpoint
}

func (p *loadPuller) pull(ctx context.Context, base string, stream bool) error {
	endpoint := "/api/sync/pull"
	if stream {
		endpoint = "/api/sync/pull-stream"
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+endpoint+"?collections=ss_tb_note&batch=1000&timestamp="+p.checkpoint, nil)
	if err != nil {
		return err
	}
	req.Header.Set(wire.HeaderUser, "load")
	req.Header.Set(wire.HeaderDevice, p.device)
	resp, err := p.run.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", endpoint, resp.StatusCode, b)
	}
	var line struct {
		Timestamp string `json:"timestamp"`
		Done      bool   `json:"done"`
	}
	if !stream {
		var sets []struct {
			Timestamp string `json:"timestamp"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&sets); err != nil {
			return err
		}
		for _, s := range sets {
			p.checkpoint = s.Timestamp
		}
	} else {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			line.Done = false
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				return err
			}
			p.checkpoint = line.Timestamp
			if line.Done {
				break
			}
		}
		if !line.Done {
			return errors.New("pull-stream ended without its done line")
		}
	}
	took := time.Since(start)
	cur, err := store.ParseCheckpoint(p.checkpoint)
	if err != nil {
		return err
	}
	now := time.Now()
	l := p.run
	l.mu.Lock()
	defer l.mu.Unlock()
	if stream {
		l.stream = append(l.stream, took)
	} else {
		l.pulls = append(l.pulls, took)
	}
	p.pending = append(p.pending, l.acks[p.seen:]...)
	p.seen = len(l.acks)
	keep := p.pending[:0]
	for _, a := range p.pending {
		if a.version <= cur.Version {
			l.lags = append(l.lags, now.Sub(a.at))
		} else {
			keep = append(keep, a)
		}
	}
	p.pending = keep
	return nil
}

func percentile(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return ms(d[min(len(d)-1, len(d)*p/100)])
}

func (l *loadRun) result(st string, cfg config) (result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pulls) == 0 || len(l.stream) == 0 || len(l.pushes) == 0 {
		return result{}, errors.New("concurrent: no pull, stream or push finished")
	}
	r := result{Scenario: "concurrent", Store: st, Rows: cfg.pushers,
		Figures: map[string]float64{
			"pull_p50_ms":   percentile(l.pulls, 50),
			"pull_p99_ms":   percentile(l.pulls, 99),
			"stream_p50_ms": percentile(l.stream, 50),
			"stream_p99_ms": percentile(l.stream, 99),
			"lag_p50_ms":    percentile(l.lags, 50),
			"lag_p99_ms":    percentile(l.lags, 99),
			"push_p50_ms":   percentile(l.pushes, 50),
			"push_p99_ms":   percentile(l.pushes, 99),
			"pushes_per_s":  float64(len(l.pushes)) / cfg.concDuration.Seconds(),
			"pulls":         float64(len(l.pulls) + len(l.stream)),
		},
		Target: "pull and pull-stream p99 under 100 ms with 32 pushers on two instances"}
	r.Met = r.Figures["pull_p99_ms"] < 100 && r.Figures["stream_p99_ms"] < 100
	return r, nil
}

// openMySQL creates a fresh database for the run and returns its DSN.
func openMySQL(ctx context.Context, dsn string) (string, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("mysql: %w", err)
	}
	admin, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	c.DBName = "ssync_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+c.DBName+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return "", fmt.Errorf("mysql: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	return c.FormatDSN(), nil
}
