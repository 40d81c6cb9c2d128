package wire_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	kindmodels "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/models"
	kinds "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/want"
	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestDiffFields: fields differ exactly when their values differ as stores
// keep them, for every kind: times by instant to the microsecond, floats
// bit for bit after -0 becomes 0, pointers by what they point to, bytes by
// content, attachments by content.
func TestDiffFields(t *testing.T) {
	coll := kinds.KindTable()
	at := time.Date(2026, 3, 1, 5, 0, 0, 123456000, time.UTC)
	id, other := uuid.New(), uuid.New()
	s, f := "s", 1.5
	base := func() *kindmodels.Kind {
		ptrID, ptrAt := id, at
		return &kindmodels.Kind{Str: "a", Int64: 7, Float64: 2.5, Float32: 1, Time: at, Bytes: []byte{1, 2}, UUID: id,
			StrPtr: &s, Float64Ptr: &f, TimePtr: &ptrAt, UUIDPtr: &ptrID}
	}
	cases := []struct {
		field  string
		change func(k *kindmodels.Kind)
		differ bool
	}{
		{"str", func(k *kindmodels.Kind) {}, false},
		{"str", func(k *kindmodels.Kind) { k.Str = "b" }, true},
		{"int64", func(k *kindmodels.Kind) { k.Int64 = 8 }, true},
		{"float64", func(k *kindmodels.Kind) { k.Float64 = math.Nextafter(2.5, 3) }, true},
		{"float64", func(k *kindmodels.Kind) { k.Float64 = 0 }, true},
		{"float32", func(k *kindmodels.Kind) { k.Float32 = 1 }, false},
		{"time", func(k *kindmodels.Kind) { k.Time = at.In(time.FixedZone("x", 3600)) }, false},
		{"time", func(k *kindmodels.Kind) { k.Time = at.Add(999 * time.Nanosecond) }, false},
		{"time", func(k *kindmodels.Kind) { k.Time = at.Add(time.Microsecond) }, true},
		{"bytes", func(k *kindmodels.Kind) { k.Bytes = []byte{1, 2} }, false},
		{"bytes", func(k *kindmodels.Kind) { k.Bytes = []byte{1, 3} }, true},
		{"bytes", func(k *kindmodels.Kind) { k.Bytes = nil }, true},
		{"uuid", func(k *kindmodels.Kind) { k.UUID = other }, true},
		{"str_ptr", func(k *kindmodels.Kind) { v := "s"; k.StrPtr = &v }, false},
		{"str_ptr", func(k *kindmodels.Kind) { k.StrPtr = nil }, true},
		{"str_ptr", func(k *kindmodels.Kind) { v := ""; k.StrPtr = &v }, true},
		{"float64_ptr", func(k *kindmodels.Kind) { v := 1.5; k.Float64Ptr = &v }, false},
		{"time_ptr", func(k *kindmodels.Kind) { v := at.Local(); k.TimePtr = &v }, false},
		{"time_ptr", func(k *kindmodels.Kind) { k.TimePtr = nil }, true},
		{"uuid_ptr", func(k *kindmodels.Kind) { v := id; k.UUIDPtr = &v }, false},
		{"uuid_ptr", func(k *kindmodels.Kind) { k.UUIDPtr = &other }, true},
		{"uuid_ptr", func(k *kindmodels.Kind) { k.UUIDPtr = nil }, true},
	}
	for i, c := range cases {
		a, b := base(), base()
		c.change(b)
		got := wire.DiffFields(coll, a, b, []string{"str", c.field})
		if got[0] != (c.field == "str" && c.differ) || got[1] != c.differ {
			t.Errorf("case %d (%s): differs %v, want %v", i, c.field, got, c.differ)
		}
		if back := wire.DiffFields(coll, b, a, []string{c.field}); back[0] != c.differ {
			t.Errorf("case %d (%s), the other way: differs %v, want %v", i, c.field, back[0], c.differ)
		}
	}

	// -0 is stored as 0: the same value.
	a, b := base(), base()
	a.Float64, b.Float64 = 0, math.Copysign(0, -1)
	if got := wire.DiffFields(coll, a, b, []string{"float64"}); got[0] {
		t.Errorf("0 and -0 differ; want the same stored value")
	}

	// Attachments by content, not by pointer; none against one.
	notes, err := generated.Registry().Lookup("ss_tb_note")
	if err != nil {
		t.Fatal(err)
	}
	att := func(name string) *ssync.Attachment {
		return &ssync.Attachment{Hash: "ab", Size: 3, Name: name}
	}
	for _, c := range []struct {
		a, b   *ssync.Attachment
		differ bool
	}{{att("x"), att("x"), false}, {att("x"), att("y"), true}, {nil, att("x"), true}, {nil, nil, false}} {
		got := wire.DiffFields(notes, &models.Note{File: c.a}, &models.Note{File: c.b}, []string{"file"})
		if got[0] != c.differ {
			t.Errorf("attachments %+v and %+v: differ %v, want %v", c.a, c.b, got[0], c.differ)
		}
	}
}

// TestWithFields: the new row holds the named fields of from and the rest
// of row, and shares no memory with either.
func TestWithFields(t *testing.T) {
	coll := kinds.KindTable()
	at := time.Date(2026, 3, 1, 5, 0, 0, 123456789, time.FixedZone("x", 3600))
	s1, s2 := "row", "from"
	id1, id2 := uuid.New(), uuid.New()
	del, p1, p2 := at, id1, id2
	row := &kindmodels.Kind{Record: ssync.Record{ID: uuid.New(), SyncID: "u", DeletedAt: &del},
		Str: "row", Int64: 1, Bytes: []byte("row"), Time: at, StrPtr: &s1, UUIDPtr: &p1, Float64: math.Copysign(0, -1)}
	from := &kindmodels.Kind{Str: "from", Int64: 2, Bytes: []byte("from"), StrPtr: &s2, UUIDPtr: &p2}
	got, err := wire.WithFields(coll, row, from, []string{"str", "bytes", "uuid_ptr"})
	if err != nil {
		t.Fatal(err)
	}
	out := got.(*kindmodels.Kind)
	if out.Str != "from" || string(out.Bytes) != "from" || *out.UUIDPtr != id2 || out.Int64 != 1 || *out.StrPtr != "row" ||
		!out.Time.Equal(at) || out.Time.Nanosecond() != at.Nanosecond() || out.ID != row.ID || out.SyncID != "u" ||
		!out.DeletedAt.Equal(at) || math.Float64bits(out.Float64) != math.Float64bits(row.Float64) {
		t.Fatalf("new row %+v", out)
	}
	// Changing the sources through their pointers and slices leaves it.
	from.Bytes[0], *from.UUIDPtr, *row.StrPtr, *row.DeletedAt = 'X', id1, "changed", time.Time{}
	if string(out.Bytes) != "from" || *out.UUIDPtr != id2 || *out.StrPtr != "row" || !out.DeletedAt.Equal(at) {
		t.Fatalf("the new row shares memory with its sources: %+v", out)
	}
	// A whole copy (no fields) is equal to the row.
	again, err := wire.WithFields(coll, out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := wire.DiffFields(coll, out, again, []string{"str", "bytes", "uuid_ptr", "str_ptr", "time", "int64"}); slices.Contains(d, true) {
		t.Fatalf("a copy differs from its row: %v", d)
	}
}
