package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// linkProfile is a network between device and server: its bandwidth each
// way and its round-trip time.
type linkProfile struct {
	mbit float64
	rtt  time.Duration
}

func (p linkProfile) String() string {
	return strconv.FormatFloat(p.mbit, 'g', -1, 64) + "mbit-" + strconv.FormatInt(p.rtt.Milliseconds(), 10) + "ms"
}

// parseLinks reads "10mbit/50ms,1mbit/150ms".
func parseLinks(s string) ([]linkProfile, error) {
	var out []linkProfile
	for _, part := range strings.Split(s, ",") {
		bw, rtt, ok := strings.Cut(strings.TrimSpace(part), "/")
		mbit, err := strconv.ParseFloat(strings.TrimSuffix(bw, "mbit"), 64)
		if !ok || err != nil || mbit <= 0 {
			return nil, fmt.Errorf("link %q: want <n>mbit/<rtt>, e.g. 10mbit/50ms", part)
		}
		d, err := time.ParseDuration(rtt)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("link %q: round trip: %w", part, err)
		}
		out = append(out, linkProfile{mbit: mbit, rtt: d})
	}
	return out, nil
}

// link is one direction of a throttled network: it sends one chunk at a
// time at its bandwidth, and each chunk arrives its one-way delay after it
// was sent. Every connection through the proxy shares it, as they share a
// real link.
type link struct {
	bytesPerSec float64
	delay       time.Duration
	mu          sync.Mutex
	free        time.Time // when the link has sent what it was given
	carried     atomic.Int64
}

// schedule queues n bytes and returns when they arrive at the other end.
func (l *link) schedule(n int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.free.Before(now) {
		l.free = now
	}
	l.free = l.free.Add(time.Duration(float64(n) / l.bytesPerSec * float64(time.Second)))
	return l.free.Add(l.delay)
}

// throttle is a TCP proxy on 127.0.0.1 that forwards to a server through
// two links (up: device to server, down: server to device). It models
// bandwidth and delay only: no loss, no TCP slow start over it, and the
// bytes it counts are those of HTTP (TCP/IP headers not counted).
type throttle struct {
	ln       net.Listener
	upstream string
	up, down *link
	wg       sync.WaitGroup
}

func newThrottle(upstream string, p linkProfile) (*throttle, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	bps := p.mbit * 1e6 / 8
	t := &throttle{ln: ln, upstream: upstream,
		up: &link{bytesPerSec: bps, delay: p.rtt / 2}, down: &link{bytesPerSec: bps, delay: p.rtt / 2}}
	go t.serve()
	return t, nil
}

func (t *throttle) url() string { return "http://" + t.ln.Addr().String() }

// carried returns the bytes that crossed the link both ways so far.
func (t *throttle) carried() int64 { return t.up.carried.Load() + t.down.carried.Load() }

func (t *throttle) close() {
	t.ln.Close()
	t.wg.Wait()
}

func (t *throttle) serve() {
	for {
		dev, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			// The connection's handshake crosses the link too: one round
			// trip before the first byte.
			time.Sleep(time.Until(t.up.schedule(0)))
			srv, err := net.Dial("tcp", t.upstream)
			if err != nil {
				dev.Close()
				return
			}
			time.Sleep(time.Until(t.down.schedule(0)))
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); forward(srv, dev, t.up) }()
			go func() { defer both.Done(); forward(dev, srv, t.down) }()
			both.Wait()
			dev.Close()
			srv.Close()
		}()
	}
}

// forward copies src to dst through l, then half-closes dst.
func forward(dst, src net.Conn, l *link) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 256)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 16<<10)
			n, err := src.Read(buf)
			if n > 0 {
				l.carried.Add(int64(n))
				ch <- chunk{buf[:n], l.schedule(n)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	for range ch {
		// Drain, so the reader ends.
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// slowLink measures, through a throttling proxy for each profile, the
// time and bytes of a first sync of cfg.rows notes, an incremental sync of
// 10 rows, a no-op sync, a push of cfg.pushRows notes into the server
// holding the cfg.rows, and a 5 MB attachment up and down.
func slowLink(ctx context.Context, cfg config) ([]result, error) {
	blobs, err := blob.NewDir(filepath.Join(cfg.dir, "slowlink-blobs"))
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, cfg, "sqlite", "slowlink", store.WithBlobStore(blobs))
	if err != nil {
		return nil, err
	}
	defer srv.close()
	if err := seed(ctx, srv.st, "bench-user", cfg.rows); err != nil {
		return nil, err
	}
	// What a first sync moves without compression, measured on loopback:
	// the reference of the bytes target.
	ref, err := openDevice(ctx, filepath.Join(cfg.dir, "slow-reference.db"), "bench-user")
	if err != nil {
		return nil, err
	}
	refOpts := syncOptions(srv.url, "bench-user")
	refOpts.DisableCompression = true
	_, plainBytes, err := timeFirstSync(ctx, ref, srv.wire, cfg.rows, refOpts)
	ref.Close()
	if err != nil {
		return nil, err
	}
	var out []result
	for i, p := range cfg.links {
		// Each profile's incremental syncs add 50 rows for the next
		// profile's first sync.
		rs, err := slowLinkProfile(ctx, cfg, srv, p, plainBytes, cfg.rows+i*slowReps*10)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, r := range rs {
			r.print(cfg.json)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// slowReps is how many no-op and incremental syncs a profile times.
const slowReps = 5

// slowLinkProfile runs the slow-link scenarios over one profile; the
// server holds rows notes of bench-user.
func slowLinkProfile(ctx context.Context, cfg config, srv *benchServer, p linkProfile, plainBytes int64, rows int) ([]result, error) {
	th, err := newThrottle(strings.TrimPrefix(srv.url, "http://"), p)
	if err != nil {
		return nil, err
	}
	defer th.close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	opts := func(user string) client.SyncOptions {
		o := syncOptions(th.url(), user)
		o.HTTPClient = hc
		return o
	}
	bandwidth := p.mbit * 1e6 / 8
	figures := func(took time.Duration, bytes int64) map[string]float64 {
		return map[string]float64{"seconds": took.Seconds(), "wire_mb": mb(bytes), "link_mbit": p.mbit, "rtt_ms": ms(p.rtt),
			"transfer_floor_s": float64(bytes) / bandwidth}
	}
	name := "slow-" + p.String()
	var out []result
	measure := func(f func() error) (time.Duration, int64, error) {
		before := th.carried()
		start := time.Now()
		err := f()
		return time.Since(start), th.carried() - before, err
	}

	// First sync.
	dev, err := openDevice(ctx, filepath.Join(cfg.dir, "slow-first-"+p.String()+".db"), "bench-user")
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	took, n, err := measure(func() error {
		_, _, err := timeFirstSync(ctx, dev, nil, rows, opts("bench-user"))
		return err
	})
	if err != nil {
		return nil, err
	}
	r := result{Scenario: name + "-first-sync", Store: "sqlite", Rows: rows, Figures: figures(took, n)}
	r.Figures["uncompressed_wire_mb"] = mb(plainBytes)
	r.Figures["bytes_ratio"] = float64(n) / float64(plainBytes)
	r.Figures["ratio_to_transfer_floor"] = took.Seconds() / (float64(n) / bandwidth)
	r.Ratio = r.Figures["ratio_to_transfer_floor"]
	r.Target = "bytes at most 1/4 of the uncompressed JSON"
	r.Met = r.Figures["bytes_ratio"] <= 0.25
	if p.mbit == 10 {
		r.Target += "; time within 1.3x of bytes/bandwidth"
		r.Met = r.Met && r.Ratio <= 1.3
	}
	out = append(out, r)

	// No-op and incremental syncs: medians of a few.
	const reps = slowReps
	var noop, incr []time.Duration
	var noopBytes, incrBytes int64
	for rep := range reps {
		took, n, err := measure(func() error {
			res, err := dev.Synchronize(ctx, opts("bench-user"))
			if err == nil && len(res.Pulled) != 0 {
				err = fmt.Errorf("no-op sync pulled %+v", res.Pulled)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		noop, noopBytes = append(noop, took), noopBytes+n
		fresh := make([]any, 10)
		for i := range fresh {
			fresh[i] = note("bench-user", 10_000_000+rows+rep*10+i)
		}
		if _, err := srv.st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "bench-user"}, Device: "editor",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: fresh}}}); err != nil {
			return nil, err
		}
		took, n, err = measure(func() error {
			res, err := dev.Synchronize(ctx, opts("bench-user"))
			if err == nil && (len(res.Pulled) != 1 || res.Pulled[0].Created != 10) {
				err = fmt.Errorf("incremental sync pulled %+v", res.Pulled)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		incr, incrBytes = append(incr, took), incrBytes+n
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	r = result{Scenario: name + "-noop-sync", Store: "sqlite", Rows: cfg.rows, Figures: figures(med(noop), noopBytes/reps)}
	r.Ratio = med(noop).Seconds() / p.rtt.Seconds()
	r.Figures["ratio_to_rtt"] = r.Ratio
	r.Target, r.Met = "median within 1.5x of one round trip", r.Ratio <= 1.5
	out = append(out, r)
	r = result{Scenario: name + "-incremental", Store: "sqlite", Rows: 10, Figures: figures(med(incr), incrBytes/reps)}
	r.Ratio = med(incr).Seconds() / p.rtt.Seconds()
	r.Figures["ratio_to_rtt"] = r.Ratio
	r.Target, r.Met = "reported (one exchange: one round trip and the rows)", true
	out = append(out, r)

	// Push into the server holding cfg.rows.
	pusher, err := openDevice(ctx, filepath.Join(cfg.dir, "slow-push-"+p.String()+".db"), "pusher-"+p.String())
	if err != nil {
		return nil, err
	}
	defer pusher.Close()
	if _, err := localInserts(ctx, pusher, cfg.pushRows); err != nil {
		return nil, err
	}
	took, n, err = measure(func() error {
		res, err := pusher.Synchronize(ctx, opts("pusher-"+p.String()))
		if err == nil && (len(res.Pushed) != 1 || res.Pushed[0].Created != cfg.pushRows) {
			err = fmt.Errorf("pushed %+v", res.Pushed)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r = result{Scenario: name + "-push", Store: "sqlite", Rows: cfg.pushRows, Figures: figures(took, n)}
	r.Ratio = took.Seconds() / (float64(n) / bandwidth)
	r.Figures["ratio_to_transfer_floor"] = r.Ratio
	r.Target, r.Met = "reported", true
	out = append(out, r)

	// A 5 MB attachment (random bytes, like a photo: it does not
	// compress), uploaded by one device and downloaded by another.
	user := "attacher-" + p.String()
	up, err := openDevice(ctx, filepath.Join(cfg.dir, "slow-attach-up-"+p.String()+".db"), user)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	const size = 5 << 20
	content := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	notes := generated.SyncNotes(up)
	nt := &models.Note{Message: "photo"}
	if err := notes.Insert(ctx, nt); err != nil {
		return nil, err
	}
	if err := notes.Attach(ctx, nt.ID, bytes.NewReader(content), "photo.jpg", "image/jpeg"); err != nil {
		return nil, err
	}
	took, n, err = measure(func() error {
		res, err := up.Synchronize(ctx, opts(user))
		if err == nil && res.UploadedBytes != size {
			err = fmt.Errorf("uploaded %d bytes, want %d", res.UploadedBytes, size)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r = result{Scenario: name + "-attachment-up", Store: "sqlite", Rows: 1, Figures: figures(took, n)}
	r.Ratio = took.Seconds() / (float64(size) / bandwidth)
	r.Figures["ratio_to_transfer_floor"] = r.Ratio
	r.Target, r.Met = "reported (5 MB of random bytes)", true
	out = append(out, r)
	down, err := openDevice(ctx, filepath.Join(cfg.dir, "slow-attach-down-"+p.String()+".db"), user)
	if err != nil {
		return nil, err
	}
	defer down.Close()
	took, n, err = measure(func() error {
		res, err := down.Synchronize(ctx, opts(user))
		if err == nil && res.DownloadedBytes != size {
			err = fmt.Errorf("downloaded %d bytes, want %d", res.DownloadedBytes, size)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r = result{Scenario: name + "-attachment-down", Store: "sqlite", Rows: 1, Figures: figures(took, n)}
	r.Ratio = took.Seconds() / (float64(size) / bandwidth)
	r.Figures["ratio_to_transfer_floor"] = r.Ratio
	r.Target, r.Met = "reported (5 MB of random bytes)", true
	out = append(out, r)
	return out, nil
}
