package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// A release trims the whitespace users typed around their names, on the
// server, and devices get the trimmed names at their next pull.
func ExampleWithMigrations() {
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

	migrations := []store.Migration{{
		Version: 1,
		Name:    "trim user names",
		Run: func(ctx context.Context, tx *store.MigrationTx) error {
			// Stamp the rows first, while the condition still finds them:
			// the next pull of every device carries them.
			if _, err := tx.MarkChanged(ctx, "ss_tb_user", "name <> TRIM(name)"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE ss_tb_user SET name = TRIM(name)")
			return err
		},
	}}
	for range 2 { // every start of the server opens the store; the migration runs once
		if _, err := store.Open(ctx, db, ssqlite.Dialect(), generated.Registry(), store.WithMigrations(migrations...)); err != nil {
			log.Fatal(err)
		}
	}
	var version int
	var name string
	if err := db.QueryRow("SELECT version, name FROM ss_migrations").Scan(&version, &name); err != nil {
		log.Fatal(err)
	}
	fmt.Println(version, name)
	// Output: 1 trim user names
}
