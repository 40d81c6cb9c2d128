package test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/models"
	generated "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/want"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite"
)

// kindRows returns three rows whose every field is low, middle and high in
// turn (pointers: nil, middle, high); times are written in three zones.
func kindRows() []*models.Kind {
	base := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("+05", 5*3600))
	rows := make([]*models.Kind, 3)
	for i := range rows {
		k := &models.Kind{
			Str: string(rune('a' + i)), Bool: i > 0, Int: i - 1, Int8: int8(i - 1), Int16: int16(i - 1), Int32: int32(i - 1),
			Int64: int64(i-1) << 40, Uint: uint(i), Uint8: uint8(i), Uint16: uint16(i), Uint32: uint32(i), Uint64: uint64(i) << 40,
			Float32: float32(i) + 0.5, Float64: float64(i) - 0.25,
			// Later instants in zones further east: the text of the
			// zoned times would sort the other way.
			Time:  base.Add(time.Duration(i) * time.Hour).In(time.FixedZone("", (5+2*i)*3600)),
			Bytes: []byte{byte(i)}, UUID: uuid.MustParse("00000000-0000-0000-0000-00000000000" + string(rune('1'+i))),
			Renamed: "r" + string(rune('a'+i)), WireRenamed: int32(i), HTTPServerURL: "u" + string(rune('a'+i)),
		}
		if i > 0 {
			s, n, f, b, tm, u := k.Str, k.Int64, k.Float64, i == 2, k.Time, k.UUID
			k.StrPtr, k.Int64Ptr, k.Float64Ptr, k.BoolPtr, k.TimePtr, k.UUIDPtr = &s, &n, &f, &b, &tm, &u
		}
		rows[i] = k
	}
	return rows
}

// TestConditions: every typed column of every kind answers Eq, Ne, Lt, Le,
// Gt, Ge and In by the value's order (times by instant, whatever zone
// they were written in), nullable ones IsNull and IsNotNull, on a real
// device file.
func TestConditions(t *testing.T) {
	ctx := context.Background()
	db, err := client.Open(ctx, filepath.Join(t.TempDir(), "kinds.db"), generated.Registry(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetUser(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	repo := generated.SyncKinds(db)
	rows := kindRows()
	for _, r := range rows {
		if err := repo.Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	id := func(i int) uuid.UUID { return rows[i].ID }
	f := repo.Fields()
	check := func(name string, c client.Cond, want ...int) {
		t.Helper()
		got, err := repo.Select(ctx, client.Match(c))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ids []uuid.UUID
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		var wantIDs []uuid.UUID
		for _, i := range want {
			wantIDs = append(wantIDs, id(i))
		}
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		slices.SortFunc(wantIDs, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("%s: rows %v, want rows %v", name, got, want)
		}
		n, err := repo.Count(ctx, client.Match(c))
		if err != nil || n != len(want) {
			t.Errorf("%s: Count %d (%v), want %d", name, n, err, len(want))
		}
	}
	ordered(t, check, "Str", f.Str.Field, rows[0].Str, rows[1].Str, rows[2].Str)
	ordered(t, check, "Bool", f.Bool, false, true, true)
	ordered(t, check, "Int", f.Int, rows[0].Int, rows[1].Int, rows[2].Int)
	ordered(t, check, "Int8", f.Int8, rows[0].Int8, rows[1].Int8, rows[2].Int8)
	ordered(t, check, "Int16", f.Int16, rows[0].Int16, rows[1].Int16, rows[2].Int16)
	ordered(t, check, "Int32", f.Int32, rows[0].Int32, rows[1].Int32, rows[2].Int32)
	ordered(t, check, "Int64", f.Int64, rows[0].Int64, rows[1].Int64, rows[2].Int64)
	ordered(t, check, "Uint", f.Uint, rows[0].Uint, rows[1].Uint, rows[2].Uint)
	ordered(t, check, "Uint8", f.Uint8, rows[0].Uint8, rows[1].Uint8, rows[2].Uint8)
	ordered(t, check, "Uint16", f.Uint16, rows[0].Uint16, rows[1].Uint16, rows[2].Uint16)
	ordered(t, check, "Uint32", f.Uint32, rows[0].Uint32, rows[1].Uint32, rows[2].Uint32)
	ordered(t, check, "Uint64", f.Uint64, rows[0].Uint64, rows[1].Uint64, rows[2].Uint64)
	ordered(t, check, "Float32", f.Float32, rows[0].Float32, rows[1].Float32, rows[2].Float32)
	ordered(t, check, "Float64", f.Float64, rows[0].Float64, rows[1].Float64, rows[2].Float64)
	// The middle instant asked for in UTC and in yet another zone.
	ordered(t, check, "Time", f.Time, rows[0].Time, rows[1].Time.UTC(), rows[2].Time)
	ordered(t, check, "Time (zone)", f.Time, rows[0].Time, rows[1].Time.In(time.FixedZone("", -8*3600)), rows[2].Time)
	ordered(t, check, "Bytes", f.Bytes, rows[0].Bytes, rows[1].Bytes, rows[2].Bytes)
	ordered(t, check, "UUID", f.UUID, rows[0].UUID, rows[1].UUID, rows[2].UUID)
	ordered(t, check, "Renamed", f.Renamed.Field, rows[0].Renamed, rows[1].Renamed, rows[2].Renamed)
	ordered(t, check, "WireRenamed", f.WireRenamed, rows[0].WireRenamed, rows[1].WireRenamed, rows[2].WireRenamed)
	ordered(t, check, "HTTPServerURL", f.HTTPServerURL.Field, rows[0].HTTPServerURL, rows[1].HTTPServerURL, rows[2].HTTPServerURL)
	ordered(t, check, "ID", f.ID, minID(rows), midID(rows), maxID(rows))
	nullable(t, check, "StrPtr", f.StrPtr.Field, *rows[1].StrPtr, *rows[2].StrPtr)
	nullable(t, check, "Int64Ptr", f.Int64Ptr, *rows[1].Int64Ptr, *rows[2].Int64Ptr)
	nullable(t, check, "Float64Ptr", f.Float64Ptr, *rows[1].Float64Ptr, *rows[2].Float64Ptr)
	nullable(t, check, "BoolPtr", f.BoolPtr, *rows[1].BoolPtr, *rows[2].BoolPtr)
	nullable(t, check, "TimePtr", f.TimePtr, *rows[1].TimePtr, *rows[2].TimePtr)
	nullable(t, check, "UUIDPtr", f.UUIDPtr, *rows[1].UUIDPtr, *rows[2].UUIDPtr)

	check("HasPrefix", f.HTTPServerURL.HasPrefix("u"), 0, 1, 2)
	check("HasPrefix exact", f.Str.HasPrefix("B"))
	check("Contains", f.Renamed.Contains("b"), 1)
	check("Like", f.Renamed.Like("R%"), 0, 1, 2) // LIKE ignores ASCII case
	check("Like escaped", f.Renamed.Like(`r\%`))
	check("And", client.And(f.Int.Ge(0), f.Str.Ne("c")), 1)
	check("Or", client.Or(f.Int.Lt(0), f.Str.Eq("c")), 0, 2)
	check("Not", client.Not(f.Bool.Eq(true)), 0)
	check("Or()", client.Or())
	check("And()", client.And(), 0, 1, 2)
	check("In()", f.Int.In())
	check("Raw", client.Raw("length(label_text) = ? AND int8 > ?", 2, -1), 1, 2)
}

// ordered checks the comparisons of a column whose three rows hold lo,
// mid and hi (bool: false, true, true).
func ordered[V any](t *testing.T, check func(string, client.Cond, ...int), name string, f client.Field[V], lo, mid, hi V) {
	t.Helper()
	if name == "Bool" {
		check(name+" Eq", f.Eq(mid), 1, 2)
		check(name+" Lt", f.Lt(mid), 0)
		check(name+" In", f.In(lo), 0)
		return
	}
	check(name+" Eq", f.Eq(mid), 1)
	check(name+" Ne", f.Ne(mid), 0, 2)
	check(name+" Lt", f.Lt(mid), 0)
	check(name+" Le", f.Le(mid), 0, 1)
	check(name+" Gt", f.Gt(mid), 2)
	check(name+" Ge", f.Ge(mid), 1, 2)
	check(name+" In", f.In(lo, hi), 0, 2)
}

// nullable checks a nullable column whose rows hold NULL, mid and hi.
func nullable[V any](t *testing.T, check func(string, client.Cond, ...int), name string, f client.Field[V], mid, hi V) {
	t.Helper()
	check(name+" IsNull", f.IsNull(), 0)
	check(name+" IsNotNull", f.IsNotNull(), 1, 2)
	check(name+" Eq", f.Eq(hi), 2)
	check(name+" Ne", f.Ne(mid), 2) // NULL is not "different"
	check(name+" In", f.In(mid, hi), 1, 2)
	check(name+" Not In", client.Not(f.In(mid)), 2)
}

func minID(rows []*models.Kind) uuid.UUID { return sortedIDs(rows)[0] }
func midID(rows []*models.Kind) uuid.UUID { return sortedIDs(rows)[1] }
func maxID(rows []*models.Kind) uuid.UUID { return sortedIDs(rows)[2] }

func sortedIDs(rows []*models.Kind) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare([]byte(a.String()), []byte(b.String())) })
	return ids
}
