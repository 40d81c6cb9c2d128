package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/jwtauth"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// The hostile server's limits: small, so that the cases can cross them.
const (
	hostileMaxBody = 64 << 10
	hostileMaxRows = 50
)

var hostileSecret = []byte("hostile-test-secret-of-32-bytes!!")

// Rows the hostile server holds before every case.
const (
	hAliceUser  = "a0000000-0000-4000-8000-000000000001"
	hAliceNote  = "a0000000-0000-4000-8000-000000000002"
	hAliceGone  = "a0000000-0000-4000-8000-000000000003" // deleted
	hBobNote    = "b0000000-0000-4000-8000-000000000004"
	hNewID      = "c0000000-0000-4000-8000-000000000005" // on no server
	hNewID2     = "c0000000-0000-4000-8000-000000000006"
	hNewID3     = "c0000000-0000-4000-8000-000000000007"
	hNewID4     = "c0000000-0000-4000-8000-000000000008"
	hNewID5     = "c0000000-0000-4000-8000-000000000009"
	hTime       = `"2024-12-21T17:25:53.961871Z"`
	hPushBoth   = "/push?collections=ss_tb_user,ss_tb_note"
	hPushNotes  = "/push?collections=ss_tb_note"
	hPushUsers  = "/push?collections=ss_tb_user"
	hPlainToken = "alice" // the default caller
)

// hField is one field of a row as raw JSON.
type hField struct{ key, raw string }

func hNoteFields(id, owner string) []hField {
	return []hField{{"id", `"` + id + `"`}, {"createdAt", hTime}, {"updatedAt", hTime}, {"deletedAt", "null"},
		{"syncId", `"` + owner + `"`}, {"message", `"hello"`}, {"completed", "false"}, {"userId", "null"}, {"userName", `"Al"`}}
}

func hUserFields(id, owner string) []hField {
	return []hField{{"id", `"` + id + `"`}, {"createdAt", hTime}, {"updatedAt", hTime}, {"deletedAt", "null"},
		{"syncId", `"` + owner + `"`}, {"name", `"Alice"`}, {"age", "31"}}
}

// hRow writes fields as a JSON object, with key set to raw (added when
// missing; removed when raw is empty).
func hRow(fields []hField, key, raw string) string {
	var parts []string
	found := false
	for _, f := range fields {
		if f.key == key {
			found = true
			if raw == "" {
				continue
			}
			f.raw = raw
		}
		parts = append(parts, fmt.Sprintf("%q:%s", f.key, f.raw))
	}
	if !found && key != "" && raw != "" {
		parts = append(parts, fmt.Sprintf("%q:%s", key, raw))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// hSet is one change set.
func hSet(coll, part string, items ...string) string {
	return `{"collection":"` + coll + `","timestamp":"","changes":{"` + part + `":[` + strings.Join(items, ",") + `]}}`
}

func hBody(sets ...string) string { return "[" + strings.Join(sets, ",") + "]" }

func hToken(t *testing.T, secret []byte, claims jwt.MapClaims, method jwt.SigningMethod) string {
	t.Helper()
	key := any(secret)
	if method == jwt.SigningMethodNone {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hMint(t *testing.T, sub string) string {
	t.Helper()
	tok, err := jwtauth.Mint(hostileSecret, sub, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hostileServer is a JWT-authenticated server over a store of backend b
// holding a few rows of alice and bob.
type hostileServer struct {
	t   *testing.T
	h   http.Handler
	db  *sql.DB
	q   func(string) string
	tok map[string]string
}

// newEmptyHostileServer is a JWT-authenticated server over a fresh, empty
// store of backend b.
func newEmptyHostileServer(t *testing.T, b storetest.Backend) *hostileServer {
	t.Helper()
	db, _ := b.Open(t)
	st, err := store.Open(context.Background(), db, b.Dialect, generated.Registry())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.New(hostileSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: auth, MaxBodyBytes: hostileMaxBody, MaxPushRows: hostileMaxRows})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	return &hostileServer{t: t, h: mux, db: db, q: b.Dialect.Quote,
		tok: map[string]string{"alice": "Bearer " + hMint(t, "alice"), "bob": "Bearer " + hMint(t, "bob")}}
}

func newHostileServer(t *testing.T, b storetest.Backend) *hostileServer {
	t.Helper()
	hs := newEmptyHostileServer(t, b)
	withRef := hRow(hNoteFields(hAliceNote, "alice"), "userId", `"`+hAliceUser+`"`)
	for _, seed := range []struct{ user, path, body string }{
		{"alice", hPushBoth, hBody(hSet("ss_tb_user", "created", hRow(hUserFields(hAliceUser, "alice"), "", "")),
			hSet("ss_tb_note", "created", withRef, hRow(hNoteFields(hAliceGone, "alice"), "", "")))},
		{"alice", hPushNotes, hBody(hSet("ss_tb_note", "deleted", `"`+hAliceGone+`"`))},
		{"bob", hPushNotes, hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(hBobNote, "bob"), "", "")))},
	} {
		if code, body := hs.do(http.MethodPost, seed.path, hs.tok[seed.user], nil, seed.body); code != http.StatusOK {
			t.Fatalf("seed push: %d %s", code, body)
		}
	}
	return hs
}

func (hs *hostileServer) do(method, path, authorization string, header map[string]string, body string) (int, string) {
	hs.t.Helper()
	req := httptest.NewRequest(method, "/api/sync"+path, strings.NewReader(body))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK && rec.Header().Get("Content-Type") != "application/json" {
		hs.t.Errorf("%d answer with Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Code, string(b)
}

// dump returns every row of every table of the store, all columns
// (versions, writers, idempotency keys, device checkpoints included),
// sorted.
func (hs *hostileServer) dump() string {
	hs.t.Helper()
	var lines []string
	for _, table := range []string{"ss_tb_user", "ss_tb_note", "ss_counter", "ss_idempotency", "ss_device_seen"} {
		rows, err := hs.db.Query("SELECT * FROM " + hs.q(table))
		if err != nil {
			hs.t.Fatalf("dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			hs.t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				hs.t.Fatalf("dump %s: %v", table, err)
			}
			parts := make([]string, len(cols))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				parts[i] = fmt.Sprintf("%s=%v", cols[i], v)
			}
			lines = append(lines, table+": "+strings.Join(parts, " "))
		}
		if err := rows.Err(); err != nil {
			hs.t.Fatal(err)
		}
		rows.Close()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// hostileCase is one hostile request.
type hostileCase struct {
	name   string
	method string // POST unless set
	path   string // hPushBoth unless set
	auth   string // "alice" unless set; "-" for none; a user name, or a raw Authorization value
	header map[string]string
	body   string
	// status and code are the expected refusal; status 0 tolerates an
	// acceptance (then the data may change) or any clean 4xx refusal.
	status int
	code   string
	want   string // the message contains it
	// knownBug, when set, names an open bug: the case is skipped.
	knownBug string
}

func hostileCases(t *testing.T) []hostileCase {
	note := func(key, raw string) string {
		return hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(hNewID, "alice"), key, raw)))
	}
	user := func(key, raw string) string {
		return hBody(hSet("ss_tb_user", "created", hRow(hUserFields(hNewID, "alice"), key, raw)))
	}
	// other writes a new note under its own id, for the cases a store may
	// accept.
	other := func(id, key, raw string) string {
		return hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(id, "alice"), key, raw)))
	}
	valid := note("", "")
	var cs []hostileCase

	// Truncated and malformed JSON.
	for _, n := range []int{1, len(valid) / 4, len(valid) / 2, len(valid) - 30, len(valid) - 1} {
		cs = append(cs, hostileCase{name: fmt.Sprintf("truncated at byte %d", n), body: valid[:n], status: 400, code: "invalid_change_set"})
	}
	for i, b := range []string{``, ` `, `null`, `{}`, `"x"`, `42`, `[`, `]`, `[,]`, `[{}]`, `[null]`, `[[]]`, `[]x`, `[][]`, "\xef\xbb\xbf[]",
		`[{"collection":"ss_tb_note",}]`, `[{"collection":"ss_tb_note","changes":{"created":[{]}}]`, `[{"collection":"ss_tb_note" "changes":{}}]`,
		`[{'collection':'ss_tb_note'}]`, `[{"collection":"ss_tb_note","changes":{"created":[` + hRow(hNoteFields(hNewID, "alice"), "", "") + `,]}}]`,
		strings.Replace(valid, `"hello"`, `"hel`+"\n"+`lo"`, 1), strings.Replace(valid, `"hello"`, `"\x"`, 1),
		strings.Replace(valid, `"hello"`, `"\u12"`, 1), strings.Replace(valid, "false", "fals", 1), strings.Replace(valid, "null", "nul", 1)} {
		cs = append(cs, hostileCase{name: fmt.Sprintf("malformed JSON %d %.40q", i, b), body: b, status: 400, code: "invalid_change_set"})
	}

	// Wrong types, for every field of both collections.
	wrong := map[string][]string{
		"id":        {`42`, `true`, `{}`, `[]`, `"not-a-uuid"`, `"a0000000-0000-4000-8000-00000000000"`, `null`, `"00000000-0000-0000-0000-000000000000"`},
		"createdAt": {`42`, `"yesterday"`, `true`, `{}`, `[]`, `"2024-02-30T00:00:00Z"`, `"9999-12-31T23:00:00-02:00"`},
		"updatedAt": {`42`, `"2024-12-21 17:25"`, `false`, `[1]`},
		"deletedAt": {`42`, `"x"`, `[]`, `{}`, `true`},
		"syncId":    {`42`, `{}`, `[]`, `true`},
	}
	for _, f := range []string{"message", "userName"} {
		wrong[f] = []string{`42`, `true`, `[]`, `{}`, `null`}
	}
	noteWrong := map[string][]string{"completed": {`"yes"`, `1`, `null`, `[]`, `"false"`}, "userId": {`42`, `"x"`, `{}`, `true`, `[]`}}
	userWrong := map[string][]string{"name": {`42`, `true`, `[]`, `{}`, `null`}, "age": {`"31"`, `3.5`, `1e2`, `99999999999999999999`, `true`, `null`, `[]`, `{}`}}
	for _, coll := range []string{"note", "user"} {
		fields := map[string][]string{}
		for k, v := range wrong {
			if coll == "user" && (k == "message" || k == "userName") {
				continue
			}
			fields[k] = v
		}
		extra := noteWrong
		if coll == "user" {
			extra = userWrong
		}
		for k, v := range extra {
			fields[k] = v
		}
		for field, values := range fields {
			for _, raw := range values {
				body := note(field, raw)
				if coll == "user" {
					body = user(field, raw)
				}
				want := `\"` + field + `\"`
				if field == "id" {
					want = "" // "missing or nil id" names no field
				}
				cs = append(cs, hostileCase{name: fmt.Sprintf("%s.%s = %s", coll, field, raw), body: body, status: 400, code: "invalid_change_set", want: want})
			}
		}
	}
	for _, c := range []struct{ name, body string }{
		{"collection is a number", `[{"collection":5,"changes":{}}]`},
		{"collection missing", `[{"changes":{}}]`},
		{"timestamp is a number", `[{"collection":"ss_tb_note","timestamp":5,"changes":{}}]`},
		{"changes is an array", `[{"collection":"ss_tb_note","changes":[]}]`},
		{"created is an object", `[{"collection":"ss_tb_note","changes":{"created":{}}}]`},
		{"created holds a string", `[{"collection":"ss_tb_note","changes":{"created":["x"]}}]`},
		{"deleted is a string", `[{"collection":"ss_tb_note","changes":{"deleted":"` + hAliceNote + `"}}]`},
		{"deleted holds a number", `[{"collection":"ss_tb_note","changes":{"deleted":[42]}}]`},
		{"deleted holds a row", `[{"collection":"ss_tb_note","changes":{"deleted":[` + hRow(hNoteFields(hAliceNote, "alice"), "", "") + `]}}]`},
		{"deleted id not a UUID", `[{"collection":"ss_tb_note","changes":{"deleted":["nope"]}}]`},
		{"row without id", note("id", "")},
		{"collection twice", hBody(hSet("ss_tb_note", "deleted"), hSet("ss_tb_note", "deleted"))},
	} {
		cs = append(cs, hostileCase{name: c.name, body: c.body, status: 400})
	}

	// Deeply nested values.
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cs = append(cs,
		hostileCase{name: "nested message", body: note("message", deep(5000)), status: 400, code: "invalid_change_set"},
		hostileCase{name: "nested unknown field", body: note("extra", deep(5000)), status: 400, code: "invalid_change_set"},
		hostileCase{name: "nested document", body: deep(20000), status: 400, code: "invalid_change_set"},
		hostileCase{name: "nested objects", body: strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), status: 400, code: "invalid_change_set"},
		hostileCase{name: "nested handshake info", path: "/handshake", body: `{"schemaVersion":0,"info":` + deep(20000) + `}`, status: 400, code: "invalid_handshake"},
		hostileCase{name: "handshake of wrong type", path: "/handshake", body: `{"schemaVersion":"1"}`, status: 400, code: "invalid_handshake"},
		hostileCase{name: "handshake unknown field", path: "/handshake", body: `{"schemaVersion":0,"admin":true}`, status: 400, code: "invalid_handshake"},
	)

	// Huge strings and oversized bodies.
	cs = append(cs,
		hostileCase{name: "message beyond the body limit", body: note("message", `"`+strings.Repeat("x", hostileMaxBody)+`"`), status: 413, code: "body_too_large"},
		hostileCase{name: "key beyond the body limit", body: note(strings.Repeat("k", hostileMaxBody), "1"), status: 413, code: "body_too_large"},
		hostileCase{name: "whitespace beyond the body limit", body: strings.Repeat(" ", hostileMaxBody+1) + valid, status: 413, code: "body_too_large"},
		hostileCase{name: "handshake beyond 1 MiB", path: "/handshake", body: `{"schemaVersion":0,"info":"` + strings.Repeat("x", 1<<20) + `"}`, status: 413, code: "body_too_large"},
		hostileCase{name: "message within the body limit", body: other(hNewID2, "message", `"`+strings.Repeat("y", hostileMaxBody-1024)+`"`)},
		hostileCase{name: "long unknown key within the body limit", body: note(strings.Repeat("k", 4000), "1"), status: 400, code: "invalid_change_set"},
		hostileCase{name: "long collection name", body: hBody(hSet(strings.Repeat("c", 10000), "deleted")), status: 400, code: "unknown_collection"},
		hostileCase{name: "invalid UTF-8 in a string", body: other(hNewID3, "message", "\"\xff\xfe\"")},
		hostileCase{name: "NUL in a string", body: other(hNewID4, "message", `"a\u0000b"`), status: 400, code: "invalid_change_set", want: `row ` + hNewID4 + `: field \"message\": text holds NUL`},
		hostileCase{name: "lone surrogate in a string", body: other(hNewID5, "message", `"\ud800"`)},
	)

	// Too many rows.
	var ids []string
	for i := range hostileMaxRows + 1 {
		ids = append(ids, fmt.Sprintf(`"d0000000-0000-4000-8000-%012d"`, i))
	}
	cs = append(cs, hostileCase{name: "too many rows", body: hBody(hSet("ss_tb_note", "deleted", ids...)), status: 413, code: "too_many_rows"})

	// Unknown collections and fields.
	cs = append(cs,
		hostileCase{name: "unknown collection in the body", body: hBody(hSet("ss_tb_nope", "deleted")), status: 400, code: "unknown_collection"},
		hostileCase{name: "unknown collection in the query", path: "/push?collections=ss_tb_nope", body: valid, status: 400, code: "unknown_collection"},
		hostileCase{name: "collection not listed", path: hPushUsers, body: valid, status: 400, code: "collection_not_listed"},
		hostileCase{name: "unknown field in a row", body: note("colour", `"red"`), status: 400, code: "invalid_change_set", want: "unknown field"},
		hostileCase{name: "unknown key in a change set", body: `[{"collection":"ss_tb_note","changes":{},"extra":1}]`, status: 400, code: "invalid_change_set"},
		hostileCase{name: "unknown part of changes", body: `[{"collection":"ss_tb_note","changes":{"moved":[]}}]`, status: 400, code: "invalid_change_set"},
		hostileCase{name: "field named in another case", body: note("Message", `"x"`), status: 400, code: "invalid_change_set"},
	)

	// Server-owned fields set by the client.
	for _, f := range []string{"ss_version", "ss_created_version", "ss_origin", "ss_writer", "ss_sync_id", "ssVersion", "ss_dirty", "ss_known",
		"deleted_at", "sync_id", "version", "owner"} {
		cs = append(cs,
			hostileCase{name: "note sets " + f, body: note(f, `"1"`), status: 400, code: "invalid_change_set", want: "unknown field"},
			hostileCase{name: "user sets " + f, body: user(f, `1`), status: 400, code: "invalid_change_set", want: "unknown field"})
	}

	// Another user's ids (deletes and references: TestNotYoursLooksNotThere).
	cs = append(cs,
		hostileCase{name: "bob updates alice's note", auth: "bob", body: hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(hAliceNote, "bob"), "", ""))), status: 403, code: "forbidden"},
		hostileCase{name: "bob updates alice's note without an owner", auth: "bob", body: hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(hAliceNote, "bob"), "syncId", ""))), status: 403, code: "forbidden"},
		hostileCase{name: "bob creates over alice's note", auth: "bob", body: hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(hAliceNote, "alice"), "", ""))), status: 403, code: "forbidden"},
		hostileCase{name: "bob updates alice's deleted note", auth: "bob", body: hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(hAliceGone, "bob"), "", ""))), status: 403, code: "forbidden"},
		hostileCase{name: "bob writes a new row for alice", auth: "bob", body: note("", ""), status: 403, code: "forbidden"},
		hostileCase{name: "bob's own row with one of alice's", auth: "bob", body: hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(hBobNote, "bob"), "message", `"mine"`), hRow(hNoteFields(hAliceNote, "bob"), "", ""))), status: 403, code: "forbidden"},
		hostileCase{name: "alice references a user row that does not exist", body: note("userId", `"`+hNewID2+`"`), status: 422, code: "dangling_reference"},
	)

	// Checkpoints and keys.
	cs = append(cs,
		hostileCase{name: "push checkpoint not a checkpoint", path: hPushBoth + "&timestamp=yesterday", body: valid, status: 400, code: "invalid_checkpoint"},
		hostileCase{name: "change-set checkpoint not a checkpoint", body: strings.Replace(valid, `"timestamp":""`, `"timestamp":"-1"`, 1), status: 400, code: "invalid_checkpoint"},
		hostileCase{name: "idempotency key too long", header: map[string]string{wire.HeaderIdempotencyKey: strings.Repeat("k", 256)}, body: valid, status: 400, code: "invalid_idempotency_key"},
		hostileCase{name: "pull checkpoint not a checkpoint", method: http.MethodGet, path: "/pull?timestamp=yesterday", status: 400, code: "invalid_checkpoint"},
		hostileCase{name: "pull of an unknown collection", method: http.MethodGet, path: "/pull?collections=ss_tb_nope", status: 400, code: "unknown_collection"},
		hostileCase{name: "stream batch not a number", method: http.MethodGet, path: "/pull-stream?batch=many", status: 400, code: "invalid_batch"},
		hostileCase{name: "stream batch negative", method: http.MethodGet, path: "/pull-stream?batch=-5", status: 400, code: "invalid_batch"},
	)

	// Missing, forged and expired tokens.
	expired := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix(), "iat": time.Now().Add(-time.Hour).Unix()}
	future := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(30 * time.Minute).Unix()}
	forged := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for _, c := range []struct{ name, auth string }{
		{"no credentials", "-"},
		{"bearer without a token", "Bearer "},
		{"not a JWT", "Bearer not.a.jwt"},
		{"basic auth", "Basic YWxpY2U6c2VjcmV0"},
		{"token of another secret", "Bearer " + hToken(t, []byte("another-secret-another-secret-32b"), forged, jwt.SigningMethodHS256)},
		{"unsigned token", "Bearer " + hToken(t, nil, forged, jwt.SigningMethodNone)},
		{"HS512 token", "Bearer " + hToken(t, hostileSecret, forged, jwt.SigningMethodHS512)},
		{"expired token", "Bearer " + hToken(t, hostileSecret, expired, jwt.SigningMethodHS256)},
		{"token not valid yet", "Bearer " + hToken(t, hostileSecret, future, jwt.SigningMethodHS256)},
		{"token without exp", "Bearer " + hToken(t, hostileSecret, jwt.MapClaims{"sub": "alice"}, jwt.SigningMethodHS256)},
		{"token with an empty sub", "Bearer " + hToken(t, hostileSecret, jwt.MapClaims{"sub": "", "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256)},
		{"token with a bad linked claim", "Bearer " + hToken(t, hostileSecret, jwt.MapClaims{"sub": "bob", "linked": "alice", "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256)},
		{"token with a tampered payload", "Bearer " + hTamper(t)},
	} {
		cs = append(cs, hostileCase{name: c.name + " (push)", auth: c.auth, body: valid, status: 401, code: "unauthenticated"},
			hostileCase{name: c.name + " (pull)", auth: c.auth, method: http.MethodGet, path: "/pull", status: 401, code: "unauthenticated"})
	}
	cs = append(cs, hostileCase{name: "user header instead of a token", auth: "-", header: map[string]string{wire.HeaderUser: "alice"}, body: valid, status: 401, code: "unauthenticated"})
	return cs
}

// hTamper returns bob's valid token with its payload swapped for alice's.
func hTamper(t *testing.T) string {
	bob := strings.Split(hMint(t, "bob"), ".")
	alice := strings.Split(hMint(t, "alice"), ".")
	return bob[0] + "." + alice[1] + "." + bob[2]
}

// TestHostileInput sends malformed, oversized, forged and foreign requests
// to a running server on every store: each gets a clear 4xx with an
// {"error":{"code","message"}} body and leaves every table of the store
// exactly as it was (a few cases that may be accepted say so).
func TestHostileInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		hs := newHostileServer(t, b)
		before := hs.dump()
		for _, c := range hostileCases(t) {
			t.Run(c.name, func(t *testing.T) {
				if c.knownBug != "" {
					t.Skip("known bug: " + c.knownBug)
				}
				hs.t = t
				method, path := c.method, c.path
				if method == "" {
					method = http.MethodPost
				}
				if path == "" {
					path = hPushBoth
				}
				auth := c.auth
				switch auth {
				case "":
					auth = hs.tok[hPlainToken]
				case "-":
					auth = ""
				default:
					if tok, ok := hs.tok[auth]; ok {
						auth = tok
					}
				}
				status, body := hs.do(method, path, auth, c.header, c.body)
				if status >= 500 {
					t.Fatalf("%s %s: %d %s", method, path, status, truncateBody(body))
				}
				if c.status == 0 {
					t.Logf("%d %s", status, truncateBody(body))
				}
				if c.status == 0 && status == http.StatusOK {
					before = hs.dump() // accepted: the data may change
					return
				}
				if c.status != 0 && status != c.status {
					t.Fatalf("%s %s: %d %s, want %d", method, path, status, truncateBody(body), c.status)
				}
				if status == http.StatusOK {
					t.Fatalf("accepted: %s", truncateBody(body))
				}
				var e struct {
					Error *struct {
						Code    string `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Fatalf("%d answer %s is not {\"error\":{\"code\",\"message\"}}", status, truncateBody(body))
				}
				if c.code != "" && e.Error.Code != c.code {
					t.Fatalf("code %q (%s), want %q", e.Error.Code, e.Error.Message, c.code)
				}
				if c.want != "" && !strings.Contains(body, c.want) {
					t.Fatalf("message %q does not contain %s", e.Error.Message, c.want)
				}
				if len(e.Error.Message) > 2048 {
					t.Fatalf("message of %d bytes: the server echoes the input", len(e.Error.Message))
				}
				if after := hs.dump(); after != before {
					t.Fatalf("the refused request changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		}
	})
}

func truncateBody(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
