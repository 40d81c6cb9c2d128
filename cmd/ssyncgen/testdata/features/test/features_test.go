// Package test runs the generated code of the "features" case (../want,
// kept current by TestGolden): every kind of field added after the first
// (named types, sql.Null types, JSON-text types, embedded structs) survives
// the generated codec; rows sync between two devices through a real server
// on every store (foreign keys, indexes and server column names in the DDL
// of each); the typed query helpers find them. TestCaseTests in
// cmd/ssyncgen runs it with go test.
package test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/billing"
	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/models"
	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/shared"
	generated "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/want"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the devices' driver
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

func ptr[T any](v T) *T { return &v }

var projectID = uuid.MustParse("0191f5a4-7b3c-7d2e-9f10-1a2b3c4d5e6f")

func fullTask() models.Task {
	lvl, st := models.Level(-3), models.StatusDone
	tags := models.Tags{"b", "a"}
	return models.Task{
		ProjectID:       projectID,
		ParentProjectID: ptr(projectID),
		Title:           "write \"tests\"",
		Label:           "urgent",
		Level:           7,
		LevelPtr:        &lvl,
		StatusPtr:       &st,
		Blob:            models.Blob{0, 1, 0xff},
		Tags:            models.Tags{"x", "y"},
		TagsPtr:         &tags,
		Where:           models.Point{X: 1.5, Y: -2},
		WherePtr:        &models.Point{X: 3, Y: 4},
		Note:            sql.NullString{String: "a note", Valid: true},
		Count:           sql.NullInt64{Int64: -1 << 40, Valid: true},
		Small:           sql.NullInt32{Int32: 1 << 20, Valid: true},
		Tiny:            sql.NullInt16{Int16: -300, Valid: true},
		Octet:           sql.NullByte{Byte: 255, Valid: true},
		Ratio:           sql.NullFloat64{Float64: 0.25, Valid: true},
		Done:            sql.NullBool{Bool: true, Valid: true},
		Due:             sql.NullTime{Time: time.Date(2025, 6, 1, 12, 30, 0, 123456000, time.UTC), Valid: true},
		Owner:           sql.Null[uuid.UUID]{V: uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), Valid: true},
		Phase:           sql.Null[models.Status]{V: models.StatusOpen, Valid: true},
		Audit: shared.Audit{
			CreatedBy: "ann",
			Stamp:     shared.Stamp{Revision: 4, Comment: ptr("first")},
		},
	}
}

func nullTask() models.Task {
	return models.Task{ProjectID: projectID, Blob: models.Blob{}, Tags: models.Tags{}}
}

func encode(t *testing.T, r *models.Task) []byte {
	t.Helper()
	var w jwriter.Writer
	generated.TaskTable().Encode(&w, r)
	data, err := w.BuildBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("encoded row is not valid JSON: %s", data)
	}
	return data
}

func TestWireRoundTrip(t *testing.T) {
	for name, in := range map[string]models.Task{"full": fullTask(), "null": nullTask()} {
		t.Run(name, func(t *testing.T) {
			data := encode(t, &in)
			var got models.Task
			if err := generated.TaskTable().Decode(&jlexer.Lexer{Data: data}, &got, ssync.DecodeOptions{Strict: true}); err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			if !reflect.DeepEqual(got, in) {
				t.Errorf("round trip changed the row\n got %+v\nwant %+v\nwire %s", got, in, data)
			}
			if again := encode(t, &got); string(again) != string(data) {
				t.Errorf("re-encoding differs:\n%s\n%s", data, again)
			}
		})
	}
}

func TestWireShapes(t *testing.T) {
	shape := func(r models.Task) map[string]string {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(encode(t, &r), &obj); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range obj {
			out[k] = string(v)
		}
		return out
	}
	full := shape(fullTask())
	for k, want := range map[string]string{
		"title": `"write \"tests\""`, "label": `"urgent"`, "level": "7", "levelPtr": "-3",
		"statusPtr": `"done"`, "blob": `"AAH/"`, "tags": `["x","y"]`,
		"tagsPtr": `["b","a"]`, "where": `{"X":1.5,"Y":-2}`,
		"note": `"a note"`, "count": "-1099511627776", "octet": "255", "ratio": "0.25", "done": "true",
		"due": `"2025-06-01T12:30:00.123456Z"`, "owner": `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`,
		"phase": `"open"`, "createdBy": `"ann"`, "revision": "4", "comment": `"first"`,
	} {
		if full[k] != want {
			t.Errorf("full row: %s is %s on the wire, want %s", k, full[k], want)
		}
	}
	null := shape(nullTask())
	for _, k := range []string{"parentProjectId", "levelPtr", "statusPtr", "tagsPtr", "wherePtr", "note", "count",
		"small", "tiny", "octet", "ratio", "done", "due", "owner", "phase", "comment"} {
		if null[k] != "null" {
			t.Errorf("null row: %s is %s on the wire, want null", k, null[k])
		}
	}
	for _, k := range []string{"Audit", "Stamp", "scratch", "task_title"} {
		if _, ok := full[k]; ok {
			t.Errorf("unexpected wire key %s", k)
		}
	}
}

// device opens a client database for user.
func device(t *testing.T, user string) *client.DB {
	return storetest.Device(t, generated.Registry(), user)
}

func TestSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, sdb := b.Store(t, generated.Registry())
		opts := client.SyncOptions{ServerURL: storetest.Serve(t, st, server.Config{}), RetryDelay: 1, Decorate: func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, "ann")
			return nil
		}}

		a, bdev := device(t, "ann"), device(t, "ann")
		project := &models.Project{Record: ssync.Record{ID: projectID}, Name: "garden", Status: models.StatusOpen,
			Audit: shared.Audit{CreatedBy: "ann", Stamp: shared.Stamp{Revision: 1}}}
		if err := generated.SyncProjects(a).Insert(ctx, project); err != nil {
			t.Fatal(err)
		}
		full, null := fullTask(), nullTask()
		null.Title = "empty"
		for _, task := range []*models.Task{&full, &null} {
			if err := generated.SyncTasks(a).Insert(ctx, task); err != nil {
				t.Fatal(err)
			}
		}
		inv := &billing.Invoice{ProjectID: projectID, Amount: 1200, Status: models.StatusDone}
		if err := generated.SyncInvoices(a).Insert(ctx, inv); err != nil {
			t.Fatal(err)
		}
		// The device's own copy reads back through the binders.
		local, err := generated.SyncTasks(a).Get(ctx, full.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := encode(t, local), encode(t, &full); string(got) != string(want) {
			t.Errorf("device row differs from the inserted one:\n got %s\nwant %s", got, want)
		}
		if _, err := a.Synchronize(ctx, opts); err != nil {
			t.Fatalf("sync a: %v", err)
		}
		if _, err := bdev.Synchronize(ctx, opts); err != nil {
			t.Fatalf("sync b: %v", err)
		}

		tasks := generated.SyncTasks(bdev)
		got, err := tasks.ByProjectID(ctx, projectID, tasks.OrderBy(generated.TaskColumnTitle, true))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("device b has %d tasks, want 2", len(got))
		}
		for i, want := range []*models.Task{&full, &null} {
			if g, w := encode(t, got[i]), encode(t, want); string(g) != string(w) {
				t.Errorf("synced task differs:\n got %s\nwant %s", g, w)
			}
		}
		// Typed filters on named, sql.Null and embedded columns.
		count := func(name string, opt client.SelectOption, want int) {
			t.Helper()
			if n, err := tasks.Count(ctx, opt); err != nil || n != want {
				t.Errorf("%s: %d rows, %v; want %d", name, n, err, want)
			}
		}
		count("WhereLevel(7)", tasks.WhereLevel(7), 1)
		count("WhereOwner(full)", tasks.WhereOwner(full.Owner), 1)
		count("WhereOwner(NULL)", tasks.WhereOwner(sql.Null[uuid.UUID]{}), 1)
		count("WhereCreatedBy(ann)", tasks.WhereCreatedBy("ann"), 1)
		count("WhereParentProjectID(nil)", tasks.WhereParentProjectID(nil), 1)
		if ps, err := generated.SyncProjects(bdev).ByStatus(ctx, models.StatusOpen); err != nil || len(ps) != 1 || ps[0].Audit.Stamp.Revision != 1 {
			t.Errorf("ByStatus(open) = %v, %v", ps, err)
		}
		if is, err := generated.SyncInvoices(bdev).ByStatus(ctx, models.StatusDone); err != nil || len(is) != 1 || is[0].Amount != 1200 {
			t.Errorf("invoices ByStatus(done) = %v, %v", is, err)
		}

		// The server stores the mapped column names.
		q := b.Dialect.Quote
		var title, label string
		err = sdb.QueryRowContext(ctx, "SELECT "+q("task_title")+", "+q("label")+" FROM "+q("tasks")+" WHERE "+q("id")+" = "+b.Dialect.Placeholder(1),
			full.ID.String()).Scan(&title, &label)
		if err != nil || title != full.Title || label != full.Label {
			t.Errorf("server columns task_title, label = %q, %q, %v", title, label, err)
		}
		// The device refuses a task whose project does not exist.
		orphan := nullTask()
		orphan.ProjectID = uuid.New()
		if err := generated.SyncTasks(a).Insert(ctx, &orphan); err == nil {
			t.Error("the device accepted a task referencing a missing project")
		}
	})
}
