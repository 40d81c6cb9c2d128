package watermelon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/watermelon"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// BenchmarkPull answers a first pull of 10,000 notes over HTTP on
// 127.0.0.1 from a SQLite store: through the WatermelonDB front, and
// through the ssync API's /pull (uncompressed) as the same-run baseline.
func BenchmarkPull(b *testing.B) {
	ctx := context.Background()
	st, _ := storetest.SQLite().Store(b, generated.Registry())
	rows := make([]any, 10_000)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range rows {
		rows[i] = &models.Note{Record: ssync.Record{ID: uuid.New(), CreatedAt: now, UpdatedAt: now, SyncID: "bench"},
			Message: fmt.Sprintf("remember to buy item number %06d", i), Completed: i%3 == 0, UserName: "bench user"}
	}
	if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "bench"}, Device: "seeder",
		Sets: []wire.ChangeSet{{Collection: notes, Created: rows}}}); err != nil {
		b.Fatal(err)
	}
	wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		b.Fatal(err)
	}
	base := storetest.Serve(b, st, server.Config{}, func(next http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
		mux.Handle("/", next)
		return mux
	})
	for _, c := range []struct{ name, path string }{
		{"ssync", wire.DefaultBasePath + "/pull?collections=" + notes},
		{"watermelon", "/watermelon/pull?schema_version=1"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
				req.Header.Set(wire.HeaderUser, "bench")
				req.Header.Set("Accept-Encoding", "identity")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", c.name, resp.StatusCode)
				}
				b.SetBytes(n)
			}
		})
	}
}
