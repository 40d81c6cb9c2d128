// Package evolve_test plays the README's "Changing your models" demo with
// real binaries: it copies the module to a temporary directory, builds the
// notes app and notes-server as they are (version 1), adds a field to Note
// there, regenerates with go generate (ssyncgen checks the change against
// the committed schema snapshot), builds version 2 of both, and drives
// both notes versions against one notes-server, upgraded in place, checking
// that no value is lost.
package evolve_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// root is the module's root, from this package's directory.
const root = "../.."

// The change the demo makes to example/models/models.go: a new int field
// after UserName, and version 2 in the go:generate line.
const (
	fieldAnchor   = "\tUserName string `json:\"userName\"`\n"
	newField      = "\t// Priority orders the notes: higher first.\n\tPriority int `json:\"priority\"`\n"
	versionBefore = "-schema-version 1 ."
	versionAfter  = "-schema-version 2 ."
)

func TestTwoAppVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four binaries with the go command")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	mod := filepath.Join(t.TempDir(), "ssync")
	copyModule(t, root, mod)
	bin := t.TempDir()
	// -trimpath makes the builds in the copy independent of its location,
	// so that later runs find them in the build cache.
	env := append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -trimpath"), "GOWORK=off", "CGO_ENABLED=1")
	goRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gobin, args...)
		cmd.Dir, cmd.Env = mod, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	build := func(version string) {
		t.Helper()
		goRun("build", "-o", filepath.Join(bin, version)+"/", "./example/cmd/notes", "./example/cmd/notes-server")
	}

	// Version 1, as committed.
	build("v1")

	// Version 2: Note gains Priority; go generate regenerates the code and
	// the snapshot, which accepts an added field.
	models := filepath.Join(mod, "example", "models", "models.go")
	src, err := os.ReadFile(models)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(fieldAnchor)) || !bytes.Contains(src, []byte(versionBefore)) {
		t.Fatalf("example/models/models.go has no %q or no %q: update this test with the demo in the README", fieldAnchor, versionBefore)
	}
	src = bytes.Replace(src, []byte(fieldAnchor), []byte(fieldAnchor+newField), 1)
	src = bytes.Replace(src, []byte(versionBefore), []byte(versionAfter), 1)
	if err := os.WriteFile(models, src, 0o644); err != nil {
		t.Fatal(err)
	}
	goRun("generate", "./example/models")
	snap, err := os.ReadFile(filepath.Join(mod, "generated", "schema.ssync.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(snap, []byte(`"name": "priority"`)) || !bytes.Contains(snap, []byte(`"schemaVersion": 2`)) {
		t.Fatalf("the regenerated snapshot has no priority column or not version 2:\n%s", snap)
	}
	build("v2")

	secret := "SSYNC_JWT_SECRET=0123456789abcdef0123456789abcdef"
	token := strings.TrimSpace(runBin(t, []string{secret}, filepath.Join(bin, "v1", "notes-server"), "-mint-token", "alice"))
	dir := t.TempDir()
	serverDB := filepath.Join(dir, "server.db")
	type app struct{ name, version string }
	notes := func(srv string, a app, args ...string) string {
		t.Helper()
		all := append([]string{"-db", filepath.Join(dir, a.name+".db"), "-server", srv, "-token", token}, args...)
		return runBin(t, nil, filepath.Join(bin, a.version, "notes"), all...)
	}
	show := func(srv string, a app, id string) map[string]any {
		t.Helper()
		var fields map[string]any
		if out := notes(srv, a, "show", id); json.Unmarshal([]byte(out), &fields) != nil {
			t.Fatalf("%s (%s) show printed %q", a.name, a.version, out)
		}
		return fields
	}
	oldA, oldB := app{"a", "v1"}, app{"b", "v1"}

	// The server runs version 1; two devices on version 1 write notes.
	srv, stop := startServer(t, env, secret, filepath.Join(bin, "v1", "notes-server"), serverDB)
	n1 := strings.TrimSpace(notes(srv, oldA, "add", "buy milk"))
	n2 := strings.TrimSpace(notes(srv, oldA, "add", "call the plumber"))
	notes(srv, oldA, "sync")
	notes(srv, oldB, "sync")
	stop()

	// The server is upgraded first: version 2 opens the same store and adds
	// the column. A new device on version 2 gives n1 a priority and adds a
	// note of its own.
	srv, stop = startServer(t, env, secret, filepath.Join(bin, "v2", "notes-server"), serverDB)
	defer stop()
	newC := app{"c", "v2"}
	notes(srv, newC, "sync")
	if got := show(srv, newC, n1); got["priority"] != float64(0) || got["message"] != "buy milk" {
		t.Fatalf("version 2 shows version 1's note as %v, want priority 0", got)
	}
	notes(srv, newC, "set", n1, "priority", "5")
	n3 := strings.TrimSpace(notes(srv, newC, "add", "water the plants"))
	notes(srv, newC, "set", n3, "priority", "2")
	notes(srv, newC, "sync")

	// Version 1 pulls notes with a field it does not know, and edits n1:
	// its push carries no priority, and the server keeps 5.
	notes(srv, oldA, "sync")
	if got := show(srv, oldA, n1); got["priority"] != nil || got["message"] != "buy milk" {
		t.Fatalf("version 1 shows %v, want the note without priority", got)
	}
	notes(srv, oldA, "edit", n1, "buy oat milk")
	notes(srv, oldA, "done", n3)
	notes(srv, oldA, "sync")

	// Version 2 sees version 1's edits, with its own values intact.
	notes(srv, newC, "sync")
	if got := show(srv, newC, n1); got["priority"] != float64(5) || got["message"] != "buy oat milk" {
		t.Errorf("version 2 shows n1 as %v, want priority 5 and version 1's edit", got)
	}
	if got := show(srv, newC, n3); got["priority"] != float64(2) || got["completed"] != true {
		t.Errorf("version 2 shows n3 as %v, want priority 2 and done by version 1", got)
	}

	// Device b is upgraded: version 2 opens its version-1 file, adds the
	// column and pulls the table again, so it gets the server's values.
	newB := app{"b", "v2"}
	notes(srv, newB, "sync")
	for id, want := range map[string]float64{n1: 5, n2: 0, n3: 2} {
		if got := show(srv, newB, id); got["priority"] != want {
			t.Errorf("upgraded device b shows %s as %v, want priority %v", id, got, want)
		}
	}
	listA, listB, listC := notes(srv, oldA, "list"), notes(srv, newB, "list"), notes(srv, newC, "list")
	if listA != listB || listB != listC || strings.Count(listA, "\n") != 3 {
		t.Errorf("devices differ:\na (version 1):\n%sb (upgraded):\n%sc (version 2):\n%s", listA, listB, listC)
	}
}

// runBin runs a built binary with env added and returns its stdout; it
// fails the test, showing the output, when the binary fails.
func runBin(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(filepath.Dir(name))+"/"+filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var listening = regexp.MustCompile(`notes-server listening on (http://\S+)`)

// startServer runs a notes-server binary on a free port of 127.0.0.1 over
// the SQLite store db, and returns its URL and a function that stops it
// (interrupt, then wait; at most once).
func startServer(t *testing.T, env []string, secret, name, db string) (string, func()) {
	t.Helper()
	cmd := exec.Command(name, "-addr", "127.0.0.1:0", "-db", db)
	cmd.Env = append(env, secret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	url := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		<-done
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s exited with %v; stderr:\n%s", name, err, log.String())
		}
	}
	t.Cleanup(stop)
	select {
	case u := <-url:
		return u, stop
	case <-done:
		stop()
		t.Fatalf("%s exited before listening; stderr:\n%s", name, log.String())
	case <-time.After(60 * time.Second):
		stop()
		t.Fatalf("%s did not listen within a minute", name)
	}
	return "", stop
}

// copyModule copies what building the example needs from the module at
// src to dst: go.mod, go.sum and the Go files (not tests, not testdata),
// with the committed schema snapshots.
func copyModule(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		keep := name == "go.mod" || name == "go.sum" || name == "schema.ssync.json" ||
			strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if !keep || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the module: %v", err)
	}
}
