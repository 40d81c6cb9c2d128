// Package e2e_test runs the whole path: the example models' generated
// repositories on two real SQLite device files, synchronizing through a real
// HTTP server on 127.0.0.1 whose store is a real SQLite file.
package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the devices' driver
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/wire"
)

type env struct {
	t      *testing.T
	url    string
	st     *sql.DB
	device map[string]*client.DB
}

func newEnv(t *testing.T, b storetest.Backend) *env {
	t.Helper()
	st, sdb := b.Store(t, generated.Registry())
	return &env{t: t, url: storetest.Serve(t, st, server.Config{}), st: sdb, device: map[string]*client.DB{}}
}

func (e *env) open(name, user string) *client.DB {
	e.t.Helper()
	ctx := context.Background()
	db, err := client.Open(ctx, filepath.Join(e.t.TempDir(), name+".db"), generated.Registry(), client.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	if err := db.SetUser(ctx, user); err != nil {
		e.t.Fatal(err)
	}
	e.device[name] = db
	return db
}

func (e *env) sync(db *client.DB) *client.Result {
	e.t.Helper()
	user, _ := db.User()
	res, err := db.Synchronize(context.Background(), client.SyncOptions{
		ServerURL: e.url,
		Decorate: func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, user)
			return nil
		},
	})
	if err != nil {
		e.t.Fatalf("synchronize: %v", err)
	}
	return res
}

// dumpDevice lists every note and user on a device, deleted ones included,
// one line per row, sorted.
func dumpDevice(t *testing.T, db *client.DB) []string {
	t.Helper()
	ctx := context.Background()
	notes, err := generated.SyncNotes(db).Select(ctx, client.IncludeDeleted())
	if err != nil {
		t.Fatal(err)
	}
	users, err := generated.SyncUsers(db).Select(ctx, client.IncludeDeleted())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range notes {
		out = append(out, noteLine(n.ID, n.Message, n.Completed, n.UserID, n.DeletedAt != nil, n.SyncID))
	}
	for _, u := range users {
		out = append(out, fmt.Sprintf("user %s %q age=%d deleted=%t owner=%s", u.ID, u.Name, u.Age, u.DeletedAt != nil, u.SyncID))
	}
	sort.Strings(out)
	return out
}

func noteLine(id uuid.UUID, msg string, done bool, userID *uuid.UUID, deleted bool, owner string) string {
	uid := "-"
	if userID != nil {
		uid = userID.String()
	}
	return fmt.Sprintf("note %s %q done=%t user=%s deleted=%t owner=%s", id, msg, done, uid, deleted, owner)
}

// dumpServer lists the same rows as they are in the server store.
func dumpServer(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var out []string
	rows, err := db.Query(`SELECT id, message, completed, user_id, deleted_at IS NOT NULL, ss_sync_id FROM ss_tb_note`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		var msg, owner string
		var done, deleted bool
		var userID *uuid.UUID
		if err := rows.Scan(&id, &msg, &done, &userID, &deleted, &owner); err != nil {
			t.Fatal(err)
		}
		out = append(out, noteLine(id, msg, done, userID, deleted, owner))
	}
	rows.Close()
	rows, err = db.Query(`SELECT id, name, age, deleted_at IS NOT NULL, ss_sync_id FROM ss_tb_user`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		var name, owner string
		var age int
		var deleted bool
		if err := rows.Scan(&id, &name, &age, &deleted, &owner); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("user %s %q age=%d deleted=%t owner=%s", id, name, age, deleted, owner))
	}
	rows.Close()
	sort.Strings(out)
	return out
}

func TestTwoDevicesConvergeThroughServer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		e := newEnv(t, be)
		a := e.open("device-a", "alice")
		b := e.open("device-b", "alice")

		// Device A, offline: a user and three notes referencing it.
		users := generated.SyncUsers(a)
		alice := &models.User{Name: "Alice", Age: 31}
		if err := users.Insert(ctx, alice); err != nil {
			t.Fatal(err)
		}
		notesA := generated.SyncNotes(a)
		var aNotes []*models.Note
		for _, msg := range []string{"buy milk", "call bob", "write report"} {
			n := &models.Note{Message: msg, UserID: &alice.ID, UserName: alice.Name}
			if err := notesA.Insert(ctx, n); err != nil {
				t.Fatal(err)
			}
			if n.ID == uuid.Nil || n.CreatedAt.IsZero() || n.SyncID != "alice" {
				t.Fatalf("insert did not fill the record: %+v", n.Record)
			}
			aNotes = append(aNotes, n)
		}
		// Device B, offline: two notes of its own.
		notesB := generated.SyncNotes(b)
		var bNotes []*models.Note
		for _, msg := range []string{"water plants", "book flights"} {
			n := &models.Note{Message: msg}
			if err := notesB.Insert(ctx, n); err != nil {
				t.Fatal(err)
			}
			bNotes = append(bNotes, n)
		}

		resA := e.sync(a)
		if got := resA.Pushed; len(got) != 2 || got[0].Collection != "ss_tb_user" || got[0].Created != 1 || got[1].Created != 3 {
			t.Fatalf("device A pushed %+v, want 1 user then 3 notes created", got)
		}
		e.sync(b)
		e.sync(a)

		// Both see all five notes.
		for name, db := range e.device {
			n, err := generated.SyncNotes(db).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != 5 {
				t.Fatalf("%s sees %d notes after first round, want 5", name, n)
			}
		}

		// Offline edits on both sides: A edits one of B's notes and marks one of
		// its own done; B deletes one of A's notes and edits its own.
		n, err := notesA.Get(ctx, bNotes[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		n.Message = "water plants (and the cactus)"
		if err := notesA.Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		aNotes[0].Completed = true
		if err := notesA.Update(ctx, aNotes[0]); err != nil {
			t.Fatal(err)
		}
		if err := notesB.Delete(ctx, aNotes[1].ID); err != nil {
			t.Fatal(err)
		}
		bNotes[1].Message = "book flights to Lisbon"
		if err := notesB.Update(ctx, bNotes[1]); err != nil {
			t.Fatal(err)
		}

		e.sync(a)
		e.sync(b)
		e.sync(a)

		da, db := dumpDevice(t, a), dumpDevice(t, b)
		t.Logf("A:\n%s", strings.Join(da, "\n"))
		ds := dumpServer(t, e.st)
		if strings.Join(da, "\n") != strings.Join(db, "\n") {
			t.Fatalf("devices differ:\nA:\n%s\nB:\n%s", strings.Join(da, "\n"), strings.Join(db, "\n"))
		}
		if strings.Join(da, "\n") != strings.Join(ds, "\n") {
			t.Fatalf("device and server differ:\ndevice:\n%s\nserver:\n%s", strings.Join(da, "\n"), strings.Join(ds, "\n"))
		}

		// And the contents are what the edits say.
		live, err := notesB.Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, n := range live {
			got[n.Message] = n.Completed
		}
		want := map[string]bool{"buy milk": true, "write report": false,
			"water plants (and the cactus)": false, "book flights to Lisbon": false}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("live notes on B = %v, want %v", got, want)
		}
		if _, err := notesA.Get(ctx, aNotes[1].ID); err == nil {
			t.Fatalf("deleted note still readable on A")
		}
		// Nothing is left to push: pulled rows did not become local changes.
		for name, d := range e.device {
			res := e.sync(d)
			if len(res.Pushed) != 0 {
				t.Fatalf("%s pushed %+v on a quiet sync: pulled rows were marked as local changes", name, res.Pushed)
			}
		}
	})
}
