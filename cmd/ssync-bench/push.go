package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// pushTarget is the target of the push scenarios: at most 1.5x the raw copy.
const pushTarget = 1.5

// push measures pushes of cfg.pushRows new notes into an in-process server
// that already holds cfg.rows notes of another user, and what the run's
// context costs the local inserts that make them.
func push(ctx context.Context, cfg config) (result, error) {
	srv, err := startServer(ctx, cfg, "sqlite", "push")
	if err != nil {
		return result{}, err
	}
	defer srv.close()
	// The server already holds the first sync's notes (of another user),
	// as a server in use does.
	if err := seed(ctx, srv.st, "holder", cfg.rows); err != nil {
		return result{}, err
	}
	r, err := measurePush(ctx, cfg, "push", srv.url, nil)
	if err != nil {
		return result{}, err
	}
	// The local inserts with the run's context and with one that cannot
	// be cancelled, each into a device of its own.
	var inserts [2]time.Duration
	for i, c := range []context.Context{ctx, context.Background()} {
		dev, err := openDevice(ctx, filepath.Join(cfg.dir, fmt.Sprintf("push-inserts-%d.db", i)), "inserter")
		if err != nil {
			return result{}, err
		}
		inserts[i], err = localInserts(c, dev, cfg.pushRows)
		dev.Close()
		if err != nil {
			return result{}, err
		}
	}
	r.Figures["insert_s"] = inserts[0].Seconds()
	r.Figures["insert_background_s"] = inserts[1].Seconds()
	r.Figures["insert_ratio_to_background"] = inserts[0].Seconds() / inserts[1].Seconds()
	return r, nil
}

// pushNotesServer is the push scenario in the notes CLI's shape: the server
// is a notes-server process (example/cmd/notes-server, built for the run
// unless -notes-server names a binary) over a SQLite file that already
// holds cfg.rows notes of another user.
func pushNotesServer(ctx context.Context, cfg config) (result, error) {
	bin := cfg.notesServer
	if bin == "" {
		bin = filepath.Join(cfg.dir, "notes-server")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/ssync-go/ssync/example/cmd/notes-server")
		if out, err := build.CombinedOutput(); err != nil {
			return result{}, fmt.Errorf("build notes-server (run from the module, or give -notes-server): %w\n%s", err, out)
		}
	}
	path := filepath.Join(cfg.dir, "push-notes-server.db")
	if err := seedFile(ctx, path, "holder", cfg.rows); err != nil {
		return result{}, err
	}
	var args []string
	if cfg.pushProfile != "" {
		args = append(args, "-cpuprofile", cfg.pushProfile+"-notes-server.pprof")
	}
	url, proc, err := startNotesServer(ctx, bin, path, args...)
	if err != nil {
		return result{}, err
	}
	defer proc.stop()
	r, err := measurePush(ctx, cfg, "push-notes-server", url, proc.cpu)
	if err != nil {
		return result{}, err
	}
	if err := proc.stop(); err != nil {
		return result{}, fmt.Errorf("notes-server: %w", err)
	}
	return r, nil
}

// seedFile writes n notes of owner into a new SQLite store file at path.
func seedFile(ctx context.Context, path, owner string, n int) error {
	db, err := sql.Open("sqlite3", ssqlite.DSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := store.Open(ctx, db, ssqlite.Dialect(), generated.Registry())
	if err != nil {
		return err
	}
	return seed(ctx, st, owner, n)
}

// serverProcess is a running notes-server.
type serverProcess struct {
	cmd     *exec.Cmd
	stopped bool
	err     error
}

var listeningLine = regexp.MustCompile(`notes-server listening on (http://\S+)`)

// startNotesServer starts bin over the SQLite file at path, trusting the
// user header, on a free port of 127.0.0.1, with the further arguments
// args, and returns its URL once it listens.
func startNotesServer(ctx context.Context, bin, path string, args ...string) (string, *serverProcess, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-insecure-dev", "-addr", "127.0.0.1:0", "-db", path}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	p := &serverProcess{cmd: cmd}
	lines := bufio.NewScanner(stderr)
	var seen []string
	for lines.Scan() {
		if m := listeningLine.FindStringSubmatch(lines.Text()); m != nil {
			// Keep reading its log, so that the process never blocks
			// writing it.
			go io.Copy(io.Discard, stderr)
			return m[1], p, nil
		}
		seen = append(seen, lines.Text())
	}
	p.stop()
	return "", nil, fmt.Errorf("notes-server exited before listening: %s", strings.Join(seen, "\n"))
}

// stop interrupts the server and waits for it to end (once).
func (p *serverProcess) stop() error {
	if p.stopped {
		return p.err
	}
	p.stopped = true
	p.cmd.Process.Signal(os.Interrupt)
	p.err = p.cmd.Wait()
	return p.err
}

// cpu returns the CPU time the server process has used so far (user and
// system, from /proc/PID/stat).
func (p *serverProcess) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 14th and 15th fields of the
	// line, the 12th and 13th after the name.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat line %q", b)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// processCPU returns the CPU time this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measurePush runs the push cfg.pushReps times, each by a device of a new
// user (so that it pulls nothing back) that inserted cfg.pushRows notes
// offline, beside a raw copy of the same rows (before the push in even
// repetitions, after it in odd ones). serverCPU, when not nil, is the CPU
// time of a server in another process. The ratio is the median of the
// repetitions' ratios, in wall time and in CPU time.
func measurePush(ctx context.Context, cfg config, scenario, url string, serverCPU func() (time.Duration, error)) (result, error) {
	if cfg.pushReps < 1 {
		return result{}, errors.New("-push-reps must be at least 1")
	}
	cpuNow := func() (time.Duration, error) {
		c := processCPU()
		if serverCPU == nil {
			return c, nil
		}
		s, err := serverCPU()
		return c + s, err
	}
	var walls, bases, ratios, cpuRatios []float64
	for rep := range cfg.pushReps {
		user := fmt.Sprintf("%s-%d", scenario, rep)
		dev, err := openDevice(ctx, filepath.Join(cfg.dir, user+".db"), user)
		if err != nil {
			return result{}, err
		}
		if _, err := localInserts(ctx, dev, cfg.pushRows); err != nil {
			dev.Close()
			return result{}, err
		}
		var took, tookCPU, base, baseCPU time.Duration
		pushOnce := func() error {
			before, err := cpuNow()
			if err != nil {
				return err
			}
			stopProfile, err := startProfile(cfg, fmt.Sprintf("%s-%d", scenario, rep))
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := dev.Synchronize(ctx, syncOptions(url, user))
			took = time.Since(start)
			stopProfile()
			if err != nil {
				return err
			}
			after, err := cpuNow()
			if err != nil {
				return err
			}
			tookCPU = after - before
			if len(res.Pushed) != 1 || res.Pushed[0].Created != cfg.pushRows || len(res.Pulled) != 0 {
				return fmt.Errorf("pushed %+v, pulled %+v; want %d rows pushed, none pulled", res.Pushed, res.Pulled, cfg.pushRows)
			}
			return nil
		}
		copyOnce := func() error {
			before := processCPU()
			stopProfile, err := startProfile(cfg, fmt.Sprintf("%s-%d-raw", scenario, rep))
			if err != nil {
				return err
			}
			base, _, err = rawCopy(ctx, dev.SQL(), filepath.Join(cfg.dir, user+"-raw.db"))
			stopProfile()
			baseCPU = processCPU() - before
			return err
		}
		steps := []func() error{copyOnce, pushOnce}
		if rep%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				dev.Close()
				return result{}, err
			}
		}
		dev.Close()
		walls = append(walls, took.Seconds())
		bases = append(bases, base.Seconds())
		ratios = append(ratios, took.Seconds()/base.Seconds())
		cpuRatios = append(cpuRatios, tookCPU.Seconds()/baseCPU.Seconds())
	}
	r := result{Scenario: scenario, Store: "sqlite", Rows: cfg.pushRows, Baseline: median(bases),
		Figures: map[string]float64{"seconds": median(walls), "baseline_s": median(bases), "rows_per_s": float64(cfg.pushRows) / median(walls),
			"ratio_min": slices.Min(ratios), "ratio_max": slices.Max(ratios), "cpu_ratio": median(cpuRatios),
			"cpu_ratio_min": slices.Min(cpuRatios), "cpu_ratio_max": slices.Max(cpuRatios),
			"reps": float64(len(ratios)), "server_rows": float64(cfg.rows)},
		Ratio:  median(ratios),
		Target: fmt.Sprintf("median at most %.1fx the raw copy, into a server holding -rows notes", pushTarget)}
	r.Met = r.Ratio <= pushTarget
	return r, nil
}

// startProfile starts a CPU profile into -push-profile's prefix plus
// "-"+name+".pprof" when -push-profile is set, and returns what stops it.
func startProfile(cfg config, name string) (func(), error) {
	if cfg.pushProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(cfg.pushProfile + "-" + name + ".pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-push-profile (not with -cpuprofile): %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// median returns the median of v (the mean of the middle two when even).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
