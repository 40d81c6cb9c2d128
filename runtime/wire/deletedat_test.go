package wire_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestDeletedAt encodes a change set whose deletes carry their times (one
// not known), decodes it strictly, and checks the times come back paired
// with their ids; a change set without the key decodes with no times.
func TestDeletedAt(t *testing.T) {
	reg := generated.Registry()
	ids := []uuid.UUID{uuid.MustParse("7897a793-6298-42e4-b1f9-bb6daa8fe948"), uuid.MustParse("b7c66d5b-ea12-4710-a985-436942b0e938"),
		uuid.MustParse("66c2eb1e-14f3-4ec7-8afd-84f54a42287b")}
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.FixedZone("", 5*3600))
	in := []wire.ChangeSet{{Collection: "ss_tb_note", Checkpoint: "3", Deleted: ids, DeletedAt: []time.Time{at, {}, at.Add(time.Second)}}}
	w := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, reg, in); err != nil {
		t.Fatal(err)
	}
	body := string(w.Buffer.BuildBytes())
	want := `"deleted":["7897a793-6298-42e4-b1f9-bb6daa8fe948","b7c66d5b-ea12-4710-a985-436942b0e938","66c2eb1e-14f3-4ec7-8afd-84f54a42287b"],` +
		`"deletedAt":{"7897a793-6298-42e4-b1f9-bb6daa8fe948":"2026-03-01T05:00:00.123456Z","66c2eb1e-14f3-4ec7-8afd-84f54a42287b":"2026-03-01T05:00:01.123456Z"}}}]`
	if !strings.HasSuffix(body, want) {
		t.Fatalf("encoded %s\nwant it to end with %s", body, want)
	}
	sets, err := wire.DecodeChangeSets([]byte(body), reg, ssync.DecodeOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	got := sets[0].DeletedAt
	if len(got) != 3 || !got[0].Equal(at) || !got[1].IsZero() || !got[2].Equal(at.Add(time.Second)) {
		t.Errorf("decoded deletedAt %v", got)
	}

	plain := `[{"collection": "ss_tb_note", "changes": {"deleted": ["7897a793-6298-42e4-b1f9-bb6daa8fe948"]}}]`
	sets, err = wire.DecodeChangeSets([]byte(plain), reg, ssync.DecodeOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sets[0].Deleted) != 1 || sets[0].DeletedAt != nil {
		t.Errorf("a change set without deletedAt decodes as %v, %v", sets[0].Deleted, sets[0].DeletedAt)
	}
	w = &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, reg, []wire.ChangeSet{{Collection: "ss_tb_note", Deleted: ids[:1], DeletedAt: []time.Time{{}}}}); err != nil {
		t.Fatal(err)
	}
	if body := string(w.Buffer.BuildBytes()); strings.Contains(body, "deletedAt") {
		t.Errorf("no time known, yet encoded %s", body)
	}
}

// TestDeletedAtRefused: a time that does not parse, a key that is not a
// UUID, and (strictly) a time for an id not deleted are refused naming
// what is wrong; a lenient decoder (a device's) ignores the stray time.
func TestDeletedAtRefused(t *testing.T) {
	reg := generated.Registry()
	for _, c := range []struct{ changes, want string }{
		{`"deleted": ["7897a793-6298-42e4-b1f9-bb6daa8fe948"], "deletedAt": {"7897a793-6298-42e4-b1f9-bb6daa8fe948": "yesterday"}`,
			`malformed change set: collection "ss_tb_note": deletedAt: row 7897a793-6298-42e4-b1f9-bb6daa8fe948: invalid time "yesterday"`},
		{`"deleted": [], "deletedAt": {"note-1": "2026-03-01T05:00:00Z"}`,
			`malformed change set: collection "ss_tb_note": deletedAt: invalid UUID "note-1"`},
		{`"deletedAt": {"7897a793-6298-42e4-b1f9-bb6daa8fe948": 17}, "deleted": ["7897a793-6298-42e4-b1f9-bb6daa8fe948"]`,
			`malformed change set: collection "ss_tb_note": deletedAt: row 7897a793-6298-42e4-b1f9-bb6daa8fe948:`},
		{`"deleted": [], "deletedAt": {"7897a793-6298-42e4-b1f9-bb6daa8fe948": "2026-03-01T05:00:00Z"}`,
			`malformed change set: collection "ss_tb_note": deletedAt: row 7897a793-6298-42e4-b1f9-bb6daa8fe948 is not in "deleted"`},
	} {
		body := `[{"collection": "ss_tb_note", "changes": {` + c.changes + `}}]`
		_, err := wire.DecodeChangeSets([]byte(body), reg, ssync.DecodeOptions{Strict: true})
		if err == nil || !errors.Is(err, wire.ErrMalformed) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %s", c.changes, err, c.want)
		}
	}
	stray := `[{"collection": "ss_tb_note", "changes": {"deleted": [], "deletedAt": {"7897a793-6298-42e4-b1f9-bb6daa8fe948": "2026-03-01T05:00:00Z"}}}]`
	if _, err := wire.DecodeChangeSets([]byte(stray), reg, ssync.DecodeOptions{}); err != nil {
		t.Errorf("a lenient decoder refused a stray deletedAt: %v", err)
	}
}
