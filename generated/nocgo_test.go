package generated_test

// The generated package builds on runtime/client, which imports no database
// driver: the device's SQLite driver (cgo) comes with runtime/client/sqlite.
// These tests build small programs kept under testdata.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sqliteDriver = "github.com/mattn/go-sqlite3"

// goCmd runs the go command in this directory with env added to the
// environment and returns its standard output; it fails the test, showing
// the output, when the command fails.
func goCmd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	cmd := exec.Command(gobin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestServerWithoutCgo: a PostgreSQL server that imports this package links
// no SQLite driver and builds with CGO_ENABLED=0.
func TestServerWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	const prog = "./testdata/pgserver"
	// Each line: a package and its imports, to show how the driver came in.
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(goCmd(t, nil, "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, prog)), "\n") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	for _, want := range []string{
		"github.com/ssync-go/ssync/generated",
		"github.com/ssync-go/ssync/runtime/client",
		"github.com/ssync-go/ssync/runtime/server",
		"github.com/jackc/pgx/v5/stdlib",
	} {
		if _, ok := imports[want]; !ok {
			t.Errorf("%s does not depend on %s; the test no longer checks a real server", prog, want)
		}
	}
	if _, ok := imports[sqliteDriver]; ok {
		t.Errorf("%s links %s: %s", prog, sqliteDriver, strings.Join(importPath(imports, "github.com/ssync-go/ssync/generated/testdata/pgserver", sqliteDriver), " → "))
	}
	goCmd(t, []string{"CGO_ENABLED=0"}, "build", "-o", filepath.Join(t.TempDir(), "pgserver"), prog)
}

// importPath returns a chain of imports from one package to another.
func importPath(imports map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, next := range imports[p] {
			if _, seen := prev[next]; !seen {
				prev[next] = p
				queue = append(queue, next)
			}
		}
	}
	return []string{"(no import path found)"}
}

// TestOpenWithoutDriver: a device program that forgets the driver builds
// without cgo, and client.Open tells it what to import.
func TestOpenWithoutDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "nodriver")
	goCmd(t, []string{"CGO_ENABLED=0"}, "build", "-o", bin, "./testdata/nodriver")
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("nodriver: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "runtime/client/sqlite") {
		t.Errorf("the error does not name the package to import: %s", out)
	}
}
