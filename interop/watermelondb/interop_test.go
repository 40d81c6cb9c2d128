// Package watermelondb_test runs the real WatermelonDB client against an
// ssync server: sync.test.js and bulk.js, in Node, on WatermelonDB's LokiJS
// and SQLite (better-sqlite3) adapters, with the packages of
// package-lock.json (npm ci in this folder installs them).
package watermelondb_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/interop/watermelondb"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/watermelon"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// nodeOrSkip returns node's path. Without node or node_modules it skips
// loudly, unless SSYNC_REQUIRE_INTEROP is set (CI), when it fails.
func nodeOrSkip(t *testing.T) {
	t.Helper()
	if _, err := watermelondb.Node("."); err != nil {
		if os.Getenv("SSYNC_REQUIRE_INTEROP") != "" {
			t.Fatal(err)
		}
		t.Skipf("SKIPPING the WatermelonDB interop test: %v", err)
	}
}

// serve serves st's ssync API and its WatermelonDB front (under
// /watermelon, and with answers of at most 2 rows under
// /watermelon-bounded) on 127.0.0.1 and returns the root URL.
func serve(t *testing.T, st *store.Store) string {
	t.Helper()
	wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		t.Fatal(err)
	}
	bounded, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth(), MaxPullRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Serve(t, st, server.Config{}, func(next http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
		mux.Handle("/watermelon-bounded/", http.StripPrefix("/watermelon-bounded", bounded))
		mux.Handle("/", next)
		return mux
	})
}

// TestWatermelonDBClient serves a store on 127.0.0.1, seeds a note through
// an ssync Go device, runs sync.test.js (WatermelonDB's synchronize()) on
// each Node adapter and checks on the Go device what the WatermelonDB apps
// left.
func TestWatermelonDBClient(t *testing.T) {
	nodeOrSkip(t)
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, adapter := range watermelondb.Adapters {
			t.Run(adapter, func(t *testing.T) {
				ctx := context.Background()
				st, _ := b.Store(t, generated.Registry())
				base := serve(t, st)
				dev := storetest.Device(t, generated.Registry(), "alice")
				sync := func() {
					t.Helper()
					if _, err := dev.Synchronize(ctx, storetest.Sync(base, "alice")); err != nil {
						t.Fatal(err)
					}
				}
				seed := &models.Note{Message: "from the Go device", UserName: "Go"}
				if err := generated.SyncNotes(dev).Insert(ctx, seed); err != nil {
					t.Fatal(err)
				}
				sync()

				var res struct {
					Created string `json:"created"`
				}
				run, cancel := context.WithTimeout(ctx, 5*time.Minute)
				defer cancel()
				if err := watermelondb.Run(run, ".", "sync.test.js", &res, "SSYNC_URL="+base+"/watermelon",
					"SSYNC_URL_BOUNDED="+base+"/watermelon-bounded", "SEED_NOTE="+seed.ID.String(), "ADAPTER="+adapter); err != nil {
					t.Fatal(err)
				}

				// The Go device sees the apps' note as merged, and the seed deleted.
				sync()
				id, err := uuid.Parse(res.Created)
				if err != nil {
					t.Fatal(err)
				}
				got, err := generated.SyncNotes(dev).Get(ctx, id)
				if err != nil || got.Message != "edited on the phone" || !got.Completed {
					t.Fatalf("Go device has the apps' note as %+v (%v)", got, err)
				}
				if _, err := generated.SyncNotes(dev).Get(ctx, seed.ID); err == nil {
					t.Fatal("Go device still has the note the app deleted")
				}
			})
		}
	})
}

// TestWatermelonDBFirstSync seeds a user's notes on the server (1,000, or
// WATERMELON_BULK_ROWS), runs bulk.js (every Node adapter's first sync of
// them, normal, with sendCreatedAsUpdated and turbo) and logs its figures
// beside an ssync Go device's first sync of the same rows. ssync-bench
// -scenarios watermelon measures 100,000.
func TestWatermelonDBFirstSync(t *testing.T) {
	nodeOrSkip(t)
	rows := 1000
	if s := os.Getenv("WATERMELON_BULK_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WATERMELON_BULK_ROWS=%q: want a positive number", s)
		}
		rows = n
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := b.Store(t, generated.Registry())
		base := serve(t, st)
		if err := seedNotes(ctx, st, "carol", rows); err != nil {
			t.Fatal(err)
		}
		dev := storetest.Device(t, generated.Registry(), "carol")
		start := time.Now()
		res, err := dev.Synchronize(ctx, storetest.Sync(base, "carol"))
		if err != nil {
			t.Fatal(err)
		}
		goTook := time.Since(start)
		if n := res.Pulled[0].Created; n != rows {
			t.Fatalf("Go device pulled %d notes, want %d", n, rows)
		}
		run, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		bulk, err := watermelondb.TimeFirstSyncs(run, ".", base+"/watermelon", "carol", rows)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: first sync of %d notes: Go device %d ms; turbo pull request %d ms (%d bytes)", b.Name, rows, goTook.Milliseconds(), bulk.TurboPullRequestMs, bulk.TurboPullBytes)
		for _, a := range watermelondb.Adapters {
			r := bulk.Adapters[a]
			t.Logf("%s: WatermelonDB %s: %d ms (pull request %d ms), sendCreatedAsUpdated %d ms; turbo: %s", b.Name, a,
				r.Normal.Ms, r.Normal.PullRequestMs, r.CreatedAsUpdated.Ms, r.TurboRefused)
		}
	})
}

// seedNotes writes n notes of owner straight into st, in pushes of 10,000.
func seedNotes(ctx context.Context, st *store.Store, owner string, n int) error {
	for done := 0; done < n; {
		k := min(10_000, n-done)
		rows := make([]any, k)
		now := time.Now().UTC().Truncate(time.Millisecond)
		for i := range rows {
			rows[i] = &models.Note{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now, SyncID: owner},
				Message: fmt.Sprintf("remember to buy item number %06d", done+i), Completed: (done+i)%3 == 0, UserName: "bulk"}
		}
		if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: owner}, Device: "seeder",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}}); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		done += k
	}
	return nil
}
