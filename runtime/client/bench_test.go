package client_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
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
