package client_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

// The laptop runs live: the phone's note reaches its screen without the
// laptop calling Synchronize.
func ExampleDB_Run() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "ssync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	url, stopServer := exampleServer(ctx, dir) // as in ExampleDB_Synchronize
	defer stopServer()
	opts := client.SyncOptions{ServerURL: url, Decorate: func(r *http.Request) error {
		r.Header.Set(wire.HeaderUser, "alice") // development-only authentication
		return nil
	}}
	open := func(name string) *client.DB {
		db, err := client.Open(ctx, filepath.Join(dir, name), generated.Registry(), client.Options{})
		if err != nil {
			log.Fatal(err)
		}
		if err := db.SetUser(ctx, "alice"); err != nil {
			log.Fatal(err)
		}
		return db
	}
	phone, laptop := open("phone.db"), open("laptop.db")
	defer phone.Close()
	defer laptop.Close()

	live, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- laptop.Run(live, client.LiveOptions{Sync: opts}) }()

	go func() {
		note := &models.Note{Message: "buy milk"}
		if err := generated.SyncNotes(phone).Insert(ctx, note); err != nil {
			log.Fatal(err)
		}
		if _, err := phone.Synchronize(ctx, opts); err != nil {
			log.Fatal(err)
		}
	}()
	notes := generated.SyncNotes(laptop)
	f := notes.Fields()
	for open, err := range notes.Watch(live, client.Match(f.Completed.Eq(false))) {
		if err != nil {
			log.Fatal(err)
		}
		if len(open) > 0 {
			fmt.Println("laptop shows:", open[0].Message)
			break
		}
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// laptop shows: buy milk
}

// exampleServer serves the sync API on 127.0.0.1 over a SQLite store in
// dir, and returns its URL and what stops it.
func exampleServer(ctx context.Context, dir string) (string, func()) {
	sdb, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(dir, "server.db")))
	if err != nil {
		log.Fatal(err)
	}
	st, err := store.Open(ctx, sdb, ssqlite.Dialect(), generated.Registry())
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	hs := httptest.NewServer(mux)
	return hs.URL, func() {
		hs.Close()
		sdb.Close()
	}
}
