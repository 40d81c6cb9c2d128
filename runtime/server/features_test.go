package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

func (f *fixture) req(method, path string, hdr map[string]string, body string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

func newID() string { return uuid.NewString() }

// TestNoSkippedRows holds one push transaction open while a later push waits
// and a client pulls, then commits it and checks that the next pull from the
// checkpoint the client got still returns the held row. With two server
// instances over one database where the store allows it.
func TestNoSkippedRows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		held := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		hook := store.Hooks{BeforeWrite: func(ctx context.Context, w *store.Write) error {
			if n, ok := w.Row.(*models.Note); ok && n.Message == "slow" {
				once.Do(func() { close(held) })
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}}
		f1 := newFixture(t, b, server.Config{}, store.WithHooks("ss_tb_note", hook))
		f2 := f1
		if b.Name != "sqlite" {
			f2 = serve(t, f1.again(), b, server.Config{}) // a second instance
		}
		// Something committed before, so checkpoints are not all zero.
		if r := f1.do("POST", "/push", "alice", "", pushBody([]string{note(newID(), "early", false)}, nil, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		slowID, fastID := newID(), newID()
		slowDone := make(chan reply, 1)
		go func() {
			slowDone <- f1.do("POST", "/push", "alice", "", pushBody([]string{note(slowID, "slow", false)}, nil, nil))
		}()
		<-held
		fastDone := make(chan reply, 1)
		go func() {
			fastDone <- f2.do("POST", "/push", "alice", "", pushBody([]string{note(fastID, "fast", false)}, nil, nil))
		}()
		// A pull while the slow push is open (the fast one may or may not
		// have committed yet).
		sets, cpDuring := f2.pull("alice", "")
		got := map[any]bool{}
		for _, row := range sets[0].Changes.Created {
			if row["id"] == slowID {
				t.Fatalf("pull saw the uncommitted row")
			}
			got[row["id"]] = true
		}
		close(release)
		if r := <-slowDone; r.status != 200 {
			t.Fatalf("slow push: %d %s", r.status, r.body)
		}
		if r := <-fastDone; r.status != 200 {
			t.Fatalf("fast push: %d %s", r.status, r.body)
		}
		sets, _ = f2.pull("alice", cpDuring)
		for _, row := range sets[0].Changes.Created {
			got[row["id"]] = true
		}
		if !got[slowID] || !got[fastID] {
			t.Fatalf("the pulls before and after %s returned %v: a row committed late was skipped", cpDuring, got)
		}
	})
}

func TestPullStreamResumes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		want := map[string]bool{}
		for batch := range 3 {
			var rows []string
			for i := range 10 {
				id := newID()
				want[id] = true
				rows = append(rows, note(id, fmt.Sprintf("b%d-%d", batch, i), false))
			}
			if r := f.do("POST", "/push", "alice", "", pushBody(rows, nil, nil)); r.status != 200 {
				t.Fatalf("push: %d %s", r.status, r.body)
			}
		}
		// A user row too, so the stream covers two collections.
		userBody := `[{"collection":"ss_tb_user","changes":{"created":[{"id":"` + newID() +
			`","createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","name":"A","age":3}]}}]`
		if r := f.do("POST", "/push", "alice", "", userBody); r.status != 200 {
			t.Fatalf("push user: %d %s", r.status, r.body)
		}
		lines := f.stream("alice", "", 7)
		// Lines: users first (parents), then notes in batches of 7, then done.
		if lines[0].Collection != "ss_tb_user" || len(lines[0].Changes.Created) != 1 {
			t.Fatalf("first line %+v, want the user", lines[0])
		}
		var noteLines []streamLine
		for _, l := range lines[1 : len(lines)-1] {
			noteLines = append(noteLines, l)
		}
		if len(noteLines) != 5 { // 7+7+7+7+2
			t.Fatalf("%d note lines, want 5", len(noteLines))
		}
		if !lines[len(lines)-1].Done {
			t.Fatalf("last line is not done: %+v", lines[len(lines)-1])
		}
		// Stop after the second note line and resume from its checkpoint.
		seen := map[string]int{}
		for _, l := range noteLines[:2] {
			for _, row := range l.Changes.Created {
				seen[row["id"].(string)]++
			}
		}
		resume := noteLines[1].Timestamp
		if !strings.Contains(resume, ".") {
			t.Fatalf("mid-stream checkpoint %q does not point inside a version", resume)
		}
		rest := f.streamCollections("alice", resume, 4, "ss_tb_note")
		for _, l := range rest {
			for _, row := range l.Changes.Created {
				seen[row["id"].(string)]++
			}
			for _, row := range l.Changes.Updated {
				seen[row["id"].(string)]++
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("resumed stream covered %d rows, want %d", len(seen), len(want))
		}
		for id, n := range seen {
			if !want[id] || n != 1 {
				t.Fatalf("row %s seen %d times", id, n)
			}
		}
		// A bad batch size is refused.
		if r := f.do("GET", "/pull-stream?batch=0", "alice", "", ""); r.status != 400 {
			t.Fatalf("batch=0: %d %s", r.status, r.body)
		}
	})
}

type streamLine struct {
	changeSet
	Done bool `json:"done"`
}

func (f *fixture) stream(user, since string, batch int) []streamLine {
	return f.streamCollections(user, since, batch, "")
}

func (f *fixture) streamCollections(user, since string, batch int, collections string) []streamLine {
	f.t.Helper()
	q := url.Values{"timestamp": {since}, "batch": {fmt.Sprint(batch)}}
	if collections != "" {
		q.Set("collections", collections)
	}
	r := f.do("GET", "/pull-stream?"+q.Encode(), user, "", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/x-ndjson") {
		f.t.Fatalf("pull-stream: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var out []streamLine
	sc := bufio.NewScanner(strings.NewReader(r.body))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var l streamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			f.t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestResolver(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var seen []store.Conflict
		resolver := func(ctx context.Context, c store.Conflict) (store.Resolution, error) {
			seen = append(seen, c)
			in, cur := c.Incoming.(*models.Note), c.Server.(*models.Note)
			switch in.Message {
			case "keep":
				return store.Resolution{Action: store.KeepServer, Reason: "server copy is newer"}, nil
			case "refuse":
				return store.Resolution{Action: store.Refuse, Reason: "edited elsewhere, review first"}, nil
			case "merge":
				merged := *in
				merged.Message = cur.Message + "+" + in.UserName
				merged.Completed = cur.Completed || in.Completed
				return store.Resolution{Action: store.Merge, Row: &merged}, nil
			}
			return store.Resolution{Action: store.TakeIncoming}, nil
		}
		f := newFixture(t, b, server.Config{}, store.WithResolver(resolver))
		id := newID()
		phone := map[string]string{wire.HeaderUser: "alice", wire.HeaderDevice: "phone"}
		laptop := map[string]string{wire.HeaderUser: "alice", wire.HeaderDevice: "laptop"}
		r := f.req("POST", "/push", phone, pushBody([]string{note(id, "v1", false)}, nil, nil))
		var cp1 string
		json.Unmarshal([]byte(r.body), &cp1)
		// The laptop pulled at cp1; the phone edits again after that.
		if r := f.req("POST", "/push", phone, pushBody(nil, []string{note(id, "v2", true)}, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		stale := func(msg string) string {
			return `[{"collection":"ss_tb_note","timestamp":"` + cp1 + `","changes":{"updated":[` + note(id, msg, false) + `]}}]`
		}
		before := f.dump()
		// Keep the server's copy: reported as ignored.
		r = f.req("POST", "/push?result=full", laptop, stale("keep"))
		var res struct {
			Checkpoint string
			Ignored    []struct{ Collection, ID, Reason, Message string }
		}
		if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 || len(res.Ignored) != 1 ||
			res.Ignored[0].Reason != "conflict" || res.Ignored[0].Message != "server copy is newer" || res.Ignored[0].ID != id {
			t.Fatalf("keep: %d %s", r.status, r.body)
		}
		if len(seen) != 1 || seen[0].ClientCheckpoint.String() != cp1 || seen[0].Server.(*models.Note).Message != "v2" {
			t.Fatalf("resolver saw %+v", seen)
		}
		// Refuse: 409 and nothing changes.
		if r := f.req("POST", "/push", laptop, stale("refuse")); r.status != 409 || !strings.Contains(r.body, "review first") {
			t.Fatalf("refuse: %d %s", r.status, r.body)
		}
		if got := f.dump(); !sameRows(got, before) {
			t.Fatalf("refused push changed the store")
		}
		// Merge: stored, and the pushing device gets the merged row back.
		if r := f.req("POST", "/push", laptop, stale("merge")); r.status != 200 {
			t.Fatalf("merge: %d %s", r.status, r.body)
		}
		pr := f.req("GET", "/pull?timestamp="+cp1, laptop, "")
		if !strings.Contains(pr.body, `"message":"v2+John"`) || !strings.Contains(pr.body, `"completed":true`) {
			t.Fatalf("laptop pull after merge: %s", pr.body)
		}
		// No conflict when the client is up to date: the resolver is not asked.
		n := len(seen)
		var cpNow string
		json.Unmarshal([]byte(f.req("POST", "/push", phone, pushBody(nil, nil, nil)).body), &cpNow)
		fresh := `[{"collection":"ss_tb_note","timestamp":"` + cpNow + `","changes":{"updated":[` + note(id, "keep", false) + `]}}]`
		if r := f.req("POST", "/push", laptop, fresh); r.status != 200 || len(seen) != n {
			t.Fatalf("up-to-date push: %d %s, resolver calls %d → %d", r.status, r.body, n, len(seen))
		}
	})
}

// sameRows compares dumps ignoring nothing: a refused push must not change a
// single column.
func sameRows(a, b string) bool { return a == b }

func TestHooksAndParameters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		hooks := store.Hooks{
			BeforeWrite: func(ctx context.Context, w *store.Write) error {
				if w.Op == store.OpDelete {
					if w.Existing.(*models.Note).Completed {
						return errors.New("completed notes are kept for the record")
					}
					return nil
				}
				n := w.Row.(*models.Note)
				if strings.TrimSpace(n.Message) == "" {
					return errors.New("message must not be empty")
				}
				n.Message = strings.TrimSpace(n.Message)
				return nil
			},
			FilterPull: func(ctx context.Context, p store.PullContext, row any) bool {
				only, _ := p.Params.(string)
				return only == "" || row.(*models.Note).Message == only
			},
		}
		f := newFixture(t, b, server.Config{ParameterDecoder: func(q url.Values) (any, error) {
			if len(q.Get("only")) > 20 {
				return nil, errors.New("only: at most 20 characters")
			}
			return q.Get("only"), nil
		}}, store.WithHooks("ss_tb_note", hooks))
		a, c := newID(), newID()
		if r := f.do("POST", "/push", "alice", "", pushBody([]string{note(a, "  padded  ", false), note(c, "done", true)}, nil, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		if !strings.Contains(f.dump(), "|padded|") {
			t.Fatalf("hook did not transform the row: %s", f.dump())
		}
		before := f.dump()
		for _, body := range []string{
			pushBody([]string{note(newID(), "fine", false), note(newID(), "   ", false)}, nil, nil),
			pushBody(nil, nil, []string{c}),
		} {
			r := f.do("POST", "/push", "alice", "", body)
			if r.status != 422 || !strings.Contains(r.body, "row_refused") {
				t.Fatalf("hook refusal: %d %s", r.status, r.body)
			}
		}
		if f.dump() != before {
			t.Fatal("a refused push changed the store")
		}
		r := f.do("GET", "/pull?only=done", "alice", "", "")
		if !strings.Contains(r.body, `"message":"done"`) || strings.Contains(r.body, "padded") {
			t.Fatalf("filtered pull: %s", r.body)
		}
		if r := f.do("GET", "/pull?only="+strings.Repeat("x", 30), "alice", "", ""); r.status != 400 || !strings.Contains(r.body, "invalid_parameters") {
			t.Fatalf("bad parameters: %d %s", r.status, r.body)
		}
	})
}

func TestHandshake(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{SchemaVersion: 3, OnHandshake: func(ctx context.Context, h server.Handshake) error {
			if h.SchemaVersion < 2 {
				return fmt.Errorf("schema version %d is too old: update the app", h.SchemaVersion)
			}
			return nil
		}})
		r := f.do("POST", "/handshake", "alice", "", `{"schemaVersion":3,"info":{"app":"1.2.0"}}`)
		var out struct {
			SchemaVersion int
			Collections   []string
			Checkpoint    string
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 || out.SchemaVersion != 3 ||
			strings.Join(out.Collections, ",") != "ss_tb_user,ss_tb_note" || out.Checkpoint == "" {
			t.Fatalf("handshake: %d %s", r.status, r.body)
		}
		if r := f.do("POST", "/handshake", "alice", "", `{"schemaVersion":1}`); r.status != 409 || !strings.Contains(r.body, "update the app") {
			t.Fatalf("old schema: %d %s", r.status, r.body)
		}
		for _, body := range []string{`{}`, `{"schemaVersion":"3"}`, `not json`, `{"schemaVersion":3,"extra":1}`} {
			if r := f.do("POST", "/handshake", "alice", "", body); r.status != 400 {
				t.Fatalf("handshake %s: %d %s", body, r.status, r.body)
			}
		}
		if r := f.do("POST", "/handshake", "", "", `{"schemaVersion":3}`); r.status != 401 {
			t.Fatalf("handshake without credentials: %d", r.status)
		}
	})
}

func TestTombstoneRetention(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		db, _ := b.Open(t)
		st, err := store.Open(context.Background(), db, b.Dialect, generatedRegistry(),
			store.WithClock(clock), store.WithTombstoneRetention(30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		f := serveStore(t, st)
		active := map[string]string{wire.HeaderUser: "alice", wire.HeaderDevice: "active"}
		stale := map[string]string{wire.HeaderUser: "alice", wire.HeaderDevice: "stale"}
		id := newID()
		f.req("POST", "/push", active, pushBody([]string{note(id, "x", false)}, nil, nil))
		cpStale := pullCheckpoint(t, f, stale, "")
		pullCheckpoint(t, f, stale, cpStale) // records the stale device's checkpoint
		f.req("POST", "/push", active, pushBody(nil, nil, []string{id}))
		cpActive := pullCheckpoint(t, f, active, "")
		pullCheckpoint(t, f, active, cpActive)

		// Within the window the stale device holds the tombstone back.
		rep, err := st.PurgeTombstones(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Purged["ss_tb_note"] != 0 {
			t.Fatalf("purged %v while a device still needs the tombstone", rep.Purged)
		}
		if r := f.req("GET", "/pull?timestamp="+cpStale, stale, ""); r.status != 200 || !strings.Contains(r.body, id) {
			t.Fatalf("stale device pull: %d %s", r.status, r.body)
		}
		// 31 days later only the active device has been seen.
		advance(31 * 24 * time.Hour)
		pullCheckpoint(t, f, active, cpActive)
		rep, err = st.PurgeTombstones(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Purged["ss_tb_note"] != 1 || rep.Horizon == 0 {
			t.Fatalf("purge report %+v, want the tombstone gone", rep)
		}
		r := f.req("GET", "/pull?timestamp="+cpStale, stale, "")
		if r.status != 410 || !strings.Contains(r.body, "resync_required") {
			t.Fatalf("stale device after purge: %d %s, want 410 resync_required", r.status, r.body)
		}
		if r := f.req("GET", "/pull?timestamp="+cpActive, active, ""); r.status != 200 {
			t.Fatalf("active device after purge: %d %s", r.status, r.body)
		}
		if r := f.req("GET", "/pull", stale, ""); r.status != 200 || strings.Contains(r.body, id) {
			t.Fatalf("full resync: %d %s", r.status, r.body)
		}
	})
}

func pullCheckpoint(t *testing.T, f *fixture, hdr map[string]string, since string) string {
	t.Helper()
	r := f.req("GET", "/pull?timestamp="+since, hdr, "")
	if r.status != 200 {
		t.Fatalf("pull: %d %s", r.status, r.body)
	}
	var sets []changeSet
	if err := json.Unmarshal([]byte(r.body), &sets); err != nil {
		t.Fatal(err)
	}
	return sets[0].Timestamp
}

// TestPurgeKeepsReferencedParents deletes a user that a note references:
// the note is deleted with it (ondelete=cascade). A live note that still
// references a deleted user (as a store written before cascades may hold)
// keeps the user's tombstone (the foreign key needs it) while an
// unreferenced one goes, on every store.
func TestPurgeKeepsReferencedParents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		db, _ := b.Open(t)
		st, err := store.Open(context.Background(), db, b.Dialect, generatedRegistry(),
			store.WithClock(clock), store.WithTombstoneRetention(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		f := serveStore(t, st)
		user := func(id, name string) string {
			return `{"id":"` + id + `","createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","name":"` + name + `","age":1}`
		}
		referenced, lonely, noteID := newID(), newID(), newID()
		n := strings.Replace(note(noteID, "points at a user", false), `"userId":null`, `"userId":"`+referenced+`"`, 1)
		body := `[{"collection":"ss_tb_user","changes":{"created":[` + user(referenced, "kept") + `,` + user(lonely, "gone") + `]}},` +
			`{"collection":"ss_tb_note","changes":{"created":[` + n + `]}}]`
		if r := f.do("POST", "/push", "alice", "", body); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		del := `[{"collection":"ss_tb_user","changes":{"deleted":["` + referenced + `","` + lonely + `"]}}]`
		if r := f.do("POST", "/push", "alice", "", del); r.status != 200 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		var noteDeleted bool
		if err := db.QueryRow(`SELECT deleted_at IS NOT NULL FROM ss_tb_note WHERE id = '` + noteID + `'`).Scan(&noteDeleted); err != nil || !noteDeleted {
			t.Fatalf("the note of the deleted user is live (%v), want it deleted by the cascade", err)
		}
		if _, err := db.Exec(`UPDATE ss_tb_note SET deleted_at = NULL WHERE id = '` + noteID + `'`); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(48 * time.Hour)
		mu.Unlock()
		rep, err := st.PurgeTombstones(context.Background())
		if err != nil {
			t.Fatalf("purge with a referenced tombstone: %v", err)
		}
		if rep.Purged["ss_tb_user"] != 1 {
			t.Fatalf("purged %v, want only the unreferenced user", rep.Purged)
		}
		var left int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ss_tb_user`).Scan(&left); err != nil || left != 1 {
			t.Fatalf("%d users left (%v), want the referenced one", left, err)
		}
	})
}
