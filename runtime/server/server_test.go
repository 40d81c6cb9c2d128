package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

type fixture struct {
	t     *testing.T
	url   string
	db    *sql.DB
	again func() *sql.DB // another handle on the same database
}

func newFixture(t *testing.T, b storetest.Backend, cfg server.Config, opts ...store.Option) *fixture {
	t.Helper()
	db, again := b.Open(t)
	f := serve(t, db, b, cfg, opts...)
	f.again = again
	return f
}

func generatedRegistry() *ssync.Registry { return generated.Registry() }

// serveStore starts a server instance over st with the default config.
func serveStore(t *testing.T, st *store.Store) *fixture {
	return &fixture{t: t, url: storetest.Serve(t, st, server.Config{}) + "/api/sync", db: st.DB()}
}

// serve starts one server instance over db.
func serve(t *testing.T, db *sql.DB, b storetest.Backend, cfg server.Config, opts ...store.Option) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), db, b.Dialect, generated.Registry(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, url: storetest.Serve(t, st, cfg) + "/api/sync", db: db}
}

type reply struct {
	status int
	body   string
	header http.Header
}

func (f *fixture) do(method, path, user, key string, body string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set(wire.HeaderUser, user)
	}
	if key != "" {
		req.Header.Set(wire.HeaderIdempotencyKey, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

// dump returns every note row in the store, server columns included.
func (f *fixture) dump() string {
	f.t.Helper()
	rows, err := f.db.Query(`SELECT id, message, completed, deleted_at IS NOT NULL, ss_sync_id, ss_version, ss_created_version FROM ss_tb_note ORDER BY id`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, msg, owner string
		var done, deleted bool
		var v, cv int64
		if err := rows.Scan(&id, &msg, &done, &deleted, &owner, &v, &cv); err != nil {
			f.t.Fatal(err)
		}
		b.WriteString(strings.Join([]string{id, msg, boolStr(done), boolStr(deleted), owner, itoa(v), itoa(cv)}, "|") + "\n")
	}
	return b.String()
}

func boolStr(b bool) string {
	if b {
		return "t"
	}
	return "f"
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

const (
	id1 = "a6ea4282-a3ea-4893-ba50-e11e673030ef"
	id2 = "f878dac6-690a-4f5e-b929-5ebecb1cd434"
)

func note(id, msg string, done bool) string {
	d := "false"
	if done {
		d = "true"
	}
	return `{"id":"` + id + `","createdAt":"2024-12-21T17:25:53.961871","updatedAt":"2024-12-21T17:25:53.961871","deletedAt":null,` +
		`"message":"` + msg + `","completed":` + d + `,"userId":null,"userName":"John"}`
}

func pushBody(created, updated []string, deleted []string) string {
	return `[{"collection":"ss_tb_note","timestamp":"0001-01-01T00:00:00","changes":{"created":[` +
		strings.Join(created, ",") + `],"updated":[` + strings.Join(updated, ",") + `],"deleted":[` +
		quoteAll(deleted) + `]}}]`
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = `"` + id + `"`
	}
	return strings.Join(q, ",")
}

type changeSet struct {
	Collection string `json:"collection"`
	Timestamp  string `json:"timestamp"`
	Changes    struct {
		Created []map[string]any `json:"created"`
		Updated []map[string]any `json:"updated"`
		Deleted []string         `json:"deleted"`
	} `json:"changes"`
}

func (f *fixture) pull(user, since string) ([]changeSet, string) {
	f.t.Helper()
	r := f.do("GET", "/pull?collections=ss_tb_note&timestamp="+since, user, "", "")
	if r.status != 200 {
		f.t.Fatalf("pull: %d %s", r.status, r.body)
	}
	var sets []changeSet
	if err := json.Unmarshal([]byte(r.body), &sets); err != nil {
		f.t.Fatalf("pull body %s: %v", r.body, err)
	}
	if len(sets) != 1 || sets[0].Collection != "ss_tb_note" {
		f.t.Fatalf("pull returned %s", r.body)
	}
	return sets, sets[0].Timestamp
}

func TestPushAndPullClassifyChanges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		r := f.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody([]string{note(id1, "one", false), note(id2, "two", false)}, nil, nil))
		if r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		var cp1 string
		if err := json.Unmarshal([]byte(r.body), &cp1); err != nil || cp1 == "" {
			t.Fatalf("push answer %q is not a checkpoint string", r.body)
		}
		// Everything, asked for with the seed's zero time.
		sets, cpAll := f.pull("alice", "0001-01-01T00:00:00")
		// The pull ends where the push committed.
		if len(sets[0].Changes.Created) != 2 || cpAll != cp1 {
			t.Fatalf("pull from zero: %+v at %s, want 2 created at %s", sets[0].Changes, cpAll, cp1)
		}
		if again, _ := f.pull("alice", cpAll); len(again[0].Changes.Created)+len(again[0].Changes.Updated) != 0 {
			t.Fatalf("pull from %s returned the rows again", cpAll)
		}
		if got := sets[0].Changes.Created[0]["syncId"]; got != "alice" {
			t.Fatalf("pulled row owner %v, want alice", got)
		}
		// An update of one and a delete of the other.
		r = f.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody(nil, []string{note(id1, "one!", true)}, []string{id2}))
		if r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		sets, _ = f.pull("alice", cpAll)
		c := sets[0].Changes
		if len(c.Created) != 0 || len(c.Updated) != 1 || c.Updated[0]["message"] != "one!" || len(c.Deleted) != 1 || c.Deleted[0] != id2 {
			t.Fatalf("pull since %s = %+v, want one update and one delete", cp1, c)
		}
		// A client that never saw id2 is not told it was deleted.
		sets, _ = f.pull("alice", "")
		if len(sets[0].Changes.Created) != 1 || len(sets[0].Changes.Deleted) != 0 {
			t.Fatalf("fresh pull = %+v, want only the live row, as created", sets[0].Changes)
		}
	})
}

func TestPushIsIdempotentByKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		body := pushBody([]string{note(id1, "one", false)}, nil, nil)
		first := f.do("POST", "/push", "alice", "key-1", body)
		if first.status != 200 {
			t.Fatalf("push: %d %s", first.status, first.body)
		}
		before := f.dump()
		// Another device changes the row in between.
		if r := f.do("POST", "/push", "alice", "key-2", pushBody(nil, []string{note(id1, "newer", false)}, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		afterOther := f.dump()
		if afterOther == before {
			t.Fatal("second push changed nothing")
		}
		replay := f.do("POST", "/push", "alice", "key-1", body)
		if replay.status != 200 || replay.body != first.body || replay.header.Get(wire.HeaderIdempotentReplayed) != "true" {
			t.Fatalf("replay = %d %s (replayed=%q), want the first answer %s", replay.status, replay.body, replay.header.Get(wire.HeaderIdempotentReplayed), first.body)
		}
		if got := f.dump(); got != afterOther {
			t.Fatalf("replay changed the store:\nbefore %s\nafter  %s", afterOther, got)
		}
		// Same key, other body.
		other := f.do("POST", "/push", "alice", "key-1", pushBody([]string{note(id2, "two", false)}, nil, nil))
		if other.status != 422 || !strings.Contains(other.body, "idempotency_key_reused") {
			t.Fatalf("same key other body = %d %s, want 422 idempotency_key_reused", other.status, other.body)
		}
		if got := f.dump(); got != afterOther {
			t.Fatal("refused push changed the store")
		}
		// Keys are per user: bob may use the same key.
		if r := f.do("POST", "/push", "bob", "key-1", pushBody([]string{note(id2, "bob's", false)}, nil, nil)); r.status != 200 {
			t.Fatalf("bob's push with the same key: %d %s", r.status, r.body)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		if r := f.do("POST", "/push", "alice", "", pushBody([]string{note(id1, "alice's", false)}, nil, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		before := f.dump()
		// Bob cannot read it.
		sets, _ := f.pull("bob", "")
		if n := len(sets[0].Changes.Created) + len(sets[0].Changes.Updated); n != 0 {
			t.Fatalf("bob pulled %d of alice's rows", n)
		}
		// Bob cannot overwrite it; a push with one bad row changes nothing,
		// not even its good rows.
		for _, body := range []string{
			pushBody(nil, []string{note(id1, "hijacked", false)}, nil),
			pushBody([]string{note(id1, "hijacked", false)}, nil, nil),
			pushBody([]string{note(id2, "bob's good row", false), note(id1, "hijacked", false)}, nil, nil),
		} {
			r := f.do("POST", "/push", "bob", "", body)
			if r.status != 403 || strings.Contains(r.body, "alice") {
				t.Fatalf("bob's push = %d %s, want 403 that does not name the owner", r.status, r.body)
			}
		}
		// Nor delete it: his delete is answered as the delete of an id the
		// server lacks, and changes nothing.
		if r := f.do("POST", "/push", "bob", "", pushBody(nil, nil, []string{id1})); r.status != 200 {
			t.Fatalf("bob deleting alice's row = %d %s, want 200 as for an id the server lacks", r.status, r.body)
		}
		// A row claiming another owner is refused too.
		claimed := strings.Replace(note(id2, "x", false), `"deletedAt":null,`, `"deletedAt":null,"syncId":"alice",`, 1)
		if r := f.do("POST", "/push", "bob", "", pushBody([]string{claimed}, nil, nil)); r.status != 403 {
			t.Fatalf("bob pushing a row owned by alice = %d %s, want 403", r.status, r.body)
		}
		if got := f.dump(); got != before {
			t.Fatalf("refused pushes changed the store:\nbefore %s\nafter  %s", before, got)
		}
	})
}

func TestDeleteWins(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		f.do("POST", "/push", "alice", "", pushBody([]string{note(id1, "one", false)}, nil, nil))
		f.do("POST", "/push", "alice", "", pushBody(nil, nil, []string{id1}))
		r := f.do("POST", "/push", "alice", "", pushBody(nil, []string{note(id1, "edited after delete", true)}, nil))
		if r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		after := f.dump()
		if !strings.Contains(after, "|one|f|t|alice|") {
			t.Fatalf("deleted row came back or changed: %s", after)
		}
	})
}

func TestBadInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{MaxBodyBytes: 4096, MaxPushRows: 3})
		cases := []struct {
			name, path, user, body string
			status                 int
			want                   string
		}{
			{"no credentials", "/push", "", pushBody(nil, nil, nil), 401, "unauthenticated"},
			{"malformed JSON", "/push", "alice", `[{"collection":"ss_tb_note",`, 400, "malformed change set"},
			{"not an array", "/push", "alice", `{"collection":"ss_tb_note"}`, 400, "malformed change set"},
			{"unknown collection", "/push", "alice", `[{"collection":"ss_tb_nope","changes":{}}]`, 400, `unknown collection \"ss_tb_nope\"`},
			{"unknown collection param", "/push?collections=ss_tb_nope", "alice", pushBody(nil, nil, nil), 400, "unknown_collection"},
			{"wrong field type", "/push", "alice", pushBody([]string{strings.Replace(note(id1, "x", false), `"completed":false`, `"completed":"yes"`, 1)}, nil, nil), 400, `field \"completed\": expected bool`},
			{"unknown field", "/push", "alice", pushBody([]string{strings.Replace(note(id1, "x", false), `"completed":false`, `"colour":"red","completed":false`, 1)}, nil, nil), 400, `unknown field \"colour\"`},
			{"id not a UUID", "/push", "alice", pushBody([]string{strings.Replace(note(id1, "x", false), id1, "42", 1)}, nil, nil), 400, `field \"id\": invalid UUID`},
			{"deleted id not a UUID", "/push", "alice", pushBody(nil, nil, []string{"nope"}), 400, `deleted[0]`},
			{"bad time", "/push", "alice", pushBody([]string{strings.Replace(note(id1, "x", false), "2024-12-21T17:25:53.961871", "yesterday", 1)}, nil, nil), 400, `invalid time`},
			{"oversized body", "/push", "alice", pushBody([]string{note(id1, strings.Repeat("x", 5000), false)}, nil, nil), 413, "body_too_large"},
			{"too many rows", "/push", "alice", pushBody(nil, nil, []string{id1, id2, id1, id2}), 413, "too_many_rows"},
			{"bad checkpoint", "/pull?timestamp=yesterday", "alice", "", 400, "invalid_checkpoint"},
			{"invalid UTF-8", "/push", "alice", pushBody([]string{note(id1, "caf\xe9", false)}, nil, nil), 400, "not valid UTF-8"},
		}
		before := f.dump()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				method := "POST"
				if strings.HasPrefix(c.path, "/pull") {
					method = "GET"
				}
				r := f.do(method, c.path, c.user, "", c.body)
				t.Logf("%d %s", r.status, r.body)
				if r.status != c.status || !strings.Contains(r.body, c.want) {
					t.Fatalf("%s = %d %s, want %d containing %s", c.name, r.status, r.body, c.status, c.want)
				}
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Fatalf("error body %s is not {\"error\":{\"code\",\"message\"}}", r.body)
				}
			})
		}
		if got := f.dump(); got != before {
			t.Fatalf("bad input changed the store: %s", got)
		}
	})
}

func TestHealthz(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		f := newFixture(t, b, server.Config{})
		resp, err := http.Get(strings.TrimSuffix(f.url, "/api/sync") + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"ok"`)) {
			t.Fatalf("healthz = %d %s", resp.StatusCode, body)
		}
	})
}
