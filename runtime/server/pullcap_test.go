package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestPullCapped: a /pull answer stops at MaxPullRows rows or about
// MaxPullBytes bytes and says so (X-Ssync-More); every change set carries
// the checkpoint its collection continues from (collections not reached:
// the request's), and a client that pulls each collection again from its
// checkpoint until no answer says "more" gets every row exactly once. On
// every store.
func TestPullCapped(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, c := range []struct {
			name string
			cfg  server.Config
			most int // rows per answer, at most
		}{
			{"rows", server.Config{MaxPullRows: 7}, 7},
			// A batch of the answer holds rows up to an eighth of the cap:
			// one note of 500 bytes here, so an answer holds about 3000/500.
			{"bytes", server.Config{MaxPullBytes: 3000}, 3000 / 500},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := newFixture(t, b, c.cfg)
				var users, notes []string
				for i := range 4 {
					users = append(users, fmt.Sprintf(`{"id":"%s","createdAt":"2024-12-21T17:25:53Z","updatedAt":"2024-12-21T17:25:53Z","deletedAt":null,"name":"u%d","age":1}`, newID(), i))
				}
				for i := range 30 {
					notes = append(notes, note(newID(), fmt.Sprintf("%03d %s", i, strings.Repeat("x", 500)), false))
				}
				body := `[{"collection":"ss_tb_user","changes":{"created":[` + strings.Join(users, ",") + `]}},` +
					`{"collection":"ss_tb_note","changes":{"created":[` + strings.Join(notes, ",") + `]}}]`
				if r := f.do("POST", "/push?collections=ss_tb_user,ss_tb_note", "alice", "", body); r.status != 200 {
					t.Fatalf("push: %d %s", r.status, r.body)
				}
				// The first answer, of both collections, is cut.
				r := f.do("GET", "/pull", "alice", "", "")
				var sets []changeSet
				if err := json.Unmarshal([]byte(r.body), &sets); err != nil || r.status != 200 {
					t.Fatalf("pull: %d %s", r.status, r.body)
				}
				if r.header.Get(wire.HeaderMore) != "true" || len(sets) != 2 || sets[0].Collection != "ss_tb_user" || sets[1].Collection != "ss_tb_note" {
					t.Fatalf("a pull of 34 rows: %s %q, want both collections and %s: true", r.body[:min(len(r.body), 300)], r.header.Get(wire.HeaderMore), wire.HeaderMore)
				}
				got := map[string]int{}
				pages := 0
				for _, coll := range []string{"ss_tb_user", "ss_tb_note"} {
					cp := ""
					for {
						r := f.do("GET", "/pull?collections="+coll+"&timestamp="+url.QueryEscape(cp), "alice", "", "")
						var sets []changeSet
						if err := json.Unmarshal([]byte(r.body), &sets); err != nil || r.status != 200 || len(sets) != 1 {
							t.Fatalf("pull %s from %q: %d %s", coll, cp, r.status, r.body)
						}
						n := len(sets[0].Changes.Created) + len(sets[0].Changes.Updated)
						if n > c.most {
							t.Fatalf("an answer of %d rows, more than %d", n, c.most)
						}
						for _, row := range append(sets[0].Changes.Created, sets[0].Changes.Updated...) {
							got[row["id"].(string)]++
						}
						cp = sets[0].Timestamp
						pages++
						if r.header.Get(wire.HeaderMore) != "true" {
							break
						}
					}
				}
				if len(got) != 34 {
					t.Fatalf("the pages held %d rows, want 34", len(got))
				}
				for id, n := range got {
					if n != 1 {
						t.Fatalf("row %s came %d times", id, n)
					}
				}
				if pages < 4 {
					t.Fatalf("%d pages: the cap did not cut", pages)
				}
			})
		}
	})
}
