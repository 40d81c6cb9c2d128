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

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the device database's driver
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Two devices of one user work offline, then meet through a server.
func ExampleDB_Synchronize() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ssync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A server on 127.0.0.1 over a SQLite store.
	sdb, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(dir, "server.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer sdb.Close()
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
	defer hs.Close()

	opts := client.SyncOptions{
		ServerURL: hs.URL,
		Decorate: func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, "alice") // development-only authentication
			return nil
		},
	}
	var devices []*client.DB
	for _, name := range []string{"phone.db", "laptop.db"} {
		db, err := client.Open(ctx, filepath.Join(dir, name), generated.Registry(), client.Options{})
		if err != nil {
			log.Fatal(err)
		}
		defer db.Close()
		if err := db.SetUser(ctx, "alice"); err != nil {
			log.Fatal(err)
		}
		devices = append(devices, db)
	}
	phone, laptop := devices[0], devices[1]

	// Offline on the phone.
	note := &models.Note{Message: "buy milk"}
	if err := generated.SyncNotes(phone).Insert(ctx, note); err != nil {
		log.Fatal(err)
	}
	res, err := phone.Synchronize(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("phone pushed %d note(s)\n", res.Pushed[0].Created)

	res, err = laptop.Synchronize(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("laptop pulled %d note(s)\n", res.Pulled[0].Created)
	notes, err := generated.SyncNotes(laptop).Select(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range notes {
		fmt.Println("laptop has:", n.Message, n.ID == note.ID)
	}
	// Output:
	// phone pushed 1 note(s)
	// laptop pulled 1 note(s)
	// laptop has: buy milk true
}

// A repository tracks every write so that the next Synchronize carries it.
func ExampleRepo() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ssync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := client.Open(ctx, filepath.Join(dir, "device.db"), generated.Registry(), client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.SetUser(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	notes := generated.SyncNotes(db)
	n := &models.Note{Message: "draft"}
	if err := notes.Insert(ctx, n); err != nil { // sets ID, timestamps, owner
		log.Fatal(err)
	}
	n.Message = "final"
	if err := notes.Update(ctx, n); err != nil {
		log.Fatal(err)
	}
	if err := notes.Insert(ctx, &models.Note{Message: "scratch"}); err != nil {
		log.Fatal(err)
	}
	live, _ := notes.Select(ctx)
	fmt.Println("live:", len(live), "owner:", n.SyncID)
	if err := notes.Delete(ctx, live[1].ID); err != nil { // soft delete
		log.Fatal(err)
	}
	live, _ = notes.Select(ctx)
	all, _ := notes.Select(ctx, client.IncludeDeleted())
	fmt.Println("live:", len(live), "with deleted:", len(all), "first:", live[0].Message)
	// Output:
	// live: 2 owner: alice
	// live: 1 with deleted: 2 first: final
}

// Version 2 of an app gives every note the name of its author, on the
// device: the notes it changes are pushed at the next sync like edits.
func ExampleMigration() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ssync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "phone.db")
	db, err := client.Open(ctx, path, generated.Registry(), client.Options{SchemaVersion: 1})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.SetUser(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	author := &models.User{Name: "Alice"}
	if err := generated.SyncUsers(db).Insert(ctx, author); err != nil {
		log.Fatal(err)
	}
	if err := generated.SyncNotes(db).Insert(ctx, &models.Note{Message: "hello", UserID: &author.ID}); err != nil {
		log.Fatal(err)
	}
	db.Close()

	// Version 2 ships the migration; it stays in the list for good.
	migrations := []client.Migration{{
		Version: 1,
		Name:    "note author names",
		Run: func(ctx context.Context, tx *client.MigrationTx) error {
			const unnamed = "user_name = '' AND user_id IS NOT NULL"
			if _, err := tx.MarkChanged(ctx, "ss_tb_note", unnamed); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE ss_tb_note SET user_name =
				(SELECT name FROM ss_tb_user WHERE ss_tb_user.id = ss_tb_note.user_id) WHERE `+unnamed)
			return err
		},
	}}
	db, err = client.Open(ctx, path, generated.Registry(), client.Options{SchemaVersion: 2, Migrations: migrations})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	notes, err := generated.SyncNotes(db).Select(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(notes[0].UserName)
	// Output: Alice
}
