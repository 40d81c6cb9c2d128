package wire_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// seedExample is the change-set example of SSync.LiteDB's README, verbatim
// but for whitespace: zone-less times, rows without syncId.
const seedExample = `[
  {"collection": "ss_tb_user", "timestamp": "2024-12-21T17:37:41.7618382Z",
   "changes": {
     "created": [
       {"name": "John Doe 45", "age": 45, "id": "a6ea4282-a3ea-4893-ba50-e11e673030ef",
        "createdAt": "2024-12-21T17:25:53.961871", "updatedAt": "2024-12-21T17:25:53.961871", "deletedAt": null},
       {"name": "John Doe 19", "age": 19, "id": "f878dac6-690a-4f5e-b929-5ebecb1cd434",
        "createdAt": "2024-12-21T17:25:54.689497", "updatedAt": "2024-12-21T17:25:54.689497", "deletedAt": null}],
     "updated": [],
     "deleted": ["7897a793-6298-42e4-b1f9-bb6daa8fe948"]}},
  {"collection": "ss_tb_note", "timestamp": "2024-12-21T17:37:42.8157339Z",
   "changes": {
     "created": [
       {"completed": false, "message": "new note", "userName": "John Doe 19",
        "id": "66c2eb1e-14f3-4ec7-8afd-84f54a42287b",
        "createdAt": "2024-12-21T17:26:11.350763", "updatedAt": "2024-12-21T17:26:11.350763", "deletedAt": null}],
     "updated": [], "deleted": []}}
]`

func TestDecodeSeedExample(t *testing.T) {
	reg := generated.Registry()
	sets, err := wire.DecodeChangeSets([]byte(seedExample), reg, ssync.DecodeOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[0].Collection != "ss_tb_user" || sets[1].Collection != "ss_tb_note" {
		t.Fatalf("collections %+v", sets)
	}
	u := sets[0].Created[1].(*models.User)
	if u.Name != "John Doe 19" || u.Age != 19 || u.ID.String() != "f878dac6-690a-4f5e-b929-5ebecb1cd434" {
		t.Fatalf("user %+v", u)
	}
	want := time.Date(2024, 12, 21, 17, 25, 54, 689497000, time.UTC)
	if !u.CreatedAt.Equal(want) || u.DeletedAt != nil {
		t.Fatalf("createdAt %v deletedAt %v, want %v and nil", u.CreatedAt, u.DeletedAt, want)
	}
	if len(sets[0].Deleted) != 1 || sets[0].Deleted[0].String() != "7897a793-6298-42e4-b1f9-bb6daa8fe948" {
		t.Fatalf("deleted %v", sets[0].Deleted)
	}
	n := sets[1].Created[0].(*models.Note)
	if n.Message != "new note" || n.Completed || n.UserName != "John Doe 19" || n.UserID != nil {
		t.Fatalf("note %+v", n)
	}
}

func TestRoundTrip(t *testing.T) {
	reg := generated.Registry()
	uid := uuid.MustParse("a6ea4282-a3ea-4893-ba50-e11e673030ef")
	deleted := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	in := []wire.ChangeSet{{
		Collection: "ss_tb_note",
		Checkpoint: "17",
		Created: []any{&models.Note{
			Record: ssync.Record{ID: uuid.New(), CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC),
				UpdatedAt: time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC), SyncID: "alice"},
			Message: "quote \" backslash \\ newline \n unicode é 😀", Completed: true, UserID: &uid, UserName: "A",
		}},
		Updated: []any{&models.Note{
			Record:  ssync.Record{ID: uuid.New(), DeletedAt: &deleted, SyncID: "bob"},
			Message: "",
		}},
		Deleted: []uuid.UUID{uuid.New(), uuid.New()},
	}}
	w := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, reg, in); err != nil {
		t.Fatal(err)
	}
	data, err := w.BuildBytes()
	if err != nil {
		t.Fatal(err)
	}
	out, err := wire.DecodeChangeSets(data, reg, ssync.DecodeOptions{Strict: true})
	if err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	if len(out) != 1 || out[0].Checkpoint != "17" || len(out[0].Deleted) != 2 || out[0].Deleted[1] != in[0].Deleted[1] {
		t.Fatalf("round trip of %s = %+v", data, out)
	}
	a, b := in[0].Created[0].(*models.Note), out[0].Created[0].(*models.Note)
	if a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) || b.DeletedAt != nil ||
		a.Message != b.Message || a.Completed != b.Completed || *a.UserID != *b.UserID || a.UserName != b.UserName || b.SyncID != "alice" {
		t.Fatalf("created row: sent %+v, got %+v", a, b)
	}
	c := out[0].Updated[0].(*models.Note)
	if c.DeletedAt == nil || !c.DeletedAt.Equal(deleted) || c.UserID != nil || c.SyncID != "bob" {
		t.Fatalf("updated row: got %+v", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	reg := generated.Registry()
	cases := []struct {
		name, in, want string
		is             error
	}{
		{"empty", ``, "empty body", wire.ErrMalformed},
		{"truncated", `[{"collection":"ss_tb_user","changes":{"created":[{"id":"a6ea`, `created[0]: field "id": unterminated string literal`, wire.ErrMalformed},
		{"truncated before collection", `[{"changes":{"created":[{"id":"a6ea`, "unexpected end of JSON input", wire.ErrMalformed},
		{"collection twice", `[{"collection":"ss_tb_user","changes":{},"collection":"ss_tb_note"}]`, `"collection" appears twice`, wire.ErrMalformed},
		{"changes twice", `[{"collection":"ss_tb_user","changes":{},"changes":{}}]`, `"changes" appears twice`, wire.ErrMalformed},
		{"null", `null`, "expected an array", wire.ErrMalformed},
		{"trailing", `[] []`, "malformed change set", wire.ErrMalformed},
		{"missing collection", `[{"changes":{}}]`, `missing "collection"`, wire.ErrMalformed},
		{"unknown collection", `[{"collection":"x"}]`, `unknown collection "x"`, ssync.ErrUnknownCollection},
		{"twice", `[{"collection":"ss_tb_user"},{"collection":"ss_tb_user"}]`, "appears twice", wire.ErrMalformed},
		{"row not object", `[{"collection":"ss_tb_user","changes":{"created":[1]}}]`, `created[0]`, wire.ErrMalformed},
		{"missing id", `[{"collection":"ss_tb_user","changes":{"created":[{"name":"x"}]}}]`, `created[0]: missing or nil "id"`, wire.ErrMalformed},
		{"int overflow", `[{"collection":"ss_tb_user","changes":{"updated":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","age":1e400}]}}]`, `updated[0]: field "age"`, wire.ErrMalformed},
		{"null for string", `[{"collection":"ss_tb_user","changes":{"updated":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","name":null}]}}]`, `field "name": expected string`, wire.ErrMalformed},
		{"unknown changes key", `[{"collection":"ss_tb_user","changes":{"upserted":[]}}]`, `unknown field "upserted"`, wire.ErrUnknownField},
		{"deep nesting", `[{"collection":"ss_tb_user","changes":{"created":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}}]`, `unknown field "x"`, wire.ErrUnknownField},
		{"too deep, collection last", `[{"changes":{"created":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]},"collection":"ss_tb_user"}]`, `nested too deeply`, wire.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := wire.DecodeChangeSets([]byte(c.in), reg, ssync.DecodeOptions{Strict: true})
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
				t.Fatalf("error %v, want one containing %q and matching %v", err, c.want, c.is)
			}
		})
	}
}

func TestLenientDecodeSkipsUnknownFields(t *testing.T) {
	in := `[{"collection":"ss_tb_user","future":{"a":[1,2]},"changes":{"created":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","name":"x","newField":{"deep":[true]}}],"later":1}}]`
	sets, err := wire.DecodeChangeSets([]byte(in), generated.Registry(), ssync.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := sets[0].Created[0].(*models.User); u.Name != "x" {
		t.Fatalf("user %+v", u)
	}
}

// TestLenientDecodeRefusesTooDeep: a lenient decoder skips unknown fields,
// but not one nested past the JSON decoder's depth, whether the rows are
// decoded in place (collection first) or kept until the collection is
// known.
func TestLenientDecodeRefusesTooDeep(t *testing.T) {
	deep := `"changes":{"created":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]}`
	for _, in := range []string{`[{"collection":"ss_tb_user",` + deep + `}]`, `[{` + deep + `,"collection":"ss_tb_user"}]`} {
		_, err := wire.DecodeChangeSets([]byte(in), generated.Registry(), ssync.DecodeOptions{})
		if err == nil || !strings.Contains(err.Error(), "nested too deeply") || !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("error %v, want a malformed change set nested too deeply", err)
		}
	}
}
