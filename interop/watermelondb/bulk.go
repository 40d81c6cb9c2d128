// Package watermelondb runs the real WatermelonDB client, the Node scripts
// of this folder with the packages of its package-lock.json (npm ci here
// installs them), against an ssync server's WatermelonDB front: its test
// (interop_test.go) checks the protocol, and ssync-bench times first syncs
// with FirstSyncs.
package watermelondb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Adapters are WatermelonDB's adapters that run in Node (lib.js): LokiJS,
// in memory, and SQLite, its sqlite-node dispatcher over better-sqlite3 on
// a real file.
var Adapters = []string{"lokijs", "sqlite"}

// ErrNotInstalled is returned when node or the folder's node_modules are
// missing.
var ErrNotInstalled = errors.New("node or node_modules missing (run npm ci in interop/watermelondb)")

// Node returns the path of node, checking that dir has the packages
// installed; the error wraps ErrNotInstalled.
func Node(dir string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	for _, pkg := range []string{"@nozbe/watermelondb", "better-sqlite3"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotInstalled, err)
		}
	}
	return node, nil
}

// Run runs script of dir in node with env added (and DB_DIR, a temporary
// folder for the SQLite adapter's files, removed afterwards), and decodes
// the JSON of the line it prints after "RESULT " into res. The error holds
// the script's output when it fails.
func Run(ctx context.Context, dir, script string, res any, env ...string) error {
	node, err := Node(dir)
	if err != nil {
		return err
	}
	dbDir, err := os.MkdirTemp("", "watermelondb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dbDir)
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "DB_DIR="+dbDir), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", script, err, out)
	}
	_, line, ok := bytes.Cut(out, []byte("RESULT "))
	if !ok {
		return fmt.Errorf("%s printed no result:\n%s", script, out)
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), res); err != nil {
		return fmt.Errorf("%s: its result: %w\n%s", script, err, out)
	}
	return nil
}

// FirstSync is one timed first sync.
type FirstSync struct {
	// Ms is the whole synchronize() call.
	Ms int `json:"ms"`
	// PullRequestMs is its pull request, the body read and parsed.
	PullRequestMs int `json:"pullRequestMs"`
}

// AdapterSyncs are one adapter's first syncs of the same rows.
type AdapterSyncs struct {
	// Normal is synchronize() as it comes.
	Normal FirstSync `json:"normal"`
	// CreatedAsUpdated is with sendCreatedAsUpdated.
	CreatedAsUpdated FirstSync `json:"createdAsUpdated"`
	// Turbo is with unsafeTurbo, when the adapter can do it.
	Turbo *FirstSync `json:"turbo"`
	// TurboRefused is the adapter's error when it cannot.
	TurboRefused string `json:"turboRefused"`
}

// FirstSyncs are bulk.js's figures.
type FirstSyncs struct {
	// Rows is how many notes each first sync brought.
	Rows int `json:"rows"`
	// Adapters are the figures per adapter.
	Adapters map[string]AdapterSyncs `json:"adapters"`
	// TurboPullRequestMs is the server's and the wire's part of a turbo
	// login: the first pull's body read as text, as an app hands it to
	// WatermelonDB's syncJson.
	TurboPullRequestMs int `json:"turboPullRequestMs"`
	// TurboPullBytes is that body's size.
	TurboPullBytes int `json:"turboPullBytes"`
}

// TimeFirstSyncs runs bulk.js of dir: on every adapter, first syncs of
// user's rows notes from the WatermelonDB front at url (normal, with
// sendCreatedAsUpdated, with unsafeTurbo), each checked to bring them all.
func TimeFirstSyncs(ctx context.Context, dir, url, user string, rows int) (FirstSyncs, error) {
	var res FirstSyncs
	err := Run(ctx, dir, "bulk.js", &res, "SSYNC_URL="+url, "BULK_USER="+user, "BULK_ROWS="+strconv.Itoa(rows),
		"ADAPTERS="+strings.Join(Adapters, ","))
	if err == nil && (res.Rows != rows || len(res.Adapters) != len(Adapters)) {
		err = fmt.Errorf("bulk.js reported %d rows on %d adapters, want %d on %d", res.Rows, len(res.Adapters), rows, len(Adapters))
	}
	return res, err
}
