package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/wire"
)

// liveScenario measures live sync: cfg.clients devices, each of a user of
// its own, run client.DB.Run against the server (with two instances, a
// second instance over the same database); another device of each user
// writes a note about every interval and synchronizes. The figure is the
// time from that push's acknowledgement to the note applied on the live
// device (seen by a Subscribe of its pulls), p50 and p99.
func liveScenario(ctx context.Context, cfg config, st string, instances int) (result, error) {
	srv, err := startServer(ctx, cfg, st, fmt.Sprintf("live-%s-%d", st, instances))
	if err != nil {
		return result{}, err
	}
	defer srv.close()
	readSrv := srv
	if instances == 2 {
		if readSrv, err = srv.instance(ctx); err != nil {
			return result{}, err
		}
		defer readSrv.close()
	}
	tr := &http.Transport{MaxIdleConns: cfg.clients * 4, MaxIdleConnsPerHost: cfg.clients * 4}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	defer tr.CloseIdleConnections()
	live, stopLive := context.WithCancel(ctx)
	defer stopLive()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopLive()

	var mu sync.Mutex
	acked := map[string]time.Time{}   // message → when the writer's push was acknowledged
	arrived := map[string]time.Time{} // message → when the live device applied it
	writers := make([]*client.DB, cfg.clients)
	for i := range cfg.clients {
		user := fmt.Sprintf("live-%03d", i)
		w, err := openDevice(ctx, filepath.Join(cfg.dir, fmt.Sprintf("live-%s-%d-w%03d.db", st, instances, i)), user)
		if err != nil {
			return result{}, err
		}
		defer w.Close()
		writers[i] = w
		r, err := openDevice(ctx, filepath.Join(cfg.dir, fmt.Sprintf("live-%s-%d-r%03d.db", st, instances, i)), user)
		if err != nil {
			return result{}, err
		}
		defer r.Close()
		opts := syncOptions(readSrv.url, user)
		opts.HTTPClient = hc
		sub := r.Subscribe("ss_tb_note")
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.Run(live, client.LiveOptions{Sync: opts})
		}()
		go func() {
			defer wg.Done()
			defer sub.Close()
			notes := generated.SyncNotes(r)
			for {
				c, err := sub.Next(live)
				if err != nil {
					return
				}
				now := time.Now()
				if c.Origin&client.OriginPull == 0 {
					continue
				}
				rows, err := notes.Select(live)
				if err != nil {
					continue
				}
				mu.Lock()
				for _, n := range rows {
					if _, ok := arrived[n.Message]; !ok {
						arrived[n.Message] = now
					}
				}
				mu.Unlock()
			}
		}()
	}
	// Let every live device connect and sync once.
	time.Sleep(2 * time.Second)

	deadline := time.Now().Add(cfg.duration)
	var writes sync.WaitGroup
	failures := 0
	for i, w := range writers {
		writes.Add(1)
		go func() {
			defer writes.Done()
			user := fmt.Sprintf("live-%03d", i)
			opts := syncOptions(srv.url, user)
			opts.HTTPClient = hc
			notes := generated.SyncNotes(w)
			next := time.Now().Add(cfg.interval * time.Duration(i) / time.Duration(len(writers)))
			for k := 0; ; k++ {
				time.Sleep(time.Until(next))
				if !time.Now().Before(deadline) {
					return
				}
				next = next.Add(max(cfg.interval, 100*time.Millisecond))
				n := note(user, k)
				n.Message = fmt.Sprintf("%s note %d", user, k)
				if err := notes.Insert(ctx, n); err == nil {
					_, err = w.Synchronize(ctx, opts)
					if err == nil {
						mu.Lock()
						acked[n.Message] = time.Now()
						mu.Unlock()
						continue
					}
				}
				mu.Lock()
				failures++
				mu.Unlock()
			}
		}()
	}
	writes.Wait()
	// Stragglers: up to ten seconds more.
	for wait := 0; wait < 100; wait++ {
		mu.Lock()
		missing := 0
		for m := range acked {
			if _, ok := arrived[m]; !ok {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopLive()
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	missed := 0
	for m, t0 := range acked {
		t1, ok := arrived[m]
		if !ok {
			missed++
			continue
		}
		lat = append(lat, max(0, t1.Sub(t0)))
	}
	if len(lat) == 0 {
		return result{}, errors.New("live: no note arrived")
	}
	slices.Sort(lat)
	name := "live"
	if instances == 2 {
		name = "live-2inst"
	}
	r := result{Scenario: name, Store: st, Rows: cfg.clients,
		Figures: map[string]float64{
			"p50_ms": ms(lat[len(lat)/2]), "p99_ms": ms(lat[len(lat)*99/100]), "max_ms": ms(lat[len(lat)-1]),
			"notes": float64(len(acked)), "missed": float64(missed), "failures": float64(failures),
		},
		Target: "push acknowledged on A to applied on a live B: p50 < 50 ms, p99 < 250 ms"}
	r.Met = r.Figures["p50_ms"] < 50 && r.Figures["p99_ms"] < 250 && missed == 0 && failures == 0
	return r, nil
}

// liveMemory measures what an idle change-notification stream costs the
// server: a server process (child-server, SQLite) holds n open streams of
// n users; the figure is its resident memory grown per stream.
func liveMemory(ctx context.Context, cfg config, n int) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "child-server", "sqlite", filepath.Join(cfg.dir, "live-memory.db"), cfg.pgDSN)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	var url string
	if _, err := fmt.Fscanln(out, &url); err != nil {
		return result{}, fmt.Errorf("child server: %w", err)
	}
	before, err := rssKB(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range n {
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, url+wire.DefaultBasePath+"/"+wire.PathEvents, nil)
		req.Header.Set(wire.HeaderUser, "idle-"+strconv.Itoa(i))
		resp, err := hc.Do(req)
		if err != nil {
			return result{}, fmt.Errorf("stream %d: %w", i, err)
		}
		defer resp.Body.Close()
		// Read the stream's opening lines: the server holds it now.
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "retry:") {
			return result{}, fmt.Errorf("stream %d: %q %v", i, line, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	after, err := rssKB(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	perKB := float64(after-before) / float64(n)
	r := result{Scenario: "live-idle", Store: "sqlite", Rows: n,
		Figures: map[string]float64{"rss_before_mb": float64(before) / 1024, "rss_after_mb": float64(after) / 1024, "kb_per_stream": perKB},
		Target:  "idle stream under 64 KB of server memory"}
	r.Met = perKB < 64
	return r, nil
}

// rssKB reads a process's resident set size (VmRSS) in KB.
func rssKB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}
