package server_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
)

// TestUpgradeFromTransactionIDs opens a PostgreSQL store written by the
// release that versioned rows by transaction id (rows and checkpoints far
// above the counter): the counter moves past every checkpoint that release
// could have handed out, so a device that pulled then still gets what is
// pushed now.
func TestUpgradeFromTransactionIDs(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		if b.Name != "postgres" {
			continue
		}
		db, _ := b.Open(t)
		f := serve(t, db, b, server.Config{})
		id := uuid.NewString()
		if r := f.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody([]string{note(id, "old", false)}, nil, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		// What the older release left: versions are transaction ids, the
		// counter unused, no mark.
		var xid int64
		if err := db.QueryRow(`SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			fmt.Sprintf(`UPDATE ss_tb_note SET ss_version = %d, ss_created_version = %d`, xid-5, xid-5),
			`UPDATE ss_counter SET value = 0 WHERE name = 'global'`,
			`DELETE FROM ss_counter WHERE name = 'counter_floor'`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		old := strconv.FormatInt(xid-1, 10) // a horizon the older release could answer
		g := serve(t, db, b, server.Config{})
		id2 := uuid.NewString()
		if r := g.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody([]string{note(id2, "new", false)}, nil, nil)); r.status != 200 {
			t.Fatalf("push after the upgrade: %d %s", r.status, r.body)
		}
		sets, _ := g.pull("alice", old)
		if len(sets) != 1 || len(sets[0].Changes.Created) != 1 || sets[0].Changes.Created[0]["id"] != id2 {
			t.Fatalf("pull from the old checkpoint %s after the upgrade: %+v, want the new note %s", old, sets, id2)
		}
		// A second start changes nothing.
		var before, after int64
		db.QueryRow(`SELECT value FROM ss_counter WHERE name = 'global'`).Scan(&before)
		serve(t, db, b, server.Config{})
		db.QueryRow(`SELECT value FROM ss_counter WHERE name = 'global'`).Scan(&after)
		if before != after {
			t.Fatalf("a second start moved the counter from %d to %d", before, after)
		}
		return
	}
	t.Log("no PostgreSQL store reachable")
}
