package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

// A server over a SQLite store, mounted on a mux: a push, then a pull from
// the start.
func ExampleServer_Mount() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ssync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(dir, "server.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	st, err := store.Open(ctx, db, ssqlite.Dialect(), generated.Registry())
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "") // under /api/sync
	hs := httptest.NewServer(mux)
	defer hs.Close()

	send := func(method, path, body string) string {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		req.Header.Set(wire.HeaderUser, "alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	fmt.Println(send("POST", "/api/sync/push?collections=ss_tb_user", `[{"collection":"ss_tb_user","changes":{"created":[
		{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","createdAt":"2024-12-21T17:25:53Z","updatedAt":"2024-12-21T17:25:53Z","name":"Alice","age":31}]}}]`))
	fmt.Println(send("GET", "/api/sync/pull?collections=ss_tb_user&timestamp=", ""))
	// Output:
	// 200 "1"
	// 200 [{"collection":"ss_tb_user","timestamp":"1","changes":{"created":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","createdAt":"2024-12-21T17:25:53Z","updatedAt":"2024-12-21T17:25:53Z","deletedAt":null,"syncId":"alice","name":"Alice","age":31}],"updated":[],"deleted":[]}}]
}
