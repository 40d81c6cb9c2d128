package client_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// instance is a server instance on a fixed address of 127.0.0.1 that can
// be killed and started again on the same address.
type instance struct {
	t    *testing.T
	addr string
	st   func() *store.Store
	srv  *http.Server
}

func startInstance(t *testing.T, st func() *store.Store) *instance {
	in := &instance{t: t, addr: "127.0.0.1:0", st: st}
	in.start()
	t.Cleanup(in.kill)
	return in
}

func (in *instance) url() string { return "http://" + in.addr }

func (in *instance) start() {
	in.t.Helper()
	srv, err := server.New(server.Config{Store: in.st(), Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		in.t.Fatal(err)
	}
	var ln net.Listener
	for range 100 { // the port may linger a moment after a kill
		if ln, err = net.Listen("tcp", in.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		in.t.Fatal(err)
	}
	in.addr = ln.Addr().String()
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	in.srv = &http.Server{Handler: mux}
	go in.srv.Serve(ln)
}

// kill drops the instance and every connection to it at once.
func (in *instance) kill() {
	if in.srv != nil {
		in.srv.Close()
		in.srv = nil
	}
}

// running is a device kept in sync by Run in the background.
type running struct {
	mu     sync.Mutex
	states []client.LiveState
	syncs  int
	done   chan error
}

func runLive(t *testing.T, d *client.DB, url, user string) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{done: make(chan error, 1)}
	opts := client.LiveOptions{Sync: storetest.Sync(url, user), Debounce: 10 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Interval: -1,
		OnState: func(s client.LiveStatus) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.states = append(r.states, s.State)
			if s.State == client.LiveIdle {
				r.syncs++
			}
		}}
	go func() { r.done <- d.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// waitTitles waits, through Watch, until the device's live rows of table
// have exactly the titles want (a run that never gets there fails after a
// minute, far beyond any healthy one).
func waitTitles(t *testing.T, d *client.DB, table string, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slices.Sort(want)
	var got []string
	for rows, err := range client.NewRepo(d, storetest.RelTable(table)).Watch(ctx) {
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			t.Fatal(err)
		}
		got = got[:0]
		for _, r := range rows {
			got = append(got, r.Title)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("%s: titles %q, want %q", table, got, want)
}

func insertNode(t *testing.T, d *client.DB, table, title string, parent *uuid.UUID) uuid.UUID {
	t.Helper()
	n := &storetest.Node{Title: title, A: parent}
	if err := client.NewRepo(d, storetest.RelTable(table)).Insert(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return n.ID
}

// TestLive: two running devices of one user exchange local writes without
// calling Synchronize; a device of another user keeps running beside them
// and receives nothing of theirs; a killed server instance, started again
// while another instance took writes, loses nothing the device needs.
func TestLive(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		reg := storetest.Relations(t)
		db, again := b.Open(t)
		open := func(db *sql.DB) func() *store.Store {
			return func() *store.Store {
				st, err := store.Open(context.Background(), db, b.Dialect, reg, store.WithWatchInterval(10*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		}
		first := startInstance(t, open(db))
		second := startInstance(t, open(again()))

		a, bDev := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		ben := storetest.Device(t, reg, "ben")
		runLive(t, a, second.url(), "ann")
		runLive(t, bDev, first.url(), "ann")
		benRun := runLive(t, ben, first.url(), "ben")

		p := insertNode(t, a, "rel_project", "from a", nil)
		waitTitles(t, bDev, "rel_project", "from a")
		insertNode(t, bDev, "rel_task", "task from b", &p)
		waitTitles(t, a, "rel_task", "task from b")

		// The instance b listens to dies; a writes through the other one
		// meanwhile; the instance comes back on the same address.
		first.kill()
		insertNode(t, a, "rel_project", "while down 1", nil)
		insertNode(t, a, "rel_project", "while down 2", nil)
		waitSynced(t, a)
		first.start()
		waitTitles(t, bDev, "rel_project", "from a", "while down 1", "while down 2")

		// Ben's device ran all along; once it has pushed a row of its own
		// (a sync after all of ann's writes), it holds nothing of ann's.
		insertNode(t, ben, "rel_project", "ben's", nil)
		waitSynced(t, ben)
		waitTitles(t, ben, "rel_project", "ben's")
		waitTitles(t, ben, "rel_task")
		benRun.mu.Lock()
		defer benRun.mu.Unlock()
		if benRun.syncs == 0 {
			t.Fatal("ben's device never synced")
		}
	})
}

// waitSynced waits until the device has no local change left to push.
func waitSynced(t *testing.T, d *client.DB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var n int
		err := d.SQL().QueryRow(`SELECT (SELECT COUNT(*) FROM rel_project WHERE ss_dirty > 0) + (SELECT COUNT(*) FROM rel_task WHERE ss_dirty > 0)`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the device still has changes to push")
}

// TestSubscribe: a subscriber hears of each committed batch once, with
// every table it changed and where it came from, after the commit; a
// rolled-back transaction and a refused write announce nothing; pulled
// rows are announced as such; Close stops announcements.
func TestSubscribe(t *testing.T) {
	reg := storetest.Relations(t)
	st, _ := storetest.SQLite().Store(t, reg)
	url := storetest.Serve(t, st, server.Config{})
	d := storetest.Device(t, reg, "ann")
	ctx := context.Background()
	all, tasks := d.Subscribe(), d.Subscribe("rel_task")
	defer all.Close()
	defer tasks.Close()
	take := func(s *client.Subscription, who string) client.Change {
		t.Helper()
		select {
		case <-s.Ready():
		default:
			t.Fatalf("%s: nothing announced", who)
		}
		c, ok := s.Take()
		if !ok {
			t.Fatalf("%s: announced, but nothing to take", who)
		}
		if _, again := s.Take(); again {
			t.Fatalf("%s: a second change after one commit", who)
		}
		select {
		case <-s.Ready():
			t.Fatalf("%s: announced twice", who)
		default:
		}
		return c
	}
	quiet := func(s *client.Subscription, who string) {
		t.Helper()
		select {
		case <-s.Ready():
			c, _ := s.Take()
			t.Fatalf("%s: announced %+v", who, c)
		default:
		}
	}

	err := d.Transaction(ctx, func(ctx context.Context) error {
		p := &storetest.Node{Title: "p"}
		if err := client.NewRepo(d, storetest.RelTable("rel_project")).Insert(ctx, p); err != nil {
			return err
		}
		quiet(all, "inside the transaction") // nothing before the commit
		for _, title := range []string{"t1", "t2"} {
			if err := client.NewRepo(d, storetest.RelTable("rel_task")).Insert(ctx, &storetest.Node{Title: title, A: &p.ID}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := take(all, "all"); !slices.Equal(c.Tables, []string{"rel_project", "rel_task"}) || c.Origin != client.OriginLocal {
		t.Fatalf("all: %+v", c)
	}
	if c := take(tasks, "tasks"); !slices.Equal(c.Tables, []string{"rel_task"}) {
		t.Fatalf("tasks: %+v", c)
	}

	boom := errors.New("changed my mind")
	err = d.Transaction(ctx, func(ctx context.Context) error {
		if err := client.NewRepo(d, storetest.RelTable("rel_project")).Insert(ctx, &storetest.Node{Title: "never"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	missing := uuid.New()
	if err := client.NewRepo(d, storetest.RelTable("rel_task")).Insert(ctx, &storetest.Node{Title: "orphan", A: &missing}); err == nil {
		t.Fatal("a task under a missing project was written")
	}
	quiet(all, "after a rollback and a refused write")

	// Another device's rows arrive by a pull.
	other := storetest.Device(t, reg, "ann")
	insertNode(t, other, "rel_project", "from other", nil)
	if _, err := other.Synchronize(ctx, storetest.Sync(url, "ann")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Synchronize(ctx, storetest.Sync(url, "ann")); err != nil {
		t.Fatal(err)
	}
	if c := take(all, "after the pull"); !slices.Contains(c.Tables, "rel_project") || c.Origin&client.OriginPull == 0 {
		t.Fatalf("after the pull: %+v", c)
	}
	quiet(tasks, "tasks after a pull of projects only")

	all.Close()
	insertNode(t, d, "rel_project", "after close", nil)
	quiet(all, "closed")
}

// requestCounter counts the requests of each device (X-Ssync-Device) to
// each endpoint (the last element of the path).
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int // device + " " + endpoint
}

func (c *requestCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[r.Header.Get(wire.HeaderDevice)+" "+path.Base(r.URL.Path)]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *requestCounter) get(device, endpoint string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[device+" "+endpoint]
}

// TestLiveOwnPush: a running device's local write makes exactly one
// exchange with the server (one push, one pull): the server's announcement
// of that push tells the device it is its own, so no second, empty sync
// follows. Another device of the user still receives the write, and the
// first device still receives the other's writes; on every store.
func TestLiveOwnPush(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		reg := storetest.Relations(t)
		st, _ := b.Store(t, reg, store.WithWatchInterval(10*time.Millisecond))
		counter := &requestCounter{n: map[string]int{}}
		url := storetest.Serve(t, st, server.Config{}, counter.wrap)
		a, other := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		runA, runOther := runLive(t, a, url, "ann"), runLive(t, other, url, "ann")
		waitFor := func(what string, ok func() bool) {
			t.Helper()
			deadline := time.Now().Add(time.Minute)
			for !ok() {
				if time.Now().After(deadline) {
					t.Fatalf("no %s after a minute", what)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		for _, d := range []*client.DB{a, other} {
			waitFor("event stream", func() bool { return counter.get(d.DeviceID(), wire.PathEvents) > 0 })
		}
		for _, r := range []*running{runA, runOther} {
			waitFor("first sync", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.syncs > 0 })
		}
		// Quiet: whatever the start announced has been synced.
		time.Sleep(500 * time.Millisecond)

		for i, title := range []string{"first", "second", "third"} {
			pushes, pulls := counter.get(a.DeviceID(), wire.PathPush), counter.get(a.DeviceID(), wire.PathPullStream)
			insertNode(t, a, "rel_project", title, nil)
			want := []string{"first", "second", "third"}[:i+1]
			waitTitles(t, other, "rel_project", want...)
			// An extra sync would follow the announcement within
			// milliseconds (10ms poll, 10ms debounce); wait far longer.
			time.Sleep(time.Second)
			if p, q := counter.get(a.DeviceID(), wire.PathPush)-pushes, counter.get(a.DeviceID(), wire.PathPullStream)-pulls; p != 1 || q != 1 {
				t.Errorf("write %q: the writing device made %d pushes and %d pulls, want 1 and 1", title, p, q)
			}
		}
		insertNode(t, other, "rel_project", "from the other", nil)
		waitTitles(t, a, "rel_project", "first", "second", "third", "from the other")
	})
}
