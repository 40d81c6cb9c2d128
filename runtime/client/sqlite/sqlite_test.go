package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// The driver this package registers is the one client.Open opens.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	reg, err := ssync.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "device.db")
	db, err := client.Open(ctx, path, reg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	id := db.DeviceID()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The file keeps what was written.
	db, err = client.Open(ctx, path, reg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if user, _ := db.User(); user != "alice" || db.DeviceID() != id {
		t.Errorf("reopened: user %q, device %q; want alice, %q", user, db.DeviceID(), id)
	}
}
