package watermelon_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/watermelon"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestWatermelonUserLimit shares the ssync server's MaxUserRequests (1)
// with the WatermelonDB front: while one of alice's requests is in progress
// on either front, her next one on the other gets 429 too_many_requests
// with Retry-After and changes nothing; bob is served; once it ends, alice
// is served again.
func TestWatermelonUserLimit(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	hold := map[string]bool{}
	st, _ := storetest.SQLite().Store(t, generated.Registry(), store.WithHooks(notes, store.Hooks{
		BeforeWrite: func(ctx context.Context, w *store.Write) error {
			n, ok := w.Row.(*models.Note)
			mu.Lock()
			h := ok && hold[n.Message]
			delete(hold, n.Message)
			mu.Unlock()
			if h {
				held <- struct{}{}
				<-release
			}
			return nil
		},
	}))
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth(), MaxUserRequests: 1})
	if err != nil {
		t.Fatal(err)
	}
	wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth(), UserLimit: srv.UserLimit()})
	if err != nil {
		t.Fatal(err)
	}
	// srv's ssync API and the WatermelonDB front, sharing srv's limit.
	api := storetest.Serve(t, st, server.Config{}, func(http.Handler) http.Handler {
		mux := http.NewServeMux()
		srv.Mount(mux, "")
		mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
		return mux
	})
	alice := &app{t: t, url: api, user: "alice"}
	alice.pull()
	bob := &app{t: t, url: api, user: "bob"}

	busy := func(what string, status int, body string, header http.Header) {
		t.Helper()
		if status != http.StatusTooManyRequests || header.Get("Retry-After") != server.RetryAfterBusy || !strings.Contains(body, `"too_many_requests"`) {
			t.Fatalf("%s while alice has a request in progress: %d %s (Retry-After %q), want 429 too_many_requests with Retry-After", what, status, body, header.Get("Retry-After"))
		}
	}
	for _, front := range []string{"watermelon", "ssync"} {
		t.Run("held on "+front, func(t *testing.T) {
			msg := "slow on " + front
			mu.Lock()
			hold[msg] = true
			mu.Unlock()
			done := make(chan int, 1)
			if front == "watermelon" {
				go func() {
					status, _ := alice.push(map[string]any{notes: tableChanges([]map[string]any{note(uuid.New(), msg)}, nil, nil)})
					done <- status
				}()
			} else {
				dev := storetest.Device(t, generated.Registry(), "alice")
				if err := generated.SyncNotes(dev).Insert(context.Background(), &models.Note{Message: msg}); err != nil {
					t.Fatal(err)
				}
				go func() {
					if _, err := dev.Synchronize(context.Background(), storetest.Sync(api, "alice")); err != nil {
						t.Error(err)
					}
					done <- http.StatusOK
				}()
			}
			<-held
			released := false
			defer func() {
				if !released {
					close(release)
					<-done
				}
			}()
			status, body, header := get(t, api+"/watermelon/pull?schema_version=1", "alice")
			busy("a WatermelonDB pull", status, body, header)
			status, body, header = post(t, api+"/watermelon/push?last_pulled_at=1", "alice", `{"ss_tb_note":{"created":[`+mustJSON(t, note(uuid.New(), "refused"))+`],"updated":[],"deleted":[]}}`)
			busy("a WatermelonDB push", status, body, header)
			status, body, header = get(t, api+wire.DefaultBasePath+"/pull?collections=ss_tb_note", "alice")
			busy("an ssync pull", status, body, header)
			bob.pull()
			close(release)
			released = true
			if status := <-done; status != http.StatusOK {
				t.Fatalf("the held request: %d", status)
			}
			release = make(chan struct{})
			c := alice.pull()
			for _, r := range c[notes].Created {
				if r["message"] == "refused" {
					t.Fatal("a refused push wrote its note")
				}
			}
		})
	}
}

// TestWatermelonPullBounded pulls a user's notes, written in pushes of 2, 2,
// 2 and 8 notes, with MaxPullRows 5 on every store: each answer ends after
// the last whole push within 5 rows (the push of 8 comes whole, alone),
// says "more": true while it was bounded, and the pulls together bring
// every note once, the last one without "more". WatermelonDB's client
// handling of "more" (onDidPullChanges) runs in interop/watermelondb.
func TestWatermelonPullBounded(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		boundedPulls(t, b, watermelon.Config{MaxPullRows: 5}, []int{2, 2, 2, 8}, 10, []int{4, 2, 8, 0})
	})
}

// TestWatermelonPullBoundedBytes is TestWatermelonPullBounded with
// MaxPullBytes 1,000 and notes of about 400 bytes, written in pushes of 1,
// 1, 1, 1 and 5: answers of 2, 2, then the push of 5 whole.
func TestWatermelonPullBoundedBytes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		boundedPulls(t, b, watermelon.Config{MaxPullBytes: 1000}, []int{1, 1, 1, 1, 5}, 300, []int{2, 2, 5, 0})
	})
}

// boundedPulls writes pushes of the given numbers of notes (with messages
// of size characters) through a front of cfg, then pulls them all from the
// start, an answer after another while it says "more", and checks the
// answers' sizes and that every note came once.
func boundedPulls(t *testing.T, b storetest.Backend, cfg watermelon.Config, pushes []int, size int, answers []int) {
	t.Helper()
	st, _ := b.Store(t, generated.Registry())
	cfg.Store, cfg.Authenticator = st, server.InsecureHeaderAuth()
	wm, err := watermelon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := storetest.Serve(t, st, server.Config{}, func(http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
		return mux
	})
	writer := &app{t: t, url: base, user: "alice"}
	writer.pull()
	want := map[string]bool{}
	for _, n := range pushes {
		var rows []map[string]any
		for range n {
			id := uuid.New()
			want[id.String()] = true
			rows = append(rows, note(id, strings.Repeat("m", size)))
		}
		writer.mustPush(map[string]any{notes: tableChanges(rows, nil, nil)})
		writer.pull()
	}
	reader := &app{t: t, url: base, user: "alice"}
	got := map[string]bool{}
	var sizes []int
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatalf("still more after %d pulls (answers of %v rows)", i, sizes)
		}
		c := reader.pull()
		sizes = append(sizes, len(c[notes].Created))
		for _, r := range c[notes].Created {
			id := r["id"].(string)
			if got[id] {
				t.Fatalf("note %s came twice (answers of %v rows)", id, sizes)
			}
			got[id] = true
		}
		if !reader.more {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("bounded pulls brought %d notes, want %d (answers of %v rows)", len(got), len(want), sizes)
	}
	if !slices.Equal(sizes, answers) {
		t.Fatalf("answers of %v rows, want %v", sizes, answers)
	}
}

// request sends method to url as user and returns the answer.
func request(t *testing.T, method, url, user, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(wire.HeaderUser, user)
	if body != "" {
		req.Header.Set("Content-Type", wire.ContentTypeJSON)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out), resp.Header
}

func get(t *testing.T, url, user string) (int, string, http.Header) {
	t.Helper()
	return request(t, http.MethodGet, url, user, "")
}

func post(t *testing.T, url, user, body string) (int, string, http.Header) {
	t.Helper()
	return request(t, http.MethodPost, url, user, body)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
