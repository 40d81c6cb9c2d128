// Package watermelondb_test runs the real WatermelonDB client against an
// ssync server: sync.test.js, in Node, with the packages of
// package-lock.json (npm ci in this folder installs them).
package watermelondb_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/watermelon"
)

// TestWatermelonDBClient serves a store on 127.0.0.1, seeds a note through
// an ssync Go device, runs sync.test.js (WatermelonDB's synchronize() with
// the LokiJS adapter) and checks on the Go device what the WatermelonDB
// apps left. Without node or node_modules it skips loudly, unless
// SSYNC_REQUIRE_INTEROP is set (CI), when it fails.
func TestWatermelonDBClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if _, serr := os.Stat("node_modules/@nozbe/watermelondb"); err != nil || serr != nil {
		if os.Getenv("SSYNC_REQUIRE_INTEROP") != "" {
			t.Fatalf("node or node_modules missing (run npm ci in interop/watermelondb): %v %v", err, serr)
		}
		t.Skipf("SKIPPING the WatermelonDB interop test: node or node_modules missing (npm ci in interop/watermelondb)")
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := b.Store(t, generated.Registry())
		wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
		if err != nil {
			t.Fatal(err)
		}
		base := storetest.Serve(t, st, server.Config{}, func(next http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
			mux.Handle("/", next)
			return mux
		})
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

		run, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(run, node, "sync.test.js")
		cmd.Env = append(os.Environ(), "SSYNC_URL="+base+"/watermelon", "SEED_NOTE="+seed.ID.String(),
			"BULK_ROWS="+os.Getenv("WATERMELON_BULK_ROWS"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sync.test.js: %v\n%s", err, out)
		}
		var res struct {
			Created            string `json:"created"`
			Rows               int    `json:"rows"`
			PushMs             int    `json:"pushMs"`
			PushRequestMs      int    `json:"pushRequestMs"`
			FirstSyncMs        int    `json:"firstSyncMs"`
			CreatedAsUpdatedMs int    `json:"createdAsUpdatedMs"`
		}
		_, line, ok := strings.Cut(string(out), "RESULT ")
		if !ok || json.Unmarshal([]byte(strings.TrimSpace(line)), &res) != nil {
			t.Fatalf("sync.test.js printed no result:\n%s", out)
		}
		if res.Rows > 0 {
			t.Logf("%s: WatermelonDB first sync of %d rows: %d ms (sendCreatedAsUpdated: %d ms); their push: %d ms (%d ms in the HTTP request)",
				b.Name, res.Rows, res.FirstSyncMs, res.CreatedAsUpdatedMs, res.PushMs, res.PushRequestMs)
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
