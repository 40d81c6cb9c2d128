package watermelon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

const (
	notes = "ss_tb_note"
	users = "ss_tb_user"
)

// serve runs the ssync API and the WatermelonDB front (under /watermelon)
// over one store of b on 127.0.0.1 and returns the root URL.
func serve(t *testing.T, b storetest.Backend) string {
	t.Helper()
	st, _ := b.Store(t, generated.Registry())
	wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Serve(t, st, server.Config{}, func(next http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/watermelon/", http.StripPrefix("/watermelon", wm))
		mux.Handle("/", next)
		return mux
	})
}

// app is what a WatermelonDB app's pullChanges and pushChanges send.
type app struct {
	t    *testing.T
	url  string
	user string
	last uint64 // lastPulledAt; 0 before the first sync
	more bool   // the last pull said "more": true
}

type changes map[string]struct {
	Created []map[string]any `json:"created"`
	Updated []map[string]any `json:"updated"`
	Deleted []string         `json:"deleted"`
}

func (a *app) do(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+"/watermelon/"+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set(wire.HeaderUser, a.user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// pull pulls from a.last, checks the answer's shape, moves a.last on and
// returns the changes.
func (a *app) pull() changes {
	a.t.Helper()
	q := url.Values{watermelon.ParamSchemaVersion: {"1"}}
	if a.last > 0 {
		q.Set(watermelon.ParamLastPulledAt, strconv.FormatUint(a.last, 10))
	}
	status, body := a.do("GET", "pull?"+q.Encode(), nil)
	if status != http.StatusOK {
		a.t.Fatalf("pull: %d %s", status, body)
	}
	var res struct {
		Changes   changes `json:"changes"`
		Timestamp uint64  `json:"timestamp"`
		More      bool    `json:"more"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		a.t.Fatalf("pull answer %s: %v", body, err)
	}
	if res.Timestamp == 0 || res.Timestamp < a.last {
		a.t.Fatalf("pull from %d answered timestamp %d", a.last, res.Timestamp)
	}
	for _, name := range []string{users, notes} {
		if _, ok := res.Changes[name]; !ok {
			a.t.Fatalf("pull answer lacks table %s: %s", name, body)
		}
	}
	a.last, a.more = res.Timestamp, res.More
	return res.Changes
}

func (a *app) push(c map[string]any) (int, string) {
	a.t.Helper()
	status, body := a.do("POST", "push?"+watermelon.ParamLastPulledAt+"="+strconv.FormatUint(a.last, 10), c)
	return status, string(body)
}

func (a *app) mustPush(c map[string]any) {
	a.t.Helper()
	if status, body := a.push(c); status != http.StatusOK {
		a.t.Fatalf("push: %d %s", status, body)
	}
}

func note(id uuid.UUID, message string) map[string]any {
	return map[string]any{"id": id.String(), "message": message, "completed": false, "user_id": nil,
		"user_name": "", "file": nil, "created_at": 1700000000000, "updated_at": 1700000000000,
		"_status": "created", "_changed": ""}
}

func tableChanges(created, updated []map[string]any, deleted []string) map[string]any {
	return map[string]any{"created": orEmpty(created), "updated": orEmpty(updated), "deleted": append([]string{}, deleted...)}
}

func orEmpty(rows []map[string]any) []map[string]any {
	if rows == nil {
		return []map[string]any{}
	}
	return rows
}

func find(rows []map[string]any, id uuid.UUID) map[string]any {
	for _, r := range rows {
		if r["id"] == id.String() {
			return r
		}
	}
	return nil
}

// TestWatermelonSync runs WatermelonDB's protocol against a real server on
// every store, with an ssync Go device of the same user in the loop.
func TestWatermelonSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		base := serve(t, b)
		wm := &app{t: t, url: base, user: "alice"}
		dev := storetest.Device(t, generated.Registry(), "alice")
		sync := func() {
			t.Helper()
			if _, err := dev.Synchronize(ctx, storetest.Sync(base, "alice")); err != nil {
				t.Fatal(err)
			}
		}

		// First sync: nothing yet, a non-zero timestamp.
		first := wm.pull()
		if n := len(first[notes].Created) + len(first[notes].Updated) + len(first[notes].Deleted); n != 0 {
			t.Fatalf("first pull of an empty store: %d changes", n)
		}

		// The app creates a user and a note that references it.
		uid, nid := uuid.New(), uuid.New()
		n := note(nid, "from watermelon")
		n["user_id"] = uid.String()
		n["user_name"] = "Ann"
		wm.mustPush(map[string]any{
			users: tableChanges([]map[string]any{{"id": uid.String(), "name": "Ann", "age": 41, "_status": "created", "_changed": ""}}, nil, nil),
			notes: tableChanges([]map[string]any{n}, nil, nil),
		})

		// The Go device sees both, with the app's values.
		sync()
		got, err := generated.SyncNotes(dev).Get(ctx, nid)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message != "from watermelon" || got.UserID == nil || *got.UserID != uid || got.CreatedAt.UnixMilli() != 1700000000000 {
			t.Fatalf("device got %+v", got)
		}

		// The device edits the note and adds one; the app pulls both.
		got.Message = "edited on the device"
		if err := generated.SyncNotes(dev).Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		other := &models.Note{Message: "from the device"}
		if err := generated.SyncNotes(dev).Insert(ctx, other); err != nil {
			t.Fatal(err)
		}
		sync()
		c := wm.pull()
		all := append(append([]map[string]any{}, c[notes].Created...), c[notes].Updated...)
		if r := find(all, nid); r == nil || r["message"] != "edited on the device" || r["user_id"] != uid.String() {
			t.Fatalf("app pulled %v, want the device's edit", all)
		}
		if r := find(c[notes].Created, other.ID); r == nil || r["message"] != "from the device" {
			t.Fatalf("app pulled created %v, want the device's note", c[notes].Created)
		}
		if r := find(all, nid); r["updated_at"] == nil || r["_status"] != nil {
			t.Fatalf("pulled record %v: want updated_at and no _status", r)
		}

		// Nothing new: an incremental pull is empty.
		if c := wm.pull(); len(c[notes].Created)+len(c[notes].Updated)+len(c[notes].Deleted) != 0 {
			t.Fatalf("pull with nothing new: %v", c[notes])
		}

		// Conflict: the device changes the note after the app's last pull;
		// the app's push of that note fails whole (its other note is not
		// written either), then succeeds after a pull.
		got.Message = "second device edit"
		if err := generated.SyncNotes(dev).Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		sync()
		mine := note(nid, "app edit")
		mine["_status"] = "updated"
		fresh := uuid.New()
		status, body := wm.push(map[string]any{notes: tableChanges([]map[string]any{note(fresh, "with the conflict")}, []map[string]any{mine}, nil)})
		if status != http.StatusConflict || !strings.Contains(body, nid.String()) {
			t.Fatalf("push of a record changed since the pull: %d %s, want 409 naming it", status, body)
		}
		sync()
		if _, err := generated.SyncNotes(dev).Get(ctx, fresh); err == nil {
			t.Fatal("a refused push wrote a record")
		}
		c = wm.pull()
		if r := find(c[notes].Updated, nid); r == nil || r["message"] != "second device edit" {
			t.Fatalf("pull after the conflict: %v", c[notes].Updated)
		}
		wm.mustPush(map[string]any{notes: tableChanges([]map[string]any{note(fresh, "with the conflict")}, []map[string]any{mine}, nil)})
		sync()
		if got, err = generated.SyncNotes(dev).Get(ctx, nid); err != nil || got.Message != "app edit" {
			t.Fatalf("device after the retried push: %+v %v", got, err)
		}

		// A delete of a record changed since the pull is refused the same way.
		wm.pull()
		got.Completed = true
		if err := generated.SyncNotes(dev).Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		sync()
		if status, body := wm.push(map[string]any{notes: tableChanges(nil, nil, []string{nid.String()})}); status != http.StatusConflict {
			t.Fatalf("delete of a record changed since the pull: %d %s, want 409", status, body)
		}

		// Deletes both ways.
		wm.pull()
		wm.mustPush(map[string]any{notes: tableChanges(nil, nil, []string{nid.String()})})
		sync()
		if _, err := generated.SyncNotes(dev).Get(ctx, nid); err == nil {
			t.Fatal("the device still has the note the app deleted")
		}
		if err := generated.SyncNotes(dev).Delete(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		sync()
		// The app's own delete comes back too (it has no device id):
		// WatermelonDB takes a delete of a record it lacks as done.
		if c := wm.pull(); !contains(c[notes].Deleted, other.ID.String()) || len(c[notes].Created)+len(c[notes].Updated) != 0 {
			t.Fatalf("app pulled %v, want the delete of %s", c[notes], other.ID)
		}

		// Another user sees none of it and cannot write it.
		bob := &app{t: t, url: base, user: "bob"}
		if c := bob.pull(); len(c[notes].Created)+len(c[notes].Updated)+len(c[users].Created) != 0 {
			t.Fatalf("bob pulled alice's rows: %v", c)
		}
		steal := note(fresh, "bob was here")
		if status, body := bob.push(map[string]any{notes: tableChanges(nil, []map[string]any{steal}, nil)}); status != http.StatusForbidden {
			t.Fatalf("bob's push of alice's note: %d %s, want 403", status, body)
		}
		bob.mustPush(map[string]any{notes: tableChanges(nil, nil, []string{fresh.String()})})
		sync()
		if got, err := generated.SyncNotes(dev).Get(ctx, fresh); err != nil || got.Message != "with the conflict" {
			t.Fatalf("alice's note after bob's push and delete: %+v %v", got, err)
		}
	})
}

// TestWatermelonBadInput: what the front refuses, with errors naming what
// is wrong, and nothing written.
func TestWatermelonBadInput(t *testing.T) {
	base := serve(t, storetest.SQLite())
	wm := &app{t: t, url: base, user: "alice"}
	wm.pull()
	id := uuid.New()
	bad := note(id, "x")
	bad["colour"] = "red"
	cases := []struct {
		name   string
		body   map[string]any
		status int
		says   string
	}{
		{"unknown column", map[string]any{notes: tableChanges([]map[string]any{bad}, nil, nil)}, 400, "colour"},
		{"unknown table", map[string]any{"posts": tableChanges(nil, nil, nil)}, 400, "posts"},
		{"id not a UUID", map[string]any{notes: tableChanges([]map[string]any{note(id, "x"), {"id": "abc", "message": "y"}}, nil, nil)}, 400, "abc"},
		{"time not a number", map[string]any{notes: tableChanges([]map[string]any{func() map[string]any {
			n := note(id, "x")
			n["created_at"] = "yesterday"
			return n
		}()}, nil, nil)}, 400, "created_at"},
	}
	for _, c := range cases {
		status, body := wm.push(c.body)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d naming %s", c.name, status, body, c.status, c.says)
		}
	}
	if status, body := wm.do("POST", "push", map[string]any{}); status != 400 || !strings.Contains(string(body), watermelon.ParamLastPulledAt) {
		t.Errorf("push without last_pulled_at: %d %s", status, body)
	}
	if status, body := wm.do("GET", "pull?last_pulled_at=-3", nil); status != 400 || !strings.Contains(string(body), "-3") {
		t.Errorf("pull from -3: %d %s", status, body)
	}
	if c := wm.pull(); len(c[notes].Created) != 0 {
		t.Errorf("refused pushes wrote %v", c[notes].Created)
	}
}

func contains(ids []string, id string) bool {
	for _, s := range ids {
		if s == id {
			return true
		}
	}
	return false
}

// TestWatermelonMigration: a migration sync gets the tables its schema
// gained whole, the others from last_pulled_at.
func TestWatermelonMigration(t *testing.T) {
	base := serve(t, storetest.SQLite())
	wm := &app{t: t, url: base, user: "alice"}
	wm.pull()
	uid := uuid.New()
	wm.mustPush(map[string]any{
		users: tableChanges([]map[string]any{{"id": uid.String(), "name": "Ann", "age": 41}}, nil, nil),
		notes: tableChanges([]map[string]any{note(uuid.New(), "old")}, nil, nil),
	})
	wm.pull()
	last := wm.last
	q := url.Values{watermelon.ParamLastPulledAt: {strconv.FormatUint(last, 10)}, watermelon.ParamSchemaVersion: {"2"},
		watermelon.ParamMigration: {`{"from":1,"tables":[],"columns":[{"table":"ss_tb_user","columns":["age"]}]}`}}
	status, body := wm.do("GET", "pull?"+q.Encode(), nil)
	var res struct {
		Changes   changes `json:"changes"`
		Timestamp uint64  `json:"timestamp"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &res) != nil {
		t.Fatalf("migration pull: %d %s", status, body)
	}
	if r := find(res.Changes[users].Created, uid); r == nil || r["age"] != float64(41) {
		t.Fatalf("migration pull of the widened table: %v, want the user whole", res.Changes[users])
	}
	if n := len(res.Changes[notes].Created) + len(res.Changes[notes].Updated); n != 0 {
		t.Fatalf("migration pull sent %d notes of an unchanged table", n)
	}
	if res.Timestamp != last {
		t.Fatalf("migration pull timestamp %d, want %d", res.Timestamp, last)
	}
	q.Set(watermelon.ParamMigration, `{"from":1,"tables":["posts"],"columns":[]}`)
	if status, body := wm.do("GET", "pull?"+q.Encode(), nil); status != 400 || !strings.Contains(string(body), "posts") {
		t.Fatalf("migration naming an unknown table: %d %s", status, body)
	}
}

// TestWatermelonHooks: the store's hooks apply to WatermelonDB apps as to
// ssync devices: BeforeWrite refuses a push with its message, FilterPull
// leaves rows out of a pull.
func TestWatermelonHooks(t *testing.T) {
	st, _ := storetest.SQLite().Store(t, generated.Registry(), store.WithHooks(notes, store.Hooks{
		BeforeWrite: func(ctx context.Context, w *store.Write) error {
			if n, ok := w.Row.(*models.Note); ok && n.Message == "" {
				return errors.New("a note needs a message")
			}
			return nil
		},
		FilterPull: func(ctx context.Context, p store.PullContext, row any) bool {
			return row.(*models.Note).Message != "secret"
		},
	}))
	wm, err := watermelon.New(watermelon.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		t.Fatal(err)
	}
	base := storetest.Serve(t, st, server.Config{}, func(http.Handler) http.Handler {
		return http.StripPrefix("/watermelon", wm)
	})
	a := &app{t: t, url: base, user: "alice"}
	a.pull()
	if status, body := a.push(map[string]any{notes: tableChanges([]map[string]any{note(uuid.New(), "")}, nil, nil)}); status != http.StatusUnprocessableEntity || !strings.Contains(body, "a note needs a message") {
		t.Fatalf("push refused by BeforeWrite: %d %s, want 422 with its message", status, body)
	}
	shown, hidden := uuid.New(), uuid.New()
	a.mustPush(map[string]any{notes: tableChanges([]map[string]any{note(shown, "shown"), note(hidden, "secret")}, nil, nil)})
	other := &app{t: t, url: base, user: "alice"}
	c := other.pull()
	if find(c[notes].Created, shown) == nil || find(c[notes].Created, hidden) != nil {
		t.Fatalf("pull through FilterPull: %v", c[notes].Created)
	}
}
