package client_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// BenchmarkPullApply measures a fresh device pulling and applying 5,000
// notes over loopback HTTP from a SQLite store.
func BenchmarkPullApply(b *testing.B) {
	ctx := context.Background()
	st, _ := storetest.SQLite().Store(b, generated.Registry())
	opts := client.SyncOptions{ServerURL: storetest.Serve(b, st, server.Config{}), Decorate: func(r *http.Request) error {
		r.Header.Set(wire.HeaderUser, "alice")
		return nil
	}}
	src, err := client.Open(ctx, filepath.Join(b.TempDir(), "src.db"), generated.Registry(), client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	src.SetUser(ctx, "alice")
	err = src.Transaction(ctx, func(ctx context.Context) error {
		for i := range 5000 {
			if err := generated.SyncNotes(src).Insert(ctx, &models.Note{Message: fmt.Sprintf("remember to buy item number %06d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := src.Synchronize(ctx, opts); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"background", "cancellable"} {
		b.Run(kind, func(b *testing.B) {
			ctx := benchContext(b, kind)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dev, err := client.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("dev-%d.db", i)), generated.Registry(), client.Options{})
				if err != nil {
					b.Fatal(err)
				}
				dev.SetUser(ctx, "alice")
				res, err := dev.Synchronize(ctx, opts)
				if err != nil || res.Pulled[0].Created != 5000 {
					b.Fatalf("sync: %v", err)
				}
				dev.Close()
			}
			b.ReportMetric(float64(b.N*5000)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchContext is context.Background, or a context that can be cancelled
// (what real apps pass; go-sqlite3 starts a goroutine per statement for
// one unless the caller runs it without cancellation).
func benchContext(b *testing.B, kind string) context.Context {
	if kind == "background" {
		return context.Background()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

// BenchmarkLocalInserts measures 1,000 notes inserted through the
// repository in one Transaction, with each kind of context.
func BenchmarkLocalInserts(b *testing.B) {
	for _, kind := range []string{"background", "cancellable"} {
		b.Run(kind, func(b *testing.B) {
			ctx := benchContext(b, kind)
			db, err := client.Open(ctx, filepath.Join(b.TempDir(), "dev.db"), generated.Registry(), client.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetUser(ctx, "alice")
			notes := generated.SyncNotes(db)
			b.ReportAllocs()
			for b.Loop() {
				err := db.Transaction(ctx, func(ctx context.Context) error {
					for i := range 1000 {
						if err := notes.Insert(ctx, &models.Note{Message: fmt.Sprintf("remember to buy item number %06d", i)}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkPushIntoHeld measures a device pushing 10,000 new notes, in one
// Synchronize over loopback HTTP, into a store that already holds 100,000
// notes of another user, on every reachable backend.
func BenchmarkPushIntoHeld(b *testing.B) {
	const held, pushed = 100_000, 10_000
	for _, be := range storetest.Backends(b) {
		if be.Name == "mysql" {
			continue
		}
		b.Run(be.Name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, _ := be.Store(b, generated.Registry())
			for i := 0; i < held; i += 10_000 {
				rows := make([]any, 10_000)
				for j := range rows {
					rows[j] = &models.Note{Record: ssync.Record{ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), UpdatedAt: time.Now(), SyncID: "holder"},
						Message: fmt.Sprintf("remember to buy item number %06d", i+j)}
				}
				if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "holder"}, Device: "seed",
					Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}}); err != nil {
					b.Fatal(err)
				}
			}
			url := storetest.Serve(b, st, server.Config{MaxBodyBytes: 64 << 20})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				dev, err := client.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("dev-%d.db", i)), generated.Registry(), client.Options{})
				if err != nil {
					b.Fatal(err)
				}
				// A user of its own: the device pulls nothing back.
				user := fmt.Sprintf("pusher-%d", i)
				dev.SetUser(ctx, user)
				notes := generated.SyncNotes(dev)
				err = dev.Transaction(ctx, func(ctx context.Context) error {
					for k := range pushed {
						if err := notes.Insert(ctx, &models.Note{Message: fmt.Sprintf("remember to buy item number %06d", k)}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := dev.Synchronize(ctx, client.SyncOptions{ServerURL: url, Decorate: func(r *http.Request) error {
					r.Header.Set(wire.HeaderUser, user)
					return nil
				}})
				if err != nil || len(res.Pushed) != 1 || res.Pushed[0].Created != pushed || len(res.Pulled) != 0 {
					b.Fatalf("sync: %v %+v", err, res)
				}
				b.StopTimer()
				dev.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*pushed)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLocalUpdates measures 1,000 notes the server has, each updated
// once through the repository in one Transaction (the first change since
// the last push: the tracking trigger records its base), against the same
// updates in a file whose tracking trigger is dropped, measured in the same
// run: ratio is tracked time over untracked time.
func BenchmarkLocalUpdates(b *testing.B) {
	ctx := context.Background()
	open := func(name string, tracked bool) (*client.DB, []*models.Note) {
		db, err := client.Open(ctx, filepath.Join(b.TempDir(), name+".db"), generated.Registry(), client.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		db.SetUser(ctx, "alice")
		notes := make([]*models.Note, 1000)
		err = db.Transaction(ctx, func(ctx context.Context) error {
			for i := range notes {
				notes[i] = &models.Note{Message: fmt.Sprintf("remember to buy item number %06d", i), UserName: "alice"}
				if err := generated.SyncNotes(db).Insert(ctx, notes[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if !tracked {
			if _, err := db.SQL().Exec("DROP TRIGGER `ss_track_ss_tb_note`"); err != nil {
				b.Fatal(err)
			}
		}
		return db, notes
	}
	// settle makes every row known to the server and clean, as after an
	// acknowledged push.
	settle := func(db *client.DB) {
		if _, err := db.SQL().Exec("UPDATE ss_tb_note SET ss_known = 1, ss_dirty = 0"); err != nil {
			b.Fatal(err)
		}
		if _, err := db.SQL().Exec("DELETE FROM ss_changed_ss_tb_note"); err != nil {
			b.Fatal(err)
		}
	}
	update := func(db *client.DB, notes []*models.Note, round int) time.Duration {
		start := time.Now()
		err := db.Transaction(ctx, func(ctx context.Context) error {
			for i, n := range notes {
				n.Message = fmt.Sprintf("round %d, item number %06d", round, i)
				if err := generated.SyncNotes(db).Update(ctx, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	tdb, tnotes := open("tracked", true)
	udb, unotes := open("untracked", false)
	var tracked, untracked time.Duration
	round := 0
	for b.Loop() {
		b.StopTimer()
		settle(tdb)
		settle(udb)
		round++
		b.StartTimer()
		// Alternate which goes first, so that both see the same load.
		if round%2 == 0 {
			tracked += update(tdb, tnotes, round)
			untracked += update(udb, unotes, round)
		} else {
			untracked += update(udb, unotes, round)
			tracked += update(tdb, tnotes, round)
		}
	}
	var n int
	if err := tdb.SQL().QueryRow("SELECT COUNT(*) FROM ss_changed_ss_tb_note WHERE ss_d_message IS NOT NULL").Scan(&n); err != nil || n != len(tnotes) {
		b.Fatalf("tracked %d rows (%v), want %d", n, err, len(tnotes))
	}
	b.ReportMetric(float64(round*1000)/tracked.Seconds(), "tracked-rows/s")
	b.ReportMetric(float64(round*1000)/untracked.Seconds(), "untracked-rows/s")
	b.ReportMetric(tracked.Seconds()/untracked.Seconds(), "ratio")
}
