package client_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	kindmodels "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/models"
	kinds "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/want"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// valueCase is one row of TestIdenticalValues: the values a device writes
// and what every database must hold.
type valueCase struct {
	at      time.Time // as written, in some zone, with nanoseconds
	f64     float64
	f32     float32
	i64     int64
	storedT string // at as every database must hold it (RFC 3339, UTC)
}

func zone(hours, minutes int) *time.Location {
	return time.FixedZone(fmt.Sprintf("%+03d:%02d", hours, minutes), hours*3600+minutes*60)
}

// valueCases are written in several zones so that their order as text is
// not their order as instants, with the float and integer edge values.
func valueCases() []valueCase {
	return []valueCase{
		{time.Date(2026, 3, 1, 10, 0, 0, 123456789, zone(5, 0)), 0.1, 0.1, math.MaxInt64, "2026-03-01T05:00:00.123456Z"},
		{time.Date(2026, 3, 1, 8, 0, 0, 999, zone(1, 0)), 1.0 / 3, 1.0 / 3, math.MinInt64, "2026-03-01T07:00:00Z"},
		{time.Date(2026, 3, 1, 6, 30, 0, 500000000, zone(-3, 0)), 1e-300, math.SmallestNonzeroFloat32, 0, "2026-03-01T09:30:00.5Z"},
		{time.Date(2026, 3, 1, 9, 15, 0, 1000, zone(9, 30)), math.MaxFloat64, math.MaxFloat32, -1, "2026-02-28T23:45:00.000001Z"},
		{time.Date(2026, 3, 1, 5, 0, 0, 123456000, time.UTC), math.SmallestNonzeroFloat64, -2.5, 1, "2026-03-01T05:00:00.123456Z"},
		{time.Date(2026, 3, 1, 5, 0, 0, 0, zone(0, 45)), math.Copysign(0, -1), float32(math.Copysign(0, -1)), 42, "2026-03-01T04:15:00Z"},
	}
}

// wantFloat is f as every database must hold it: negative zero is stored
// as zero (ssync.StoredFloat).
func wantFloat(f float64) float64 { return ssync.StoredFloat(f) }

// deref returns *p, or nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// sameFloat reports whether a and b are the same float64, bit for bit.
func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// checkKinds checks that db holds, for each case, the row of ids[i] with
// the stored values, read back through the repository, and that OrderBy on
// the time column orders by instant.
func checkKinds(t *testing.T, where string, db *client.DB, ids []uuid.UUID, cases []valueCase) {
	t.Helper()
	ctx := context.Background()
	repo := kinds.SyncKinds(db)
	for i, c := range cases {
		k, err := repo.Get(ctx, ids[i])
		if err != nil {
			t.Fatalf("%s: get row %d: %v", where, i, err)
		}
		if got := k.Time.Format(time.RFC3339Nano); got != c.storedT {
			t.Errorf("%s: row %d: time reads back as %s, want %s", where, i, got, c.storedT)
		}
		if k.TimePtr == nil || k.TimePtr.Format(time.RFC3339Nano) != c.storedT {
			t.Errorf("%s: row %d: timePtr reads back as %v, want %s", where, i, k.TimePtr, c.storedT)
		}
		if k.CreatedAt.Location() != time.UTC || k.CreatedAt.Nanosecond()%1000 != 0 {
			t.Errorf("%s: row %d: createdAt reads back as %s, want UTC in microseconds", where, i, k.CreatedAt.Format(time.RFC3339Nano))
		}
		if !sameFloat(k.Float64, wantFloat(c.f64)) || k.Float64Ptr == nil || !sameFloat(*k.Float64Ptr, wantFloat(c.f64)) {
			t.Errorf("%s: row %d: float64 reads back as %v (pointer: %v), want %v", where, i, k.Float64, fmt.Sprint(deref(k.Float64Ptr)), wantFloat(c.f64))
		}
		if math.Float32bits(k.Float32) != math.Float32bits(ssync.StoredFloat(c.f32)) {
			t.Errorf("%s: row %d: float32 reads back as %v, want %v", where, i, k.Float32, c.f32)
		}
		if k.Int64 != c.i64 || k.Int64Ptr == nil || *k.Int64Ptr != c.i64 {
			t.Errorf("%s: row %d: int64 reads back as %d (pointer: %v), want %d", where, i, k.Int64, fmt.Sprint(deref(k.Int64Ptr)), c.i64)
		}
	}
	for _, desc := range []bool{false, true} {
		rows, err := repo.Select(ctx, repo.OrderBy(kinds.KindColumnTime, desc), repo.OrderBy(kinds.KindColumnInt64, false))
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(rows); i++ {
			a, b := rows[i-1].Time, rows[i].Time
			if (!desc && a.After(b)) || (desc && a.Before(b)) {
				t.Errorf("%s: OrderBy(time, desc=%v): %s before %s", where, desc, a.Format(time.RFC3339Nano), b.Format(time.RFC3339Nano))
			}
		}
	}
	// A Where on a time in another zone finds the row stored in UTC.
	found, err := repo.Select(ctx, client.Where(string(kinds.KindColumnTime), cases[0].at))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Errorf("%s: Where(time = %s) found nothing", where, cases[0].at.Format(time.RFC3339Nano))
	}
}

// checkServerKinds reads the rows straight from a server store's database.
func checkServerKinds(t *testing.T, b storetest.Backend, sdb *sql.DB, ids []uuid.UUID, cases []valueCase) {
	t.Helper()
	q := b.Dialect.Quote
	for i, c := range cases {
		var at, atPtr, created time.Time
		var f64, f64Ptr float64
		var f32 float64
		var i64 int64
		err := sdb.QueryRow("SELECT "+strings.Join([]string{q("time"), q("time_ptr"), q("created_at"), q("float64"), q("float64_ptr"), q("float32"), q("int64")}, ", ")+
			" FROM "+q("kinds")+" WHERE "+q("id")+" = "+b.Dialect.Placeholder(1), ids[i].String()).Scan(&at, &atPtr, &created, &f64, &f64Ptr, &f32, &i64)
		if err != nil {
			t.Fatalf("%s store: row %d: %v", b.Name, i, err)
		}
		if got := at.UTC().Format(time.RFC3339Nano); got != c.storedT {
			t.Errorf("%s store: row %d: time stored as %s, want %s", b.Name, i, got, c.storedT)
		}
		if got := atPtr.UTC().Format(time.RFC3339Nano); got != c.storedT {
			t.Errorf("%s store: row %d: time_ptr stored as %s, want %s", b.Name, i, got, c.storedT)
		}
		if created.Nanosecond()%1000 != 0 {
			t.Errorf("%s store: row %d: created_at stored as %s, want microseconds", b.Name, i, created.Format(time.RFC3339Nano))
		}
		if !sameFloat(f64, wantFloat(c.f64)) || !sameFloat(f64Ptr, wantFloat(c.f64)) {
			t.Errorf("%s store: row %d: float64 stored as %v and %v, want %v", b.Name, i, f64, f64Ptr, wantFloat(c.f64))
		}
		if math.Float32bits(float32(f32)) != math.Float32bits(ssync.StoredFloat(c.f32)) {
			t.Errorf("%s store: row %d: float32 stored as %v, want %v", b.Name, i, f32, c.f32)
		}
		if i64 != c.i64 {
			t.Errorf("%s store: row %d: int64 stored as %d, want %d", b.Name, i, i64, c.i64)
		}
	}
	if b.Name == "sqlite" {
		// SQLite keeps text: the very text every device holds.
		var text string
		if err := sdb.QueryRow("SELECT CAST(`time` AS TEXT) FROM kinds WHERE id = ?", ids[0].String()).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if want := "2026-03-01 05:00:00.123456+00:00"; text != want {
			t.Errorf("sqlite store: time stored as %q, want %q", text, want)
		}
	}
}

// TestIdenticalValues writes times in several zones with nanoseconds, and
// float and integer edge values, on one device; after a sync the writing
// device, another device and the server store hold the same values (times
// in UTC at microsecond precision, -0 as 0, every other value exact), and
// OrderBy on the time column orders by instant everywhere. On every store.
func TestIdenticalValues(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		reg := kinds.Registry()
		st, sdb := b.Store(t, reg)
		url := storetest.Serve(t, st, server.Config{})
		a := storetest.Device(t, reg, "alice")
		other := storetest.Device(t, reg, "alice")
		cases := valueCases()
		ids := make([]uuid.UUID, len(cases))
		for i, c := range cases {
			at, f64, i64 := c.at, c.f64, c.i64
			k := &kindmodels.Kind{Time: c.at, TimePtr: &at, Float64: c.f64, Float64Ptr: &f64, Float32: c.f32,
				Int64: c.i64, Int64Ptr: &i64, Bytes: []byte{}}
			k.CreatedAt = c.at
			if err := kinds.SyncKinds(a).Insert(ctx, k); err != nil {
				t.Fatalf("insert row %d: %v", i, err)
			}
			ids[i] = k.ID
		}
		checkKinds(t, "writing device", a, ids, cases)
		if _, err := a.Synchronize(ctx, storetest.Sync(url, "alice")); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Synchronize(ctx, storetest.Sync(url, "alice")); err != nil {
			t.Fatal(err)
		}
		checkKinds(t, "writing device after sync", a, ids, cases)
		checkKinds(t, "other device", other, ids, cases)
		checkServerKinds(t, b, sdb, ids, cases)
	})
}

// TestPushedValuesNormalized pushes a row the way a client that does not
// normalize would (a time with an offset and nanoseconds, -0): the server
// stores the normalized values, and a device pulls them.
func TestPushedValuesNormalized(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		reg := kinds.Registry()
		st, sdb := b.Store(t, reg)
		url := storetest.Serve(t, st, server.Config{})
		id := uuid.New()
		body := fmt.Sprintf(`[{"collection": "kinds", "changes": {"created": [{"id": %q,
			"createdAt": "2026-03-01T10:00:00.123456789+05:00", "updatedAt": "2026-03-01T10:00:00.987654321+05:00", "deletedAt": null,
			"str": "", "bool": false, "int": 0, "int8": 0, "int16": 0, "int32": 0, "int64": 9223372036854775807,
			"uint": 0, "uint8": 0, "uint16": 0, "uint32": 0, "uint64": 0, "float32": -0, "float64": -0,
			"time": "2026-03-01T10:00:00.123456789+05:00", "bytes": "", "uuid": "00000000-0000-0000-0000-000000000000",
			"strPtr": null, "int64Ptr": -9223372036854775808, "float64Ptr": -0, "boolPtr": null,
			"timePtr": "2026-03-01T05:00:00.123456999Z", "uuidPtr": null, "renamed": "", "wr": 0, "httpServerURL": ""}]}}]`, id)
		req, err := http.NewRequest(http.MethodPost, url+"/api/sync/push?collections=kinds", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(wire.HeaderUser, "alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("push: %s", resp.Status)
		}
		var created, updated time.Time
		q := b.Dialect.Quote
		if err := sdb.QueryRow("SELECT "+q("created_at")+", "+q("updated_at")+" FROM "+q("kinds")+" WHERE "+q("id")+" = "+b.Dialect.Placeholder(1),
			id.String()).Scan(&created, &updated); err != nil {
			t.Fatal(err)
		}
		if got := created.UTC().Format(time.RFC3339Nano) + " " + updated.UTC().Format(time.RFC3339Nano); got != "2026-03-01T05:00:00.123456Z 2026-03-01T05:00:00.987654Z" {
			t.Errorf("%s store: createdAt and updatedAt stored as %s", b.Name, got)
		}
		d := storetest.Device(t, reg, "alice")
		if _, err := d.Synchronize(ctx, storetest.Sync(url, "alice")); err != nil {
			t.Fatal(err)
		}
		k, err := kinds.SyncKinds(d).Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Time.Format(time.RFC3339Nano) + " " + k.TimePtr.Format(time.RFC3339Nano) + " " + k.CreatedAt.Format(time.RFC3339Nano); got != "2026-03-01T05:00:00.123456Z 2026-03-01T05:00:00.123456Z 2026-03-01T05:00:00.123456Z" {
			t.Errorf("device: time, timePtr, createdAt read back as %s", got)
		}
		if math.Signbit(k.Float64) || math.Signbit(float64(k.Float32)) || k.Int64 != math.MaxInt64 || *k.Int64Ptr != math.MinInt64 || math.Signbit(*k.Float64Ptr) {
			t.Errorf("device: values read back as float64 %v float32 %v int64 %d int64Ptr %d float64Ptr %v", k.Float64, k.Float32, k.Int64, *k.Int64Ptr, *k.Float64Ptr)
		}
		checkServerKinds(t, b, sdb, []uuid.UUID{id}, []valueCase{{f64: 0, f32: 0, i64: math.MaxInt64, storedT: "2026-03-01T05:00:00.123456Z"}})
	})
}

// TestOlderTimesStoredAtOpen: a device database holding times as an older
// version stored them (in the app's zone, with nanoseconds, which SQLite
// sorts as text) has them rewritten once at Open, as the same instants in
// their stored form, without making them changes to push.
func TestOlderTimesStoredAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "device.db")
	reg := kinds.Registry()
	db, err := client.Open(ctx, path, reg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	cases := valueCases()
	ids := make([]uuid.UUID, len(cases))
	for i, c := range cases {
		f64, i64 := c.f64, c.i64
		k := &kindmodels.Kind{Float64: c.f64, Float64Ptr: &f64, Float32: c.f32, Int64: c.i64, Int64Ptr: &i64, Bytes: []byte{}}
		if err := kinds.SyncKinds(db).Insert(ctx, k); err != nil {
			t.Fatal(err)
		}
		ids[i] = k.ID
	}
	db.Close()

	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	const older = "2006-01-02 15:04:05.999999999-07:00" // as an older version stored them
	for i, c := range cases {
		text := c.at.Format(older)
		if _, err := raw.Exec("UPDATE kinds SET `time` = ?, `time_ptr` = ?, `created_at` = ? WHERE id = ?", text, text, text, ids[i].String()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec("DELETE FROM ss_meta WHERE key = 'stored_times'"); err != nil {
		t.Fatal(err)
	}
	dirty := func() string {
		var s string
		if err := raw.QueryRow("SELECT group_concat(ss_dirty) FROM kinds").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := dirty()

	db, err = client.Open(ctx, path, reg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkKinds(t, "reopened device", db, ids, cases)
	if after := dirty(); after != before {
		t.Errorf("change counters %s after Open, %s before: the rewrite made changes to push", after, before)
	}
	var text string
	if err := raw.QueryRow("SELECT CAST(`created_at` AS TEXT) FROM kinds WHERE id = ?", ids[0].String()).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if want := "2026-03-01 05:00:00.123456+00:00"; text != want {
		t.Errorf("created_at stored as %q, want %q", text, want)
	}
	raw.Close()
}
