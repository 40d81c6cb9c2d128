package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/jwtauth"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// startJWTServer runs the sync API in-process like notes-server with
// -jwt-secret, over a SQLite store, and returns its URL and the store.
func startJWTServer(t *testing.T) (string, *sql.DB) {
	t.Helper()
	st, db := storetest.SQLite().Store(t, generated.Registry())
	auth, err := jwtauth.New(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Serve(t, st, server.Config{Authenticator: auth}), db
}

func token(t *testing.T, secret []byte, user string, linked ...string) string {
	t.Helper()
	tok, err := jwtauth.Mint(secret, user, linked, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// owners returns "message=owner" for every note in the server's store.
func owners(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT message, ss_sync_id FROM ss_tb_note WHERE deleted_at IS NULL ORDER BY message`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var msg, owner string
		if err := rows.Scan(&msg, &owner); err != nil {
			t.Fatal(err)
		}
		out = append(out, msg+"="+owner)
	}
	return out
}

// messages returns the messages list prints, in order.
func messages(list string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(list, "\n"), "\n") {
		if line == "" {
			continue
		}
		_, rest, _ := strings.Cut(line, " ")
		out = append(out, rest[len("[ ] "):])
	}
	slices.Sort(out)
	return out
}

func TestTokenDevicesConverge(t *testing.T) {
	t.Setenv("SSYNC_USER", "")
	srv, st := startJWTServer(t)
	tok := token(t, testSecret, "alice")
	// No -user: the user comes from the token.
	a := &device{t: t, name: "a", db: filepath.Join(t.TempDir(), "a.db"), server: srv, token: tok}
	b := &device{t: t, name: "b", db: filepath.Join(t.TempDir(), "b.db"), server: srv, token: tok, user: "alice"}
	a.add("from a")
	id := b.add("from b")
	a.sync()
	b.sync()
	a.sync()
	a.must("done", id)
	a.sync()
	b.sync()
	listA, listB := a.must("list"), b.must("list")
	if listA != listB || !strings.Contains(listA, id+" [x] from b") || strings.Count(listA, "\n") != 2 {
		t.Fatalf("devices differ or miss notes\ndevice a:\n%s\ndevice b:\n%s", listA, listB)
	}
	if got := owners(t, st); !slices.Equal(got, []string{"from a=alice", "from b=alice"}) {
		t.Fatalf("server rows %v, want both owned by alice", got)
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	srv, st := startJWTServer(t)
	t.Setenv("SSYNC_USER", "")
	t.Setenv("SSYNC_TOKEN", token(t, testSecret, "carol"))
	d := &device{t: t, name: "env", db: filepath.Join(t.TempDir(), "env.db"), server: srv}
	d.add("carol's")
	d.sync()
	if got := owners(t, st); !slices.Equal(got, []string{"carol's=carol"}) {
		t.Fatalf("server rows %v, want carol's note", got)
	}
}

func TestTokenActsForLinkedUser(t *testing.T) {
	t.Setenv("SSYNC_USER", "")
	srv, st := startJWTServer(t)
	bob := &device{t: t, name: "bob", db: filepath.Join(t.TempDir(), "bob.db"), server: srv, token: token(t, testSecret, "bob")}
	bobsNote := bob.add("bob's")
	bob.sync()

	// Alice's token links bob: her device sees bob's notes, and with -as bob
	// adds notes that belong to bob and edits his.
	aliceTok := token(t, testSecret, "alice", "bob")
	alice := &device{t: t, name: "alice", db: filepath.Join(t.TempDir(), "alice.db"), server: srv, token: aliceTok}
	alice.add("alice's")
	alice.sync()
	if got := messages(alice.must("list")); !slices.Equal(got, []string{"alice's", "bob's"}) {
		t.Fatalf("alice lists %v, want her note and bob's", got)
	}
	alice.as = "bob"
	alice.add("for bob, by alice")
	alice.must("edit", bobsNote, "bob's, edited by alice")
	alice.sync()
	if got := owners(t, st); !slices.Equal(got, []string{"alice's=alice", "bob's, edited by alice=bob", "for bob, by alice=bob"}) {
		t.Fatalf("server rows %v", got)
	}
	bob.sync()
	if got := messages(bob.must("list")); !slices.Equal(got, []string{"bob's, edited by alice", "for bob, by alice"}) {
		t.Fatalf("bob lists %v, want his two notes and not alice's", got)
	}

	// A token that does not link bob cannot act for him.
	carol := &device{t: t, name: "carol", db: filepath.Join(t.TempDir(), "carol.db"), server: srv, token: token(t, testSecret, "carol"), as: "bob"}
	code, _, errs := carol.exec("add", "sneaky")
	// A refusal, not a usage mistake: one line, exit 1.
	if code != exitError || !strings.Contains(errs, `-as "bob": the token does not link "carol" to "bob"`) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("carol -as bob: exit %d, stderr %q; want exit 1 and one line", code, errs)
	}
}

func TestTokenErrors(t *testing.T) {
	t.Setenv("SSYNC_USER", "")
	srv, st := startJWTServer(t)
	dir := t.TempDir()
	forged := token(t, []byte("another secret, at least 32 bytes long"), "alice")
	for _, c := range []struct {
		name        string
		d           device
		cmd         string
		code        int
		want        string
		notInStderr string
	}{
		{"forged token", device{user: "", token: forged}, "sync", exitError, "token signature is invalid", forged},
		{"opaque token without user", device{token: "opaque-credential"}, "list", exitError, "use the token `notes-server -mint-token <user>` prints", ""},
		{"opaque token with user", device{token: "opaque-credential", user: "alice"}, "sync", exitError, "malformed token", ""},
		{"user is not the token's", device{token: token(t, testSecret, "alice"), user: "bob"}, "list", exitError, `-user "bob" is not the token's user "alice"`, ""},
		{"empty user flag", device{user: " "}, "list", exitUsage, "-user is empty", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := c.d
			d.t, d.name, d.db, d.server = t, c.name, filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".db"), srv
			if d.user == " " {
				// device.exec skips an empty -user; pass it by hand.
				var out, errb bytes.Buffer
				code := run(t.Context(), []string{"-db", d.db, "-user", " ", c.cmd}, &out, &errb)
				if code != c.code || !strings.Contains(errb.String(), c.want) {
					t.Fatalf("exit %d, stderr %q; want %d saying %q", code, errb.String(), c.code, c.want)
				}
				return
			}
			if c.cmd == "sync" {
				d.add("pending")
			}
			code, out, errs := d.exec(c.cmd)
			if code != c.code || !strings.Contains(errs, c.want) {
				t.Fatalf("notes %s: exit %d, stdout %q, stderr %q; want exit %d saying %q", c.cmd, code, out, errs, c.code, c.want)
			}
			if c.code == exitError && strings.Contains(errs, "usage:") {
				t.Fatalf("notes %s: a refusal printed the usage: %q", c.cmd, errs)
			}
			if c.notInStderr != "" && strings.Contains(errs, c.notInStderr) {
				t.Fatalf("stderr shows the token: %s", errs)
			}
		})
	}
	if got := owners(t, st); len(got) != 0 {
		t.Fatalf("refused syncs stored %v", got)
	}
}

func TestHeaderActsForLinkedUser(t *testing.T) {
	// Without a token (a notes-server with -insecure-dev), -as sends the
	// linked user in X-Ssync-Linked.
	srv := startServer(t)
	bob := newDevice(t, "bob", srv, "bob")
	bob.add("bob's")
	bob.sync()
	alice := newDevice(t, "alice", srv, "alice")
	alice.as = "bob"
	alice.add("for bob")
	alice.sync()
	bob.sync()
	if got := messages(bob.must("list")); !slices.Equal(got, []string{"bob's", "for bob"}) {
		t.Fatalf("bob lists %v", got)
	}
}

func TestUsageHidesToken(t *testing.T) {
	tok := token(t, testSecret, "alice")
	t.Setenv("SSYNC_TOKEN", tok)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, &out, &errb); code != exitOK {
		t.Fatalf("-h: exit %d", code)
	}
	if s := out.String() + errb.String(); !strings.Contains(s, "-token jwt") || strings.Contains(s, tok) {
		t.Fatalf("usage shows the token or no -token flag:\n%s", s)
	}
}
