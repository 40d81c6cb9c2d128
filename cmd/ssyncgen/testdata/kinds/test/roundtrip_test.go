// Package test runs the generated code of the "kinds" case (../want, kept
// current by TestGolden): every kind of field survives the generated encoder
// and decoder, and the row binders agree with the columns. TestCaseTests in
// cmd/ssyncgen runs it with go test.
package test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/models"
	generated "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/want"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

func ptr[T any](v T) *T { return &v }

func full() models.Kind {
	deleted := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	return models.Kind{
		Record: ssync.Record{
			ID:        uuid.MustParse("0191f5a4-7b3c-7d2e-9f10-1a2b3c4d5e6f"),
			CreatedAt: time.Date(2024, 12, 21, 17, 37, 41, 761000000, time.UTC),
			UpdatedAt: time.Date(2024, 12, 22, 1, 2, 3, 123456789, time.UTC),
			DeletedAt: &deleted,
			SyncID:    "user-1",
		},
		Str:        "h\u00e9llo \"quoted\" \\ \n\t</script> \u2028 \U0001F600",
		Bool:       true,
		Int:        math.MinInt,
		Int8:       math.MinInt8,
		Int16:      math.MaxInt16,
		Int32:      math.MinInt32,
		Int64:      math.MaxInt64,
		Uint:       math.MaxUint,
		Uint8:      math.MaxUint8,
		Uint16:     math.MaxUint16,
		Uint32:     math.MaxUint32,
		Uint64:     math.MaxUint64,
		Float32:    0.1,
		Float64:    -math.Pi * 1e-300,
		Time:       time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC),
		Bytes:      []byte{0, 1, 2, 0xfe, 0xff},
		UUID:       uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
		StrPtr:     ptr(""),
		Int64Ptr:   ptr(int64(math.MinInt64)),
		Float64Ptr: ptr(math.MaxFloat64),
		BoolPtr:    ptr(false),
		TimePtr:    ptr(time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
		UUIDPtr:    ptr(uuid.Nil),

		Renamed:       "label",
		WireRenamed:   -7,
		HTTPServerURL: "https://example.com/",

		Cache: map[string]int{"not": 1, "synced": 2},
	}
}

func encode(t *testing.T, r *models.Kind) []byte {
	t.Helper()
	var w jwriter.Writer
	generated.KindTable().Encode(&w, r)
	data, err := w.BuildBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("encoded row is not valid JSON: %s", data)
	}
	return data
}

func decode(data []byte, opts ssync.DecodeOptions) (models.Kind, error) {
	var r models.Kind
	l := jlexer.Lexer{Data: data}
	err := generated.KindTable().Decode(&l, &r, opts)
	return r, err
}

func TestRoundTrip(t *testing.T) {
	rows := map[string]models.Kind{
		"full": full(),
		"zero": {Bytes: []byte{}}, // a nil []byte travels as "" and comes back empty
	}
	for name, in := range rows {
		t.Run(name, func(t *testing.T) {
			data := encode(t, &in)
			got, err := decode(data, ssync.DecodeOptions{Strict: true})
			if err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			want := in
			want.Cache = nil // ssync:"-": not on the wire
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the row\n got %+v\nwant %+v\nwire %s", got, want, data)
			}
			if again := encode(t, &got); string(again) != string(data) {
				t.Errorf("re-encoding differs:\n%s\n%s", data, again)
			}
		})
	}
}

func TestWireNames(t *testing.T) {
	in := full()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(encode(t, &in), &obj); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"id", "createdAt", "updatedAt", "deletedAt", "syncId"}
	for _, c := range generated.KindTable().Columns {
		want = append(want, c.Wire)
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("wire keys %v, want %v", keys, want)
	}
	for _, k := range []string{"renamed", "wr", "httpServerURL", "uint64"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("wire key %q missing", k)
		}
	}
	for _, k := range []string{"cache", "Cache", "label_text", "wireRenamed"} {
		if _, ok := obj[k]; ok {
			t.Errorf("unexpected wire key %q", k)
		}
	}
	if got := string(obj["uint64"]); got != "18446744073709551615" {
		t.Errorf("uint64 on the wire is %s", got)
	}
}

func TestNullPointers(t *testing.T) {
	in := full()
	in.StrPtr, in.Int64Ptr, in.Float64Ptr, in.BoolPtr, in.TimePtr, in.UUIDPtr = nil, nil, nil, nil, nil, nil
	in.DeletedAt = nil
	in.Cache = nil
	data := encode(t, &in)
	for _, k := range []string{"strPtr", "int64Ptr", "float64Ptr", "boolPtr", "timePtr", "uuidPtr", "deletedAt"} {
		if !strings.Contains(string(data), "\""+k+"\":null") {
			t.Errorf("%s is not null in %s", k, data)
		}
	}
	got, err := decode(data, ssync.DecodeOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip changed the row\n got %+v\nwant %+v", got, in)
	}
}

func TestTimeZone(t *testing.T) {
	in := full()
	in.Time = time.Date(2024, 6, 1, 12, 0, 0, 0, time.FixedZone("X", 2*3600))
	got, err := decode(encode(t, &in), ssync.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(in.Time) || got.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", got.Time, in.Time)
	}
}

func TestUnknownField(t *testing.T) {
	in := full()
	in.Cache = nil
	data := encode(t, &in)
	data = append([]byte("{\"extra\":{\"a\":[1,2]},"), data[1:]...)
	got, err := decode(data, ssync.DecodeOptions{})
	if err != nil {
		t.Fatalf("lenient decode: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("lenient decode changed the row\n got %+v\nwant %+v", got, in)
	}
	if _, err := decode(data, ssync.DecodeOptions{Strict: true}); !errors.Is(err, wire.ErrUnknownField) {
		t.Errorf("strict decode error %v, want ErrUnknownField", err)
	}
}

func TestBadValue(t *testing.T) {
	_, err := decode([]byte("{\"int8\":\"seven\"}"), ssync.DecodeOptions{})
	var fe *wire.FieldError
	if !errors.As(err, &fe) || fe.Field != "int8" {
		t.Errorf("error %v, want a FieldError for int8", err)
	}
}

func TestBinders(t *testing.T) {
	tbl := generated.KindTable()
	in := full()
	vals := tbl.Values(&in, nil)
	var out models.Kind
	targets := tbl.Targets(&out, nil)
	if len(vals) != len(tbl.Columns) || len(targets) != len(tbl.Columns) {
		t.Fatalf("%d values, %d targets, %d columns", len(vals), len(targets), len(tbl.Columns))
	}
	// Copy each SQL argument into its scan target as a database would: a
	// value into a pointer target through a new pointer, NULL as nil.
	for i := range vals {
		dst := reflect.ValueOf(targets[i]).Elem()
		switch v := reflect.ValueOf(vals[i]); {
		case vals[i] == nil:
			dst.Set(reflect.Zero(dst.Type()))
		case dst.Kind() == reflect.Pointer && v.Type() == dst.Type().Elem():
			p := reflect.New(v.Type())
			p.Elem().Set(v)
			dst.Set(p)
		default:
			dst.Set(v)
		}
	}
	out.Record, out.Cache = in.Record, in.Cache
	// Times are bound in their stored form: UTC, in microseconds.
	want := in
	want.Time = ssync.StoredTime(in.Time)
	want.TimePtr = ptr(ssync.StoredTime(*in.TimePtr))
	if !reflect.DeepEqual(out, want) {
		t.Errorf("values copied through targets differ\n got %+v\nwant %+v", out, want)
	}
	if want.Time.Equal(in.Time) || want.TimePtr.Equal(*in.TimePtr) {
		t.Errorf("the case's times are already in their stored form: the test would not see them bound as they are")
	}
	if tbl.Record(&in) != &in.Record {
		t.Error("Record does not return the embedded record")
	}
}

func TestRegistry(t *testing.T) {
	reg := generated.Registry()
	coll, err := reg.Lookup("kinds")
	if err != nil {
		t.Fatal(err)
	}
	in := full()
	var w jwriter.Writer
	coll.EncodeRow(&w, &in)
	data, _ := w.BuildBytes()
	if string(data) != string(encode(t, &in)) {
		t.Errorf("EncodeRow differs from Encode")
	}
	row := coll.NewRow()
	if err := coll.DecodeRow(&jlexer.Lexer{Data: data}, row, ssync.DecodeOptions{Strict: true}); err != nil {
		t.Fatal(err)
	}
	in.Cache = nil
	if !reflect.DeepEqual(row, &in) {
		t.Errorf("DecodeRow: got %+v", row)
	}
}
