// Command ssync-bench measures ssync end to end, on loopback HTTP with real
// SQLite files (and PostgreSQL as the server store where asked), and compares
// each scenario with a baseline measured in the same run:
//
//   - first: a fresh device pulls N notes; baseline: the same rows read from
//     one SQLite file, JSON-encoded and decoded, inserted into another in one
//     transaction (no protocol at all).
//   - incremental: 10 rows change on the server, the device syncs; the median
//     of many repetitions, at N and at a larger database.
//   - push: a device creates rows offline and pushes them into the server
//     holding N notes of another user; baseline as for first, copying the
//     device's rows. Repeated (-push-reps), each time by a device of a new
//     user, each beside its own raw copy: the median ratio and the range,
//     in wall time and in CPU time (load from other processes moves the
//     first, hardly the second). Once in process, once into a notes-server
//     process (the notes CLI's shape), built from example/cmd/notes-server.
//     It also times the local inserts, with the run's context and with
//     context.Background.
//   - clients: many devices of many users sync a few changed rows in a loop.
//   - memory: the peak RSS of a client process pulling the large database.
//   - watermelon: WatermelonDB apps (the real client in Node, on its LokiJS
//     and SQLite adapters; interop/watermelondb, after npm ci there) make
//     their first sync of N notes from the WatermelonDB front; baseline: a
//     Go device's first sync of the same notes from the same server.
//   - slowlink (only when asked, -slow-link): through a throttling TCP proxy
//     on 127.0.0.1 for each of -links (bandwidth each way and round trip),
//     the time and bytes on the wire of a first sync of N notes, a no-op and
//     an incremental sync of 10 rows, a push of -push notes into the server
//     holding the N, and a 5 MB attachment up and down.
//
// Every call gets a cancellable context, as a real app passes (an interrupt
// cancels it); -context background measures with context.Background instead.
// The raw-copy baselines run without cancellation, at go-sqlite3's full speed.
//
// It prints a table, and one JSON line per scenario with -json.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the device databases' driver
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/watermelon"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	smysql "github.com/ssync-go/ssync/runtime/store/mysql"
	"github.com/ssync-go/ssync/runtime/store/postgres"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

type config struct {
	rows        int
	bigRows     int
	pushRows    int
	pushReps    int
	notesServer string
	pushProfile string
	reps        int
	clients     int
	duration    time.Duration
	interval    time.Duration
	stores      []string
	scenarios   []string
	json        bool
	dir         string
	pgDSN       string
	mysqlDSN    string

	watermelonDir string

	links []linkProfile

	pushers          int
	concDuration     time.Duration
	concurrentStores []string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child-pull" {
		os.Exit(childPull(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "child-server" {
		os.Exit(childServer(os.Args[2:]))
	}
	var cfg config
	var stores, scenarios, concStores string
	flag.IntVar(&cfg.rows, "rows", 100_000, "notes on the server for the first sync and the incremental sync")
	flag.IntVar(&cfg.bigRows, "big", 1_000_000, "notes for the large incremental sync and the memory scenario (0 skips them)")
	flag.IntVar(&cfg.pushRows, "push", 10_000, "notes a device pushes")
	flag.StringVar(&cfg.notesServer, "notes-server", "", "a notes-server `binary` for the push scenario in the notes CLI's shape (default: built from example/cmd/notes-server for the run)")
	flag.StringVar(&cfg.pushProfile, "push-profile", "", "write CPU profiles of the push scenarios to files named `prefix`-SCENARIO-REP.pprof, each of one push only (its raw copy to ...-raw.pprof); the notes-server process writes its own, of its whole run, to prefix-notes-server.pprof")
	flag.IntVar(&cfg.pushReps, "push-reps", 5, "repetitions of the push scenarios, each by a device of its own user, each beside its own raw copy")
	flag.IntVar(&cfg.reps, "reps", 50, "repetitions of the incremental sync")
	flag.IntVar(&cfg.clients, "clients", 200, "devices (each of its own user) in the many-clients scenario")
	flag.DurationVar(&cfg.duration, "duration", 30*time.Second, "length of the many-clients scenario")
	flag.DurationVar(&cfg.interval, "interval", time.Second, "how often each device of the many-clients scenario syncs (0: back to back)")
	flag.StringVar(&stores, "stores", "sqlite", "server stores for the many-clients, live and watermelon scenarios: sqlite,postgres")
	flag.StringVar(&scenarios, "scenarios", "first,incremental,push,fields,clients,memory,concurrent,live,watermelon", "scenarios to run")
	flag.StringVar(&cfg.watermelonDir, "watermelon-dir", "interop/watermelondb", "the `folder` of the WatermelonDB scripts, with their node_modules (npm ci there), for the watermelon scenario")
	flag.IntVar(&cfg.pushers, "pushers", 32, "concurrent pushers in the concurrent scenario")
	flag.DurationVar(&cfg.concDuration, "concurrent-duration", 20*time.Second, "length of the concurrent scenario, per store")
	flag.StringVar(&concStores, "concurrent-stores", "sqlite,postgres,mysql", "server stores for the concurrent scenario")
	flag.StringVar(&cfg.mysqlDSN, "mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB or MySQL server for the concurrent scenario")
	flag.BoolVar(&cfg.json, "json", false, "also print one JSON line per scenario")
	flag.StringVar(&cfg.pgDSN, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -stores postgres")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to `file`")
	links := flag.String("links", "10mbit/50ms,1mbit/150ms", "the throttled links of the slow-link scenarios: bandwidth each way/round trip, comma separated")
	slow := flag.Bool("slow-link", false, "run only the slow-link scenarios (-scenarios slowlink): through a throttling proxy on 127.0.0.1 for each of -links, a first sync, a no-op and an incremental sync, a push and a 5 MB attachment; a few minutes")
	ctxKind := flag.String("context", "cancellable", "the context every call gets: cancellable (signal.NotifyContext, as a real app passes) or background (context.Background, which go-sqlite3 runs without a goroutine per statement)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	cfg.stores = strings.Split(stores, ",")
	cfg.scenarios = strings.Split(scenarios, ",")
	if *slow {
		cfg.scenarios = []string{"slowlink"}
	}
	l, lerr := parseLinks(*links)
	if lerr != nil {
		fmt.Fprintln(os.Stderr, "ssync-bench: -links:", lerr)
		os.Exit(2)
	}
	cfg.links = l
	cfg.concurrentStores = strings.Split(concStores, ",")
	dir, err := os.MkdirTemp("", "ssync-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	cfg.dir = dir
	ctx := context.Background()
	switch *ctxKind {
	case "cancellable":
		// What a real app passes (the notes CLI does the same): a context
		// that an interrupt cancels.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	case "background":
	default:
		fmt.Fprintf(os.Stderr, "ssync-bench: -context %q: want cancellable or background\n", *ctxKind)
		os.Exit(2)
	}
	fmt.Printf("context: %s\n", *ctxKind)
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ssync-bench:", err)
		pprof.StopCPUProfile()
		os.RemoveAll(dir)
		os.Exit(1)
	}
}

// result is one scenario's figures.
type result struct {
	Scenario string             `json:"scenario"`
	Store    string             `json:"store"`
	Rows     int                `json:"rows"`
	Figures  map[string]float64 `json:"figures"`
	Baseline float64            `json:"baseline_seconds,omitempty"`
	Ratio    float64            `json:"ratio,omitempty"`
	Target   string             `json:"target"`
	Met      bool               `json:"met"`
}

func (r result) print(asJSON bool) {
	keys := make([]string, 0, len(r.Figures))
	for k := range r.Figures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%.4g", k, r.Figures[k]))
	}
	ratio := ""
	if r.Ratio > 0 {
		ratio = fmt.Sprintf("%.2fx", r.Ratio)
	}
	met := "MET"
	if !r.Met {
		met = "NOT MET"
	}
	fmt.Printf("%-12s %-9s %9d  %-7s %-44s %s (%s)\n", r.Scenario, r.Store, r.Rows, ratio, strings.Join(parts, " "), met, r.Target)
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
}

func run(ctx context.Context, cfg config) error {
	fmt.Printf("ssync-bench on %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-12s %-9s %9s  %-7s %-44s %s\n", "scenario", "store", "rows", "ratio", "figures", "target")
	want := func(s string) bool { return slices.Contains(cfg.scenarios, s) }
	if want("first") || want("incremental") {
		srv, err := startServer(ctx, cfg, "sqlite", "first")
		if err != nil {
			return err
		}
		if err := seed(ctx, srv.st, "bench-user", cfg.rows); err != nil {
			return err
		}
		if want("first") {
			r, err := firstSync(ctx, cfg, srv)
			if err != nil {
				return err
			}
			r.print(cfg.json)
		}
		if want("incremental") {
			r, err := incremental(ctx, cfg, srv, cfg.rows)
			if err != nil {
				return err
			}
			small := r.Figures["median_ms"]
			r.print(cfg.json)
			if cfg.bigRows > 0 {
				if err := seed(ctx, srv.st, "bench-user", cfg.bigRows-cfg.rows); err != nil {
					return err
				}
				big, err := incremental(ctx, cfg, srv, cfg.bigRows)
				if err != nil {
					return err
				}
				big.Figures["ratio_to_small"] = big.Figures["median_ms"] / small
				big.Ratio = big.Figures["ratio_to_small"]
				big.Target = "within 1.3x of the small database"
				big.Met = big.Ratio <= 1.3
				big.print(cfg.json)
				if want("memory") {
					m, err := memory(ctx, cfg, srv)
					if err != nil {
						return err
					}
					m.print(cfg.json)
				}
			}
		}
		srv.close()
	}
	if want("push") {
		r, err := push(ctx, cfg)
		if err != nil {
			return err
		}
		r.print(cfg.json)
		r, err = pushNotesServer(ctx, cfg)
		if err != nil {
			return fmt.Errorf("push into a notes-server process: %w", err)
		}
		r.print(cfg.json)
	}
	if want("fields") {
		r, err := fieldsScenario(ctx, cfg)
		if err != nil {
			return fmt.Errorf("fields: %w", err)
		}
		r.print(cfg.json)
	}
	if want("slowlink") {
		if _, err := slowLink(ctx, cfg); err != nil {
			return fmt.Errorf("slow link: %w", err)
		}
	}
	if want("clients") {
		for _, st := range cfg.stores {
			r, err := manyClients(ctx, cfg, st)
			if err != nil {
				return err
			}
			r.print(cfg.json)
		}
	}
	if want("live") {
		for _, st := range cfg.stores {
			for _, instances := range []int{1, 2} {
				if instances == 2 && st == "sqlite" {
					continue // two instances over one SQLite file: shown on PostgreSQL
				}
				r, err := liveScenario(ctx, cfg, st, instances)
				if err != nil {
					return fmt.Errorf("live %s: %w", st, err)
				}
				r.print(cfg.json)
			}
		}
		r, err := liveMemory(ctx, cfg, 5*cfg.clients)
		if err != nil {
			return fmt.Errorf("live memory: %w", err)
		}
		r.print(cfg.json)
	}
	if want("watermelon") {
		for _, st := range cfg.stores {
			r, err := watermelonScenario(ctx, cfg, st)
			if err != nil {
				return fmt.Errorf("watermelon %s: %w", st, err)
			}
			r.print(cfg.json)
		}
	}
	if want("concurrent") {
		for _, st := range cfg.concurrentStores {
			r, err := concurrent(ctx, cfg, st)
			if err != nil {
				return fmt.Errorf("concurrent %s: %w", st, err)
			}
			r.print(cfg.json)
		}
	}
	return nil
}

// benchServer is a sync server on loopback.
type benchServer struct {
	url  string
	st   *store.Store
	db   *sql.DB
	hs   *http.Server
	ln   net.Listener
	name string

	driver, dsn string        // how to open the database again
	dialect     store.Dialect // its dialect

	wire *byteCounter   // the bytes its connections carried
	opts []store.Option // the store's options
}

// byteCounter counts the bytes read and written on a listener's
// connections: the bytes on the wire, headers included.
type byteCounter struct{ in, out atomic.Int64 }

// total returns the bytes carried both ways so far.
func (c *byteCounter) total() int64 { return c.in.Load() + c.out.Load() }

type countingListener struct {
	net.Listener
	c *byteCounter
}

func (l countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: l.c}, nil
}

type countingConn struct {
	net.Conn
	c *byteCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.c.out.Add(int64(n))
	return n, err
}

func (s *benchServer) close() {
	s.hs.Close()
	s.db.Close()
}

func startServer(ctx context.Context, cfg config, st, name string, opts ...store.Option) (*benchServer, error) {
	b := &benchServer{name: st, opts: opts}
	var err error
	switch st {
	case "sqlite":
		b.driver, b.dsn, b.dialect = "sqlite3", ssqlite.DSN(filepath.Join(cfg.dir, name+"-server.db")), ssqlite.Dialect()
	case "postgres":
		b.driver, b.dialect = "pgx", postgres.Dialect()
		b.dsn, err = openPostgres(ctx, cfg.pgDSN)
	case "mysql":
		b.driver, b.dialect = "mysql", smysql.Dialect()
		b.dsn, err = openMySQL(ctx, cfg.mysqlDSN)
	default:
		return nil, fmt.Errorf("unknown store %q", st)
	}
	if err != nil {
		return nil, err
	}
	return b.serve(ctx)
}

// instance starts another server instance over the same database.
func (s *benchServer) instance(ctx context.Context) (*benchServer, error) {
	b := &benchServer{name: s.name, driver: s.driver, dsn: s.dsn, dialect: s.dialect}
	return b.serve(ctx)
}

// serve opens the database and serves the sync API on loopback.
func (b *benchServer) serve(ctx context.Context) (*benchServer, error) {
	db, err := sql.Open(b.driver, b.dsn)
	if err != nil {
		return nil, err
	}
	// A bounded pool: PostgreSQL refuses connections past max_connections,
	// and more connections than cores only queue inside the database.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	st, err := store.Open(ctx, db, b.dialect, generated.Registry(), b.opts...)
	if err != nil {
		db.Close()
		return nil, err
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth(),
		Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 256 << 20, MaxStreamBatch: 20_000})
	if err != nil {
		db.Close()
		return nil, err
	}
	wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.wire = &byteCounter{}
	go hs.Serve(countingListener{Listener: ln, c: b.wire})
	b.url, b.st, b.db, b.hs, b.ln = "http://"+ln.Addr().String(), st, db, hs, ln
	return b, nil
}

// openPostgres creates a fresh schema for the run and returns a DSN that
// uses it.
func openPostgres(ctx context.Context, dsn string) (string, error) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	schema := "ssync_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema, nil
}

// note makes the i-th benchmark note: a ~30-character message, a bool, a
// user name and the timestamps.
func note(owner string, i int) *models.Note {
	now := time.Now().UTC().Truncate(time.Microsecond)
	id, _ := uuid.NewV7()
	return &models.Note{
		Record:    ssync.Record{ID: id, CreatedAt: now, UpdatedAt: now, SyncID: owner},
		Message:   fmt.Sprintf("remember to buy item number %06d", i),
		Completed: i%3 == 0,
		UserName:  "bench user " + owner,
	}
}

// seed writes n notes for owner straight into the store, in pushes of 10,000.
func seed(ctx context.Context, st *store.Store, owner string, n int) error {
	for done := 0; done < n; {
		k := min(10_000, n-done)
		rows := make([]any, k)
		for i := range rows {
			rows[i] = note(owner, done+i)
		}
		_, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: owner}, Device: "seeder",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}})
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		done += k
	}
	return nil
}

func syncOptions(url, user string) client.SyncOptions {
	return client.SyncOptions{
		ServerURL:     url,
		PullBatchRows: 5000,
		Decorate: func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, user)
			return nil
		},
	}
}

func openDevice(ctx context.Context, path, user string) (*client.DB, error) {
	db, err := client.Open(ctx, path, generated.Registry(), client.Options{})
	if err != nil {
		return nil, err
	}
	if err := db.SetUser(ctx, user); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// rawCopy is the baseline: read the notes of src, encode them to JSON and
// back with encoding/json, and insert them into a fresh SQLite file in one
// transaction. It is the floor, so it runs at go-sqlite3's full speed: its
// statements get a context that cannot be cancelled.
func rawCopy(ctx context.Context, src *sql.DB, dstPath string) (time.Duration, int, error) {
	ctx = context.WithoutCancel(ctx)
	start := time.Now()
	rows, err := src.QueryContext(ctx, `SELECT id, created_at, updated_at, deleted_at, ss_sync_id, message, completed, user_id, user_name FROM ss_tb_note`)
	if err != nil {
		return 0, 0, err
	}
	var notes []models.Note
	for rows.Next() {
		var n models.Note
		if err := rows.Scan(&n.ID, &n.CreatedAt, &n.UpdatedAt, &n.DeletedAt, &n.SyncID, &n.Message, &n.Completed, &n.UserID, &n.UserName); err != nil {
			rows.Close()
			return 0, 0, err
		}
		notes = append(notes, n)
	}
	rows.Close()
	data, err := json.Marshal(notes)
	if err != nil {
		return 0, 0, err
	}
	var back []models.Note
	if err := json.Unmarshal(data, &back); err != nil {
		return 0, 0, err
	}
	dst, err := sql.Open("sqlite3", client.DSN(dstPath))
	if err != nil {
		return 0, 0, err
	}
	defer dst.Close()
	if _, err := dst.ExecContext(ctx, `CREATE TABLE notes (id TEXT PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP, deleted_at TIMESTAMP, sync_id TEXT, message TEXT, completed BOOLEAN, user_id TEXT, user_name TEXT)`); err != nil {
		return 0, 0, err
	}
	tx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, 0, err
	}
	for i := range back {
		n := &back[i]
		if _, err := stmt.ExecContext(ctx, n.ID.String(), n.CreatedAt, n.UpdatedAt, n.DeletedAt, n.SyncID, n.Message, n.Completed, n.UserID, n.UserName); err != nil {
			tx.Rollback()
			return 0, 0, err
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return time.Since(start), len(back), nil
}

func firstSync(ctx context.Context, cfg config, srv *benchServer) (result, error) {
	base, n, err := rawCopy(ctx, srv.db, filepath.Join(cfg.dir, "raw-first.db"))
	if err != nil {
		return result{}, fmt.Errorf("baseline: %w", err)
	}
	dev, err := openDevice(ctx, filepath.Join(cfg.dir, "first-device.db"), "bench-user")
	if err != nil {
		return result{}, err
	}
	defer dev.Close()
	took, bytes, err := timeFirstSync(ctx, dev, srv.wire, n, syncOptions(srv.url, "bench-user"))
	if err != nil {
		return result{}, err
	}
	// The same without compression, on a device of its own.
	plainDev, err := openDevice(ctx, filepath.Join(cfg.dir, "first-device-plain.db"), "bench-user")
	if err != nil {
		return result{}, err
	}
	defer plainDev.Close()
	plainOpts := syncOptions(srv.url, "bench-user")
	plainOpts.DisableCompression = true
	plainTook, plainBytes, err := timeFirstSync(ctx, plainDev, srv.wire, n, plainOpts)
	if err != nil {
		return result{}, err
	}
	r := result{Scenario: "first-sync", Store: "sqlite", Rows: n, Baseline: base.Seconds(),
		Figures: map[string]float64{"seconds": took.Seconds(), "baseline_s": base.Seconds(), "rows_per_s": float64(n) / took.Seconds(),
			"wire_mb": mb(bytes), "uncompressed_seconds": plainTook.Seconds(), "uncompressed_wire_mb": mb(plainBytes),
			"uncompressed_ratio": plainTook.Seconds() / base.Seconds()},
		Ratio: took.Seconds() / base.Seconds(), Target: "at most 0.9x the raw copy"}
	r.Met = r.Ratio <= 0.9
	return r, nil
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// timeFirstSync times dev's first sync of n rows with opts, and counts the
// bytes it moved on wire (when not nil).
func timeFirstSync(ctx context.Context, dev *client.DB, wire *byteCounter, n int, opts client.SyncOptions) (time.Duration, int64, error) {
	if wire == nil {
		wire = &byteCounter{}
	}
	before := wire.total()
	start := time.Now()
	res, err := dev.Synchronize(ctx, opts)
	if err != nil {
		return 0, 0, err
	}
	took := time.Since(start)
	got := 0
	for _, c := range res.Pulled {
		got += c.Created + c.Updated
	}
	if got != n {
		return 0, 0, fmt.Errorf("first sync pulled %d rows, want %d", got, n)
	}
	return took, wire.total() - before, nil
}

// incremental times syncing 10 rows changed on the server into a device that
// has all the others, over many repetitions.
func incremental(ctx context.Context, cfg config, srv *benchServer, total int) (result, error) {
	dev, err := openDevice(ctx, filepath.Join(cfg.dir, fmt.Sprintf("incr-%d.db", total)), "bench-user")
	if err != nil {
		return result{}, err
	}
	defer dev.Close()
	opts := syncOptions(srv.url, "bench-user")
	if _, err := dev.Synchronize(ctx, opts); err != nil {
		return result{}, err
	}
	var times []time.Duration
	for rep := range cfg.reps {
		rows := make([]any, 10)
		for i := range rows {
			rows[i] = note("bench-user", total+rep*10+i)
		}
		if _, err := srv.st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "bench-user"}, Device: "editor",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}}); err != nil {
			return result{}, err
		}
		start := time.Now()
		res, err := dev.Synchronize(ctx, opts)
		if err != nil {
			return result{}, err
		}
		times = append(times, time.Since(start))
		if len(res.Pulled) != 1 || res.Pulled[0].Created != 10 {
			return result{}, fmt.Errorf("incremental sync pulled %+v, want 10 rows", res.Pulled)
		}
	}
	slices.Sort(times)
	med := times[len(times)/2]
	r := result{Scenario: "incremental", Store: "sqlite", Rows: total,
		Figures: map[string]float64{"median_ms": ms(med), "p90_ms": ms(times[len(times)*9/10]), "reps": float64(len(times))},
		Target:  "median under 5 ms"}
	r.Met = ms(med) < 5
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// localInserts times n notes inserted through the repository in one
// Transaction, with ctx.
func localInserts(ctx context.Context, dev *client.DB, n int) (time.Duration, error) {
	notes := generated.SyncNotes(dev)
	start := time.Now()
	err := dev.Transaction(ctx, func(ctx context.Context) error {
		for i := range n {
			n := note(dev.ActiveUser(), i)
			n.ID = uuid.Nil
			if err := notes.Insert(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	return time.Since(start), err
}

// manyClients runs cfg.clients devices, each of its own user, each in a loop
// that changes a few rows and syncs every cfg.interval, for cfg.duration,
// against a server running in a child process (so its CPU is its own).
func manyClients(ctx context.Context, cfg config, st string) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "child-server", st, filepath.Join(cfg.dir, "clients-"+st+".db"), cfg.pgDSN)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var url string
	if _, err := fmt.Fscanln(out, &url); err != nil {
		cmd.Process.Kill()
		return result{}, fmt.Errorf("child server: %w", err)
	}
	stopped := false
	stop := func() (*syscall.Rusage, error) {
		if stopped {
			return nil, nil
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		return ru, err
	}
	defer stop()

	devs := make([]*client.DB, cfg.clients)
	for i := range devs {
		user := fmt.Sprintf("user-%03d", i)
		d, err := openDevice(ctx, filepath.Join(cfg.dir, fmt.Sprintf("client-%s-%03d.db", st, i)), user)
		if err != nil {
			return result{}, err
		}
		defer d.Close()
		devs[i] = d
	}
	tr := &http.Transport{MaxIdleConns: cfg.clients * 2, MaxIdleConnsPerHost: cfg.clients * 2}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	deadline := time.Now().Add(cfg.duration)
	var mu sync.Mutex
	var lat, warm []time.Duration
	var failures int
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%03d", i)
			opts := syncOptions(url, user)
			opts.HTTPClient = hc
			notes := generated.SyncNotes(d)
			// Spread the devices over one interval.
			next := time.Now()
			if cfg.interval > 0 {
				next = next.Add(cfg.interval * time.Duration(i) / time.Duration(len(devs)))
			}
			for k := 0; ; k++ {
				time.Sleep(time.Until(next))
				if !time.Now().Before(deadline) {
					return
				}
				next = next.Add(cfg.interval)
				for j := range 3 {
					n := note(user, k*3+j)
					n.ID = uuid.Nil
					if err := notes.Insert(ctx, n); err != nil {
						mu.Lock()
						failures++
						mu.Unlock()
						return
					}
				}
				start := time.Now()
				_, err := d.Synchronize(ctx, opts)
				took := time.Since(start)
				mu.Lock()
				switch {
				case err != nil:
					if failures == 0 {
						fmt.Fprintf(os.Stderr, "clients (%s): first failure: %v\n", st, err)
					}
					failures++
				case k == 0:
					// A device's first sync also sets up its connections
					// and the server's record of it: reported apart.
					warm = append(warm, took)
				default:
					lat = append(lat, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ru, _ := stop()
	slices.Sort(warm)
	if len(lat) == 0 {
		return result{}, errors.New("no sync succeeded")
	}
	var cpu float64
	if ru != nil {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	r := result{Scenario: "clients", Store: st, Rows: cfg.clients,
		Figures: map[string]float64{
			"syncs_per_s": float64(len(lat)) / cfg.duration.Seconds(),
			"p50_ms":      ms(lat[len(lat)/2]),
			"p99_ms":      ms(p99),
			"p90_ms":      ms(lat[len(lat)*9/10]),
			"first_sync_p99_ms": func() float64 {
				if len(warm) == 0 {
					return 0
				}
				return ms(warm[len(warm)*99/100])
			}(),
			"failures":       float64(failures),
			"server_cpu_s":   cpu,
			"server_cpu_pct": 100 * cpu / cfg.duration.Seconds(),
			"interval_s":     cfg.interval.Seconds(),
		},
		Target: "p99 under 100 ms (after each device's first sync)"}
	r.Met = ms(p99) < 100 && failures == 0
	return r, nil
}

// childServer is the many-clients scenario's server process: it prints its
// URL and serves until interrupted.
func childServer(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "child-server: want <store> <sqlite path> <postgres dsn>")
		return 2
	}
	ctx := context.Background()
	cfg := config{dir: filepath.Dir(args[1]), pgDSN: args[2]}
	srv, err := startServer(ctx, cfg, args[0], "clients-"+args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.url)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.close()
	return 0
}

// memory runs a client in a child process that pulls the large database and
// reports its peak RSS.
func memory(ctx context.Context, cfg config, srv *benchServer) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "child-pull", srv.url, filepath.Join(cfg.dir, "memory-device.db"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("child pull: %w", err)
	}
	// The child reports its own peak resident set (VmHWM): the rusage of a
	// child can include what the parent had mapped when it forked.
	var rows int
	var hwmKB float64
	if _, err := fmt.Sscan(string(out), &rows, &hwmKB); err != nil {
		return result{}, fmt.Errorf("child pull output %q: %w", out, err)
	}
	peak := hwmKB / 1024
	r := result{Scenario: "memory", Store: "sqlite", Rows: rows,
		Figures: map[string]float64{"peak_rss_mb": peak}, Target: "client peak RSS under 100 MB"}
	r.Met = peak < 100 && rows >= cfg.bigRows
	return r, nil
}

// childPull is the memory scenario's client process.
func childPull(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "child-pull: want <url> <db>")
		return 2
	}
	ctx := context.Background()
	dev, err := openDevice(ctx, args[1], "bench-user")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dev.Close()
	res, err := dev.Synchronize(ctx, syncOptions(args[0], "bench-user"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n := 0
	for _, c := range res.Pulled {
		n += c.Created + c.Updated
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	var rss []string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "VmHWM") {
			rss = append(rss, strings.Join(strings.Fields(l), " "))
		}
	}
	fmt.Fprintf(os.Stderr, "child-pull: heap in use %d MB, heap from the OS %d MB, Go total from the OS %d MB, GC cycles %d; %s\n",
		ms.HeapInuse>>20, ms.HeapSys>>20, ms.Sys>>20, ms.NumGC, strings.Join(rss, ", "))
	var hwm float64
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			fmt.Sscan(f[1], &hwm)
		}
	}
	fmt.Println(n, hwm)
	return 0
}
