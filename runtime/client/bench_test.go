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
}
