package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
)

// Ids of the probe servers' rows: alice's where they are there, others
// (pushed the same way) where they are not.
const (
	pUser     = "e0000000-0000-4000-8000-000000000001"
	pNote     = "e0000000-0000-4000-8000-000000000002"
	pGone     = "e0000000-0000-4000-8000-000000000003"
	pElseUser = "f0000000-0000-4000-8000-000000000001"
	pElseNote = "f0000000-0000-4000-8000-000000000002"
	pElseGone = "f0000000-0000-4000-8000-000000000003"
)

// newProbeServer is a server where alice pushed a user, a note
// referencing it and a deleted note: under the probed ids when there is
// true, under other ids otherwise (the same pushes, so both servers stand
// at the same checkpoint).
func newProbeServer(t *testing.T, b storetest.Backend, there bool) *hostileServer {
	t.Helper()
	hs := newEmptyHostileServer(t, b)
	user, note, gone := pElseUser, pElseNote, pElseGone
	if there {
		user, note, gone = pUser, pNote, pGone
	}
	for _, body := range []string{
		hBody(hSet("ss_tb_user", "created", hRow(hUserFields(user, "alice"), "", "")),
			hSet("ss_tb_note", "created", hRow(hNoteFields(note, "alice"), "userId", `"`+user+`"`), hRow(hNoteFields(gone, "alice"), "", ""))),
		hBody(hSet("ss_tb_note", "deleted", `"`+gone+`"`)),
	} {
		if code, got := hs.do(http.MethodPost, hPushBoth, hs.tok["alice"], nil, body); code != http.StatusOK {
			t.Fatalf("seed push: %d %s", code, got)
		}
	}
	return hs
}

// dumpDiff lists the lines of the store dump that a request removed (-)
// and added (+).
func dumpDiff(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	var out []string
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// probe sends bob's request to hs and returns its answer and what it
// changed in the store.
func probe(hs *hostileServer, path, body string) (answer, changed string) {
	before := hs.dump()
	status, got := hs.do(http.MethodPost, path, hs.tok["bob"], nil, body)
	return http.StatusText(status) + " " + got, dumpDiff(before, hs.dump())
}

// TestNotYoursLooksNotThere: bob's pushes that name alice's rows get
// byte for byte the answer, and make the same change to the store (none,
// beyond the version counter a push takes), as the same pushes naming ids
// no server row has: a delete of her rows (live or deleted), a write
// naming her as the owner, and a row of bob's referencing her rows (422
// dangling_reference, although the foreign key alone would take it). On
// every store.
func TestNotYoursLooksNotThere(t *testing.T) {
	q := func(id string) string { return `"` + id + `"` }
	probes := []struct{ name, path, body string }{
		{"delete her note", hPushNotes, hBody(hSet("ss_tb_note", "deleted", q(pNote)))},
		{"delete her note, full result", hPushNotes + "&result=full", hBody(hSet("ss_tb_note", "deleted", q(pNote)))},
		{"delete her deleted note", hPushNotes + "&result=full", hBody(hSet("ss_tb_note", "deleted", q(pGone)))},
		{"delete her user and note", hPushBoth, hBody(hSet("ss_tb_user", "deleted", q(pUser)), hSet("ss_tb_note", "deleted", q(pNote)))},
		{"update her note as hers", hPushNotes, hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(pNote, "alice"), "message", `"mine"`)))},
		{"create over her note as hers", hPushNotes, hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(pNote, "alice"), "", "")))},
		{"update her deleted note as hers", hPushNotes, hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(pGone, "alice"), "", "")))},
		{"reference her user", hPushNotes, hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(hNewID, "bob"), "userId", q(pUser))))},
		{"reference her user, full result", hPushNotes + "&result=full", hBody(hSet("ss_tb_note", "created",
			hRow(hNoteFields(hNewID, "bob"), "", ""), hRow(hNoteFields(hNewID2, "bob"), "userId", q(pUser))))},
		{"reference her user from a new user", hPushBoth, hBody(hSet("ss_tb_user", "created", hRow(hUserFields(hNewID3, "bob"), "", "")),
			hSet("ss_tb_note", "created", hRow(hNoteFields(hNewID, "bob"), "userId", q(hNewID3)), hRow(hNoteFields(hNewID2, "bob"), "userId", q(pUser))))},
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		there, notThere := newProbeServer(t, b, true), newProbeServer(t, b, false)
		for _, p := range probes {
			there.t, notThere.t = t, t
			a1, c1 := probe(there, p.path, p.body)
			a2, c2 := probe(notThere, p.path, p.body)
			if a1 != a2 {
				t.Errorf("%s: her rows answer\n%s\nno rows answer\n%s", p.name, a1, a2)
			}
			if c1 != c2 {
				t.Errorf("%s: her rows changed\n%s\nno rows changed\n%s", p.name, c1, c2)
			}
			for _, l := range strings.Split(c1, "\n") {
				if l != "" && !strings.Contains(l, "ss_counter: ") {
					t.Errorf("%s: the push changed %s", p.name, l)
				}
			}
			t.Logf("%s: %s", p.name, a1)
		}
		// The one thing a write tells: that an id is taken. Bob's write
		// under her note's id, as his own, is refused (where the id is
		// free it is his new row) with the answer of a row naming her as
		// its owner, which does not tell the two apart.
		there.t, notThere.t = t, t
		mine := hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(pNote, "bob"), "", "")))
		taken, changed := probe(there, hPushNotes, mine)
		hers, _ := probe(notThere, hPushNotes, hBody(hSet("ss_tb_note", "updated", hRow(hNoteFields(pNote, "alice"), "", ""))))
		if taken != hers || changed != "" || !strings.HasPrefix(taken, "Forbidden ") {
			t.Errorf("bob's write under her id: %s (changed %q); want the answer to a row naming her as owner: %s", taken, changed, hers)
		}
		if free, _ := probe(notThere, hPushNotes, mine); !strings.HasPrefix(free, "OK ") {
			t.Errorf("bob's write under a free id: %s, want 200", free)
		}
	})
}
