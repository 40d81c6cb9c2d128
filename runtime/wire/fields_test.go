package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestFieldPushRoundTrip encodes an update that carries one changed field
// and its base, and decodes it as the server does.
func TestFieldPushRoundTrip(t *testing.T) {
	reg := generated.Registry()
	id := uuid.MustParse("0190a5a8-7e1c-7c4e-9a8e-1f2d3c4b5a69")
	row := &models.Note{Message: "renamed", Completed: true, UserName: "ann"}
	row.ID, row.SyncID = id, "ann"
	base := &models.Note{Message: "first name"}
	whole := wire.ChangeSet{Collection: "ss_tb_note", Checkpoint: "v1", Updated: []any{row}}
	field := whole
	field.Fields = map[any]*wire.FieldChange{row: {Changed: []string{"message"}, Base: base}}

	encode := func(cs wire.ChangeSet) []byte {
		w := &jwriter.Writer{}
		if err := wire.EncodeChangeSets(w, reg, []wire.ChangeSet{cs}); err != nil {
			t.Fatal(err)
		}
		b, _ := w.BuildBytes()
		return b
	}
	wb, fb := encode(whole), encode(field)
	if !strings.Contains(string(wb), `"completed":true`) || strings.Contains(string(wb), `"base"`) {
		t.Errorf("whole-row push %s", wb)
	}
	for _, want := range []string{`"message":"renamed"`, `"base":{"` + id.String() + `":{"message":"first name"}}`} {
		if !strings.Contains(string(fb), want) {
			t.Errorf("field push %s lacks %s", fb, want)
		}
	}
	if strings.Contains(string(fb), `"completed"`) {
		t.Errorf("field push %s carries an unchanged field", fb)
	}

	sets, err := wire.DecodeChangeSets(fb, reg, ssync.DecodeOptions{Strict: true, TrackAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	got := sets[0].Updated[0].(*models.Note)
	f := sets[0].Fields[got]
	if f == nil || strings.Join(f.Changed, ",") != "message" || f.Base.(*models.Note).Message != "first name" {
		t.Fatalf("fields %+v", f)
	}
	if got.Message != "renamed" || strings.Join(sets[0].Absent[got], ",") != "completed,user_id,user_name,file" {
		t.Fatalf("row %+v absent %v", got, sets[0].Absent[got])
	}
	// The same bytes again decode alike (a replayed push).
	again, err := wire.DecodeChangeSets(fb, reg, ssync.DecodeOptions{Strict: true, TrackAbsent: true})
	if err != nil || len(again[0].Fields) != 1 {
		t.Fatalf("decode again: %v %+v", err, again)
	}
}

func TestFieldPushRefused(t *testing.T) {
	reg := generated.Registry()
	const id = "0190a5a8-7e1c-7c4e-9a8e-1f2d3c4b5a69"
	row := `{"id":"` + id + `","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","deletedAt":null,"syncId":"ann","message":"m"}`
	for _, c := range []struct{ name, base, want string }{
		{"not a row id", `{"x":{"message":"a"}}`, `key "x" is not a row id`},
		{"not an updated row", `{"0190a5a8-7e1c-7c4e-9a8e-000000000000":{"message":"a"}}`, "not among the updated rows"},
		{"a record field", `{"` + id + `":{"message":"a","updatedAt":"2026-01-01T00:00:00Z"}}`, `unknown field "updatedAt" in a base`},
		{"a field the row leaves out", `{"` + id + `":{"message":"a","completed":true}}`, `the base holds field "completed", which the row leaves out`},
		{"a field without its base", `{"` + id + `":{}}`, `field "message" is pushed without its base`},
		{"null", `{"` + id + `":null}`, "the base is null"},
		{"twice", `{"` + id + `":{"message":"a"},"` + id + `":{"message":"b"}}`, "appears twice"},
	} {
		body := `[{"collection":"ss_tb_note","changes":{"updated":[` + row + `]},"base":` + c.base + `}]`
		_, err := wire.DecodeChangeSets([]byte(body), reg, ssync.DecodeOptions{Strict: true, TrackAbsent: true})
		if !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
