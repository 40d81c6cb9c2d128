// Command nodriver opens a device database in a program that imports no
// SQLite driver, built by TestOpenWithoutDriver with CGO_ENABLED=0:
// client.Open must refuse with client.ErrNoDriver, and write nothing. It
// exits 0 when it does, 1 otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
)

func main() {
	dir, err := os.MkdirTemp("", "nodriver")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "device.db")
	db, err := client.Open(context.Background(), path, generated.Registry(), client.Options{})
	if err == nil {
		db.Close()
		fail(errors.New("client.Open succeeded without a driver"))
	}
	if !errors.Is(err, client.ErrNoDriver) {
		fail(fmt.Errorf("client.Open: %w, want an error wrapping ErrNoDriver", err))
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		fail(fmt.Errorf("client.Open wrote %s", entries[0].Name()))
	}
	fmt.Println(err)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nodriver:", err)
	os.Exit(1)
}
