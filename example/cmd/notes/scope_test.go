package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/jwtauth"
)

// TestChangesOutsideScope: alice's token links bob, and alice changes two
// of bob's notes offline; her next token no longer links bob. Her sync
// says that two local changes of bob were not pushed (not "pushed
// nothing"), Result and DB.PendingOutOfScope count them, and nothing of
// them reaches the server; once a token links bob again they are pushed.
// On every store, through jwtauth on a real server.
func TestChangesOutsideScope(t *testing.T) {
	t.Setenv("SSYNC_USER", "")
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st, sdb := b.Store(t, generated.Registry())
		auth, err := jwtauth.New(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		srv := storetest.Serve(t, st, server.Config{Authenticator: auth})
		bob := &device{t: t, name: "bob", db: filepath.Join(t.TempDir(), "bob.db"), server: srv, token: token(t, testSecret, "bob")}
		bobsNote := bob.add("bob's")
		bob.sync()

		alice := &device{t: t, name: "alice", db: filepath.Join(t.TempDir(), "alice.db"), server: srv, token: token(t, testSecret, "alice", "bob")}
		alice.sync()
		alice.as = "bob"
		alice.add("for bob, by alice")
		alice.must("edit", bobsNote, "bob's, edited by alice")

		// A new token without the link.
		alice.as, alice.token = "", token(t, testSecret, "alice")
		out := alice.must("sync")
		want := "synced: pushed nothing; pulled nothing; not pushed: 2 local changes of bob, whom this user may no longer act for; checkpoint "
		if !strings.HasPrefix(out, want) {
			t.Errorf("sync printed %q, want it to start with %q", out, want)
		}
		if got := owners(t, sdb); !slices.Equal(got, []string{"bob's=bob"}) {
			t.Errorf("server rows %v, want bob's note as it was", got)
		}
		db, err := client.Open(context.Background(), alice.db, generated.Registry(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pending, err := db.PendingOutOfScope(context.Background())
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0] != (client.OutOfScope{SyncID: "bob", Collection: "ss_tb_note", Rows: 2}) {
			t.Errorf("PendingOutOfScope = %+v, want bob's 2 notes", pending)
		}

		// Linked again: the changes go.
		alice.token = token(t, testSecret, "alice", "bob")
		if out := alice.must("sync"); !strings.HasPrefix(out, "synced: pushed ss_tb_note(+1 ~1 -0); pulled nothing; checkpoint ") {
			t.Errorf("sync with bob linked again printed %q", out)
		}
		if got := owners(t, sdb); !slices.Equal(got, []string{"bob's, edited by alice=bob", "for bob, by alice=bob"}) {
			t.Errorf("server rows %v", got)
		}
	})
}
