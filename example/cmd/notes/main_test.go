package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
)

// startServer runs the sync API in-process, mounted like notes-server, over
// a SQLite store in a temporary directory, and returns its URL.
func startServer(t *testing.T) string {
	t.Helper()
	st, _ := storetest.SQLite().Store(t, generated.Registry())
	return storetest.Serve(t, st, server.Config{})
}

// device drives the notes CLI against one local database file.
type device struct {
	t      *testing.T
	name   string
	db     string
	server string
	user   string // -user, when not empty
	token  string // -token, when not empty
	as     string // -as, when not empty
}

func newDevice(t *testing.T, name, serverURL, user string) *device {
	return &device{t: t, name: name, db: filepath.Join(t.TempDir(), name+".db"), server: serverURL, user: user}
}

// exec runs one command and returns its exit code, stdout and stderr.
func (d *device) exec(args ...string) (code int, stdout, stderr string) {
	d.t.Helper()
	var out, errb bytes.Buffer
	all := []string{"-db", d.db, "-server", d.server}
	for _, f := range [][2]string{{"-user", d.user}, {"-token", d.token}, {"-as", d.as}} {
		if f[1] != "" {
			all = append(all, f[0], f[1])
		}
	}
	all = append(all, args...)
	code = run(d.t.Context(), all, &out, &errb)
	return code, out.String(), errb.String()
}

// must runs one command, fails the test unless it succeeds, and returns its
// stdout.
func (d *device) must(args ...string) string {
	d.t.Helper()
	code, out, errs := d.exec(args...)
	if code != 0 {
		d.t.Fatalf("device %s: notes %s: exit %d\nstdout: %s\nstderr: %s", d.name, strings.Join(args, " "), code, out, errs)
	}
	return out
}

// add adds a note and returns its id.
func (d *device) add(msg string) string {
	d.t.Helper()
	out := d.must("add", msg)
	id := strings.TrimSpace(out)
	if _, err := uuid.Parse(id); err != nil || strings.Count(out, "\n") != 1 {
		d.t.Fatalf("device %s: add printed %q, want one full UUID line", d.name, out)
	}
	return id
}

var syncLine = regexp.MustCompile(`^synced: pushed .+; pulled .+; checkpoint \d+\n$`)

func (d *device) sync() {
	d.t.Helper()
	out := d.must("sync")
	if !syncLine.MatchString(out) {
		d.t.Errorf("device %s: sync printed %q, want one summary line", d.name, out)
	}
}

func TestTwoDevicesConverge(t *testing.T) {
	srv := startServer(t)
	a := newDevice(t, "a", srv, "alice")
	b := newDevice(t, "b", srv, "alice")

	// Offline on both devices.
	a1, a2, a3 := a.add("buy milk"), a.add("call mom"), a.add("water plants")
	b1, b2 := b.add("read book"), b.add("fix bike")
	if got := a.must("list"); strings.Count(got, "\n") != 3 {
		t.Fatalf("device a before sync lists:\n%s", got)
	}

	a.sync()
	b.sync()
	a.sync()

	// Offline edits on both, then sync until both have everything.
	a.must("edit", b1, "read two books")
	a.must("done", a2)
	b.must("rm", a3)
	a.sync()
	b.sync()
	a.sync()

	listA, listB := a.must("list"), b.must("list")
	if listA != listB {
		t.Fatalf("devices differ\ndevice a:\n%s\ndevice b:\n%s", listA, listB)
	}
	want := map[string]string{
		a1: "[ ] buy milk",
		a2: "[x] call mom",
		b1: "[ ] read two books",
		b2: "[ ] fix bike",
	}
	lines := strings.Split(strings.TrimSuffix(listA, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("list has %d notes, want %d:\n%s", len(lines), len(want), listA)
	}
	prev := ""
	for _, line := range lines {
		id, rest, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("malformed list line %q", line)
		}
		if id <= prev {
			t.Errorf("list is not sorted by id: %s after %s", id, prev)
		}
		prev = id
		if w, ok := want[id]; !ok {
			t.Errorf("unexpected note %q", line)
		} else if rest != w {
			t.Errorf("note %s is %q, want %q", id, rest, w)
		}
	}
	if strings.Contains(listA, a3) {
		t.Errorf("deleted note %s is still listed:\n%s", a3, listA)
	}

	// The deletion reached device a: its own note is gone for good.
	code, _, errs := a.exec("edit", a3, "too late")
	if code != exitError || !strings.Contains(errs, "no note "+a3) {
		t.Errorf("edit of a deleted note: exit %d, stderr %q; want exit %d and \"no note %s\"", code, errs, exitError, a3)
	}

	// Another sync changes nothing.
	if out := a.must("sync"); !strings.Contains(out, "pushed nothing; pulled nothing") {
		t.Errorf("idle sync printed %q", out)
	}
}

func TestUserScopesNotes(t *testing.T) {
	srv := startServer(t)
	alice := newDevice(t, "alice", srv, "alice")
	bob := newDevice(t, "bob", srv, "bob")
	alice.add("alice's note")
	alice.sync()
	bob.sync()
	if out := bob.must("list"); out != "" {
		t.Errorf("bob sees alice's notes:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	d := newDevice(t, "usage", "http://127.0.0.1:1", "alice")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"edit non-UUID id", []string{"edit", "not-a-uuid", "hello"}, `edit: invalid note id "not-a-uuid"`},
		{"done non-UUID id", []string{"done", "42"}, `done: invalid note id "42"`},
		{"rm missing id", []string{"rm"}, "rm takes one argument"},
		{"add without message", []string{"add"}, "add takes one argument"},
		{"add multi-line message", []string{"add", "one\ntwo"}, "single line"},
		{"list with argument", []string{"list", "x"}, "list takes no arguments"},
		{"unknown flag", []string{"-nope", "list"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := d.exec(tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(errs, tc.want) || !strings.Contains(errs, "usage: notes") {
				t.Errorf("stderr %q, want it to contain %q and the usage", errs, tc.want)
			}
		})
	}
}

func TestMissingNote(t *testing.T) {
	d := newDevice(t, "missing", "http://127.0.0.1:1", "alice")
	id := uuid.NewString()
	for _, cmd := range [][]string{{"edit", id, "x"}, {"done", id}, {"rm", id}} {
		code, _, errs := d.exec(cmd...)
		if code != exitError || !strings.Contains(errs, "no note "+id) {
			t.Errorf("notes %s: exit %d, stderr %q; want exit %d and \"no note %s\"", cmd[0], code, errs, exitError, id)
		}
	}
}

func TestSyncServerError(t *testing.T) {
	// A server that refuses every request: sync fails fast (4xx is not
	// retried) with the server's message on stderr.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":"unauthenticated","message":"go away"}}`)
	}))
	defer ts.Close()
	d := newDevice(t, "refused", ts.URL, "alice")
	d.add("pending")
	code, out, errs := d.exec("sync")
	if code != exitError || out != "" || !strings.Contains(errs, "go away") {
		t.Errorf("sync: exit %d, stdout %q, stderr %q; want exit %d and the server's message", code, out, errs, exitError)
	}
}

func TestUserFromEnvironment(t *testing.T) {
	t.Setenv("SSYNC_USER", "carol")
	dbPath := filepath.Join(t.TempDir(), "env.db")
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-db", dbPath, "add", "from env"}, &out, &errb); code != 0 {
		t.Fatalf("add: exit %d, stderr %q", code, errb.String())
	}
	id := strings.TrimSpace(out.String())
	d := &device{t: t, name: "env", db: dbPath, user: "carol"}
	if got, want := d.must("list"), id+" [ ] from env\n"; got != want {
		t.Errorf("carol lists %q, want %q", got, want)
	}
	d.user = "dave"
	if got := d.must("list"); got != "" {
		t.Errorf("dave lists carol's notes: %q", got)
	}
}

func TestSyncLogLevelsAndProgress(t *testing.T) {
	url := startServer(t)
	a := newDevice(t, "a", url, "alice")
	id := a.add("log me")
	code, out, errOut := a.exec("sync", "-log", "fields")
	if code != 0 {
		t.Fatalf("sync -log fields: %d %s", code, errOut)
	}
	if !strings.Contains(out, "push created ss_tb_note "+id+" owner=alice updatedAt=") {
		t.Fatalf("sync -log fields printed:\n%s", out)
	}
	if !strings.Contains(errOut, "sync: handshake") || !strings.Contains(errOut, "sync: push") || !strings.Contains(errOut, "sync: pull") {
		t.Fatalf("progress lines on a non-terminal stderr:\n%s", errOut)
	}
	b := newDevice(t, "b", url, "alice")
	code, out, errOut = b.exec("sync", "-log=full")
	if code != 0 || !strings.Contains(out, `pull created ss_tb_note `+id) || !strings.Contains(out, `"message":"log me"`) {
		t.Fatalf("sync -log=full: %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := b.exec("sync", "-log", "everything"); code != 2 || !strings.Contains(errOut, "unknown log level") {
		t.Fatalf("sync -log everything: %d %s", code, errOut)
	}
}
