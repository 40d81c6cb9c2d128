package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

// fuzzServer is a server over a SQLite store holding rows of alice and of
// bob, for fuzzing the pull parameters.
func fuzzServer(f *testing.F) http.Handler {
	f.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(f.TempDir(), "fuzz.db")))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	st, err := store.Open(ctx, db, ssqlite.Dialect(), generated.Registry())
	if err != nil {
		f.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth(), MaxStreamBatch: 50})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	for i, user := range []string{"alice", "bob", "alice"} {
		body := `[{"collection":"ss_tb_user","changes":{"created":[` + fzUser(i, user) + `]}},` +
			`{"collection":"ss_tb_note","changes":{"created":[` + fzNote(i, user) + `]}}]`
		req := httptest.NewRequest(http.MethodPost, "/api/sync/push?collections=ss_tb_user,ss_tb_note", strings.NewReader(body))
		req.Header.Set(wire.HeaderUser, user)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			f.Fatalf("seed push: %d %s", rec.Code, rec.Body)
		}
	}
	del := httptest.NewRequest(http.MethodPost, "/api/sync/push?collections=ss_tb_note",
		strings.NewReader(`[{"collection":"ss_tb_note","changes":{"deleted":["`+fzID(2, 'b')+`"]}}]`))
	del.Header.Set(wire.HeaderUser, "alice")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, del)
	if rec.Code != http.StatusOK {
		f.Fatalf("seed delete: %d %s", rec.Code, rec.Body)
	}
	return mux
}

func fzID(i int, kind byte) string {
	return "0000000" + string(rune('0'+i)) + "-0000-4000-8000-00000000000" + string(kind)
}

func fzUser(i int, owner string) string {
	return `{"id":"` + fzID(i, 'a') + `","createdAt":"2024-12-21T17:25:53Z","updatedAt":"2024-12-21T17:25:53Z","syncId":"` + owner +
		`","name":"U` + owner + `","age":30}`
}

func fzNote(i int, owner string) string {
	return `{"id":"` + fzID(i, 'b') + `","createdAt":"2024-12-21T17:25:53Z","updatedAt":"2024-12-21T17:25:53Z","syncId":"` + owner +
		`","message":"m","completed":false,"userId":"` + fzID(i, 'a') + `","userName":"U"}`
}

// FuzzPullQuery sends GET /pull and /pull-stream with arbitrary query
// strings and device ids: no answer is a 5xx; a refusal is a 4xx with an
// {"error":{"code","message"}} body; an answer holds only alice's rows and,
// streamed, ends with its done line.
func FuzzPullQuery(f *testing.F) {
	h := fuzzServer(f)
	for _, q := range []string{"", "timestamp=", "collections=ss_tb_note&timestamp=1", "collections=ss_tb_user,ss_tb_note&timestamp=0001-01-01T00:00:00",
		"timestamp=2.00000002-0000-4000-8000-00000000000b&batch=1", "batch=0", "batch=-3", "batch=99999999999999999999",
		"collections=ss_tb_nope", "collections=,,,&timestamp=%zz", "timestamp=yesterday", "timestamp=18446744073709551615",
		"collections=ss_tb_note&collections=ss_tb_note&batch=1", "timestamp=1;batch=1"} {
		f.Add(q, "phone-1")
		f.Add(q, "")
	}
	f.Add("timestamp=", strings.Repeat("d", 65))
	f.Fuzz(func(t *testing.T, query, dev string) {
		for _, path := range []string{"/api/sync/pull", "/api/sync/pull-stream"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = query
			req.Header.Set(wire.HeaderUser, "alice")
			req.Header.Set(wire.HeaderDevice, dev)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			switch {
			case rec.Code >= 500:
				t.Fatalf("GET %s?%s: %d %s", path, query, rec.Code, body)
			case rec.Code != http.StatusOK:
				fzCheckError(t, rec)
			case strings.HasSuffix(path, "/pull"):
				sets, err := wire.DecodeChangeSets(body, generated.Registry(), ssync.DecodeOptions{Strict: true})
				if err != nil {
					t.Fatalf("GET %s?%s answered %s: %v", path, query, body, err)
				}
				fzCheckOwners(t, sets)
			default:
				lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
				last := lines[len(lines)-1]
				if !bytes.HasPrefix(last, []byte(`{"done":true`)) {
					t.Fatalf("GET %s?%s: the stream ends with %s", path, query, last)
				}
				for _, l := range lines[:len(lines)-1] {
					sets, err := wire.DecodeChangeSets(append(append([]byte{'['}, l...), ']'), generated.Registry(), ssync.DecodeOptions{Strict: true})
					if err != nil {
						t.Fatalf("GET %s?%s: stream line %s: %v", path, query, l, err)
					}
					fzCheckOwners(t, sets)
				}
			}
		}
	})
}

func fzCheckError(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%d answer %s is not {\"error\":{\"code\",\"message\"}}", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%d answer has Content-Type %q", rec.Code, ct)
	}
}

func fzCheckOwners(t *testing.T, sets []wire.ChangeSet) {
	t.Helper()
	reg := generated.Registry()
	for _, cs := range sets {
		c, _ := reg.Lookup(cs.Collection)
		for _, rows := range [][]any{cs.Created, cs.Updated} {
			for _, r := range rows {
				if owner := c.RecordOf(r).SyncID; owner != "alice" {
					t.Fatalf("alice's pull holds a row of %q", owner)
				}
			}
		}
	}
}
