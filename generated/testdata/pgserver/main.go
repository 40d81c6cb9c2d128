// Command pgserver is a sync server for the example models on a PostgreSQL
// store. It exists to be built by TestServerWithoutCgo: a server that
// imports the generated package, which builds on runtime/client, must not
// link the device's SQLite driver, and must build with CGO_ENABLED=0.
package main

import (
	"context"
	"database/sql"
	"flag"
	"log"
	"net/http"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/store/postgres"
)

func main() {
	dsn := flag.String("db", "postgres://localhost/ssync", "PostgreSQL URL")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	ctx := context.Background()
	db, err := sql.Open("pgx", *dsn)
	if err != nil {
		log.Fatal(err)
	}
	st, err := store.Open(ctx, db, postgres.Dialect(), generated.Registry())
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Authenticator: server.InsecureHeaderAuth()})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux, "")
	// The generated repositories compile in here too, unused.
	_ = generated.SyncNotes
	log.Fatal(http.ListenAndServe(*addr, mux))
}
