package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// clockDevice opens a device of the example app as alice whose clock is
// now() shifted by skew, with nanoseconds the store cannot keep.
func clockDevice(t *testing.T, skew time.Duration) *client.DB {
	t.Helper()
	d, err := client.Open(context.Background(), filepath.Join(t.TempDir(), "device.db"), generated.Registry(),
		client.Options{Now: func() time.Time { return time.Now().Add(skew).Add(123 * time.Nanosecond) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	return d
}

// deletedAtOn returns when the device holds the row id of the note or user
// table as deleted (zero: live, or not there).
func deletedAtOn(t *testing.T, db *client.DB, id uuid.UUID) time.Time {
	t.Helper()
	ctx := context.Background()
	notes, err := generated.SyncNotes(db).Select(ctx, client.IncludeDeleted(), client.Where("id", id.String()))
	if err != nil {
		t.Fatal(err)
	}
	users, err := generated.SyncUsers(db).Select(ctx, client.IncludeDeleted(), client.Where("id", id.String()))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(notes) == 1 && notes[0].DeletedAt != nil:
		return *notes[0].DeletedAt
	case len(users) == 1 && users[0].DeletedAt != nil:
		return *users[0].DeletedAt
	}
	return time.Time{}
}

// TestDeletedAtEverywhere deletes rows in every way a row gets deleted and
// checks that every device and the server store hold one deletedAt for
// each: a device's delete (its stamp, in microseconds), two devices
// deleting one row offline (the first delete's stamp wins everywhere), a
// device whose clock runs an hour ahead (the server's clock stamps it, and
// the device takes that stamp), and a cascade (the server's stamp). On
// every store.
func TestDeletedAtEverywhere(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, sdb := b.Store(t, generated.Registry())
		url := storetest.Serve(t, st, server.Config{})
		a, bdev, ahead := clockDevice(t, 0), clockDevice(t, 0), clockDevice(t, time.Hour)
		devices := map[string]*client.DB{"a": a, "b": bdev, "ahead": ahead}
		sync := func(d *client.DB) {
			t.Helper()
			if _, err := d.Synchronize(ctx, storetest.Sync(url, "alice")); err != nil {
				t.Fatal(err)
			}
		}
		u := &models.User{Name: "Ann"}
		if err := generated.SyncUsers(a).Insert(ctx, u); err != nil {
			t.Fatal(err)
		}
		child := &models.Note{Message: "child", UserID: &u.ID}
		plain := &models.Note{Message: "plain"}
		twice := &models.Note{Message: "twice"}
		skewed := &models.Note{Message: "skewed"}
		for _, n := range []*models.Note{child, plain, twice, skewed} {
			if err := generated.SyncNotes(a).Insert(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		sync(a)
		sync(bdev)
		sync(ahead)

		if err := generated.SyncNotes(a).Delete(ctx, plain.ID); err != nil {
			t.Fatal(err)
		}
		// twice is deleted by a, then by b, which has not pulled a's delete.
		if err := generated.SyncNotes(a).Delete(ctx, twice.ID); err != nil {
			t.Fatal(err)
		}
		if err := generated.SyncNotes(bdev).Delete(ctx, twice.ID); err != nil {
			t.Fatal(err)
		}
		aStamp := deletedAtOn(t, a, twice.ID)
		if err := generated.SyncNotes(ahead).Delete(ctx, skewed.ID); err != nil {
			t.Fatal(err)
		}
		aheadStamp := deletedAtOn(t, ahead, skewed.ID)
		sync(a)
		sync(bdev)
		// b deletes the user: the server cascades to child.
		if err := generated.SyncUsers(bdev).Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		sync(bdev)
		sync(ahead)
		for _, d := range []*client.DB{a, bdev, ahead} {
			sync(d)
		}

		q := b.Dialect.Quote
		for _, row := range []struct {
			name, table string
			id          uuid.UUID
		}{{"plain", "ss_tb_note", plain.ID}, {"twice", "ss_tb_note", twice.ID}, {"skewed", "ss_tb_note", skewed.ID},
			{"child", "ss_tb_note", child.ID}, {"user", "ss_tb_user", u.ID}} {
			var stored *time.Time
			if err := sdb.QueryRow("SELECT "+q("deleted_at")+" FROM "+q(row.table)+" WHERE "+q("id")+" = "+b.Dialect.Placeholder(1),
				row.id.String()).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored == nil {
				t.Errorf("%s store: %s is not deleted", b.Name, row.name)
				continue
			}
			want := stored.UTC()
			if want.Nanosecond()%1000 != 0 {
				t.Errorf("%s store: %s deleted at %s, not in microseconds", b.Name, row.name, want.Format(time.RFC3339Nano))
			}
			for name, d := range devices {
				if got := deletedAtOn(t, d, row.id); !got.Equal(want) || got.Location() != time.UTC {
					t.Errorf("%s: device %s holds %s deleted at %s, the server %s", b.Name, name, row.name,
						got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
				}
			}
			switch row.name {
			case "twice":
				if !want.Equal(aStamp) {
					t.Errorf("%s: twice deleted at %s, want the first delete's stamp %s", b.Name, want.Format(time.RFC3339Nano), aStamp.Format(time.RFC3339Nano))
				}
			case "skewed":
				if !want.Before(aheadStamp.Add(-store.MaxDeleteSkew)) {
					t.Errorf("%s: the server took the stamp %s of a device an hour ahead", b.Name, want.Format(time.RFC3339Nano))
				}
			}
		}
	})
}

// recordPushes records the push bodies a server receives; with older, it
// also makes the server's handshake answer as a server from before
// deletion times would (no deletedAt feature).
func recordPushes(t *testing.T, older bool, bodies *[]string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case older && strings.HasSuffix(r.URL.Path, "/"+wire.PathHandshake):
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var hs map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &hs); err != nil {
					t.Errorf("handshake answer: %v", err)
				}
				hs["features"] = []string{wire.FeatureFields}
				w.Header().Set("Content-Type", wire.ContentTypeJSON)
				json.NewEncoder(w).Encode(hs)
				return
			case strings.HasSuffix(r.URL.Path, "/"+wire.PathPush):
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Error(err)
				}
				*bodies = append(*bodies, string(body))
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestDeletedAtOnlyToServersThatTakeIt: a device sends the deletion times
// of its deletes only to a server whose handshake lists the deletedAt
// feature; an older server (which would refuse the key) gets the deletes
// as ids alone, and applies them.
func TestDeletedAtOnlyToServersThatTakeIt(t *testing.T) {
	ctx := context.Background()
	for _, older := range []bool{false, true} {
		st, _ := storetest.SQLite().Store(t, generated.Registry())
		var bodies []string
		// Without compression, the recorded bodies are the JSON itself.
		url := storetest.Serve(t, st, server.Config{DisableCompression: true}, recordPushes(t, older, &bodies))
		d := clockDevice(t, 0)
		n := &models.Note{Message: "gone"}
		if err := generated.SyncNotes(d).Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Synchronize(ctx, storetest.Sync(url, "alice")); err != nil {
			t.Fatal(err)
		}
		if err := generated.SyncNotes(d).Delete(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		bodies = nil
		res, err := d.Synchronize(ctx, storetest.Sync(url, "alice"))
		if err != nil {
			t.Fatalf("older server %v: %v", older, err)
		}
		if len(res.Pushed) != 1 || res.Pushed[0].Deleted != 1 || len(bodies) != 1 {
			t.Fatalf("older server %v: pushed %+v in %d pushes, want one delete in one", older, res.Pushed, len(bodies))
		}
		if sent := strings.Contains(bodies[0], `"deletedAt":{`); sent == older {
			t.Errorf("older server %v: deletion times sent %v: %s", older, sent, bodies[0])
		}
	}
}
