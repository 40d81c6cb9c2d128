package client_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// syncAs synchronizes db with the server at url as alice.
func syncAs(t *testing.T, db *client.DB, url string) *client.Result {
	t.Helper()
	res, err := db.Synchronize(context.Background(), client.SyncOptions{ServerURL: url, RetryDelay: 1,
		Decorate: func(r *http.Request) error { r.Header.Set(wire.HeaderUser, "alice"); return nil }})
	if err != nil {
		t.Fatalf("synchronize: %v", err)
	}
	return res
}

// getV2 reads a task through version 2's repository.
func getV2(t *testing.T, db *client.DB, id uuid.UUID) *m2.Task {
	t.Helper()
	task, err := v2.SyncTasks(db).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestMixedAppVersions is issue 13's acceptance on every store: a store
// and device files made by version 1 of the models open with version 2
// (two new fields, a new table); a version-1 app's update of a row leaves
// the new fields' values intact on the server and on version-2 devices;
// an upgraded device ends with the server's values in the new columns,
// and the change it had pending is pushed without resetting them.
func TestMixedAppVersions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		sdb, _ := b.Open(t)
		st1, err := store.Open(ctx, sdb, b.Dialect, v1.Registry(), store.WithSchemaVersion(1))
		if err != nil {
			t.Fatal(err)
		}
		url1 := storetest.Serve(t, st1, server.Config{SchemaVersion: 1})
		dir := t.TempDir()
		old := openAs(t, filepath.Join(dir, "old.db"), v1.Registry(), 1)
		defer old.Close()
		upPath := filepath.Join(dir, "upgraded.db")
		up := openAs(t, upPath, v1.Registry(), 1)
		task := &m1.Task{Title: "plan"}
		if err := v1.SyncTasks(old).Insert(ctx, task); err != nil {
			t.Fatal(err)
		}
		syncAs(t, old, url1)
		syncAs(t, up, url1)

		// The server moves to version 2 on the same database.
		st2, err := store.Open(ctx, sdb, b.Dialect, v2.Registry(), store.WithSchemaVersion(2))
		if err != nil {
			t.Fatalf("open the version-1 store with version 2: %v", err)
		}
		url := storetest.Serve(t, st2, server.Config{SchemaVersion: 2})

		// One device upgrades and sets the new fields.
		up.Close()
		up = openAs(t, upPath, v2.Registry(), 2)
		defer up.Close()
		syncAs(t, up, url)
		got := getV2(t, up, task.ID)
		got.Assignee, got.Points = "bob", 5
		if err := v2.SyncTasks(up).Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		if err := v2.SyncTags(up).Insert(ctx, &m2.Tag{Name: "urgent"}); err != nil {
			t.Fatal(err)
		}
		syncAs(t, up, url)

		// The version-1 app edits the title: its push knows nothing of
		// assignee and points, and its pull skips them.
		ot, err := v1.SyncTasks(old).Get(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		ot.Title = "plan, edited by version 1"
		if err := v1.SyncTasks(old).Update(ctx, ot); err != nil {
			t.Fatal(err)
		}
		syncAs(t, old, url)
		var title, assignee string
		var points int
		if err := sdb.QueryRow("SELECT title, assignee, points FROM ev_task WHERE id = "+b.Dialect.Placeholder(1), task.ID.String()).
			Scan(&title, &assignee, &points); err != nil {
			t.Fatal(err)
		}
		if title != ot.Title || assignee != "bob" || points != 5 {
			t.Fatalf("server row after the version-1 update: %q %q %d, want %q bob 5", title, assignee, points, ot.Title)
		}
		syncAs(t, up, url)
		if got := getV2(t, up, task.ID); got.Title != ot.Title || got.Assignee != "bob" || got.Points != 5 {
			t.Fatalf("version-2 device: %+v, want the new title, bob and 5", got)
		}
		fresh := openAs(t, filepath.Join(dir, "fresh.db"), v2.Registry(), 2)
		defer fresh.Close()
		syncAs(t, fresh, url)
		if got := getV2(t, fresh, task.ID); got.Title != ot.Title || got.Assignee != "bob" || got.Points != 5 {
			t.Fatalf("new device: %+v, want the new title, bob and 5", got)
		}

		// The version-1 device upgrades with a change of the row pending: it
		// pushes the change without the fields it did not know, pulls the
		// table again, and ends with its change and the server's values in
		// the new columns.
		ot.Title = "offline edit by version 1"
		if err := v1.SyncTasks(old).Update(ctx, ot); err != nil {
			t.Fatal(err)
		}
		old.Close()
		old = openAs(t, filepath.Join(dir, "old.db"), v2.Registry(), 2)
		if got := getV2(t, old, task.ID); got.Assignee != "" || got.Points != 0 {
			t.Fatalf("before its first sync the upgraded device has %+v, want the defaults", got)
		}
		res := syncAs(t, old, url)
		if got := getV2(t, old, task.ID); got.Title != ot.Title || got.Assignee != "bob" || got.Points != 5 {
			t.Fatalf("upgraded device after sync: %+v (result %+v), want its own title, bob and 5", got, res)
		}
		if len(res.Resynced) != 1 || res.Resynced[0] != "ev_task" {
			t.Errorf("upgraded device resynced %v, want [ev_task]", res.Resynced)
		}
		syncAs(t, up, url)
		if got := getV2(t, up, task.ID); got.Title != ot.Title || got.Assignee != "bob" || got.Points != 5 {
			t.Fatalf("version-2 device after the upgraded push: %+v, want the offline title, bob and 5", got)
		}
		tags, err := v2.SyncTags(old).Select(ctx)
		if err != nil || len(tags) != 1 {
			t.Fatalf("tags on the upgraded device: %v, %v", tags, err)
		}
	})
}

// TestHandshakeSchema: the handshake carries the app's schema version and
// fingerprint, and OnHandshake refuses a client that is too old with a
// message the client returns as a *RefusedError.
func TestHandshakeSchema(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.SQLite().Store(t, v2.Registry())
	var seen []server.Handshake
	url := storetest.Serve(t, st, server.Config{SchemaVersion: 2, OnHandshake: func(_ context.Context, h server.Handshake) error {
		seen = append(seen, h)
		if h.SchemaVersion < 2 {
			return errors.New("version 1 of the app is too old: update it")
		}
		return nil
	}})
	old := openAs(t, filepath.Join(t.TempDir(), "old.db"), v1.Registry(), 1)
	defer old.Close()
	_, err := old.Synchronize(ctx, client.SyncOptions{ServerURL: url, RetryDelay: 1,
		Decorate: func(r *http.Request) error { r.Header.Set(wire.HeaderUser, "alice"); return nil }})
	var refused *client.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Message, "too old") {
		t.Fatalf("version-1 client: %v, want a refusal saying it is too old", err)
	}
	cur := openAs(t, filepath.Join(t.TempDir(), "new.db"), v2.Registry(), 2)
	defer cur.Close()
	syncAs(t, cur, url)
	if len(seen) != 2 || seen[0].SchemaFingerprint != v1.Registry().Fingerprint() ||
		seen[1].SchemaFingerprint != st.Registry().Fingerprint() || seen[1].SchemaVersion != 2 {
		t.Fatalf("handshakes seen: %+v", seen)
	}
}

// TestWholeRowsAfterUpgrade: a device that pushes whole rows
// (SyncOptions.WholeRows), upgraded to version 2, edits rows before the
// sync that re-pulls their table: one clean row's title, one row with a
// version-1 change pending whose points it sets, and, during that sync's
// re-pull, one of them that the re-pull has not reached yet (the re-pull
// then goes again at the next sync). None of its pushes resets the values
// another device wrote in the new columns, the points it set reach the
// server, and it ends with the server's values; on every store.
func TestWholeRowsAfterUpgrade(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		sdb, _ := b.Open(t)
		st, err := store.Open(ctx, sdb, b.Dialect, v2.Registry(), store.WithSchemaVersion(2))
		if err != nil {
			t.Fatal(err)
		}
		url := storetest.Serve(t, st, server.Config{SchemaVersion: 2})
		dir := t.TempDir()
		other := openAs(t, filepath.Join(dir, "other.db"), v2.Registry(), 2)
		defer other.Close()
		var tasks []*m2.Task
		for i, title := range []string{"clean", "pending"} {
			task := &m2.Task{Title: title, Assignee: "bob", Points: 5 + i}
			if err := v2.SyncTasks(other).Insert(ctx, task); err != nil {
				t.Fatal(err)
			}
			tasks = append(tasks, task)
		}
		syncAs(t, other, url)

		path := filepath.Join(dir, "whole.db")
		wholeSync := func(db *client.DB, progress func(client.Progress)) *client.Result {
			t.Helper()
			res, err := db.Synchronize(ctx, client.SyncOptions{ServerURL: url, RetryDelay: 1, WholeRows: true, PullBatchRows: 1,
				Progress: progress, Decorate: func(r *http.Request) error { r.Header.Set(wire.HeaderUser, "alice"); return nil }})
			if err != nil {
				t.Fatalf("synchronize: %v", err)
			}
			return res
		}
		dev := openAs(t, path, v1.Registry(), 1)
		wholeSync(dev, nil)
		pending, err := v1.SyncTasks(dev).Get(ctx, tasks[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		pending.Title = "pending, edited by version 1"
		if err := v1.SyncTasks(dev).Update(ctx, pending); err != nil {
			t.Fatal(err)
		}
		dev.Close()
		dev = openAs(t, path, v2.Registry(), 2)
		defer dev.Close()

		edit := func(id uuid.UUID, change func(*m2.Task)) {
			t.Helper()
			task := getV2(t, dev, id)
			change(task)
			if err := v2.SyncTasks(dev).Update(ctx, task); err != nil {
				t.Fatal(err)
			}
		}
		edit(tasks[0].ID, func(task *m2.Task) { task.Title = "clean, edited after the upgrade" })
		edit(tasks[1].ID, func(task *m2.Task) { task.Points = 70 })
		want := []struct {
			title    string
			assignee string
			points   int
		}{
			{"clean, edited after the upgrade", "bob", 5},
			{"pending, edited by version 1", "bob", 70},
		}
		during := -1
		res := wholeSync(dev, func(p client.Progress) {
			if p.Stage != client.StagePull || during >= 0 {
				return
			}
			// One row is pulled (one a batch); the other still holds the
			// new columns' defaults.
			for i, task := range tasks {
				if getV2(t, dev, task.ID).Assignee == "" {
					during = i
					want[i].title += ", again during the re-pull"
					edit(task.ID, func(task *m2.Task) { task.Title = want[i].title })
					return
				}
			}
		})
		// The row edited during the re-pull kept the defaults: the re-pull
		// goes again, after its push.
		if during < 0 {
			t.Fatal("no row was left to edit during the re-pull")
		}
		if len(res.Resynced) != 0 {
			t.Errorf("the sync after the upgrade resynced %v, want none: row %d, changed during the re-pull, holds the defaults", res.Resynced, during)
		}
		if res := wholeSync(dev, nil); len(res.Resynced) != 1 || res.Resynced[0] != "ev_task" {
			t.Errorf("the next sync resynced %v, want [ev_task]", res.Resynced)
		}
		if res := wholeSync(dev, nil); len(res.Resynced) != 0 {
			t.Errorf("a third sync resynced %v, want none", res.Resynced)
		}

		syncAs(t, other, url)
		for i, w := range want {
			var title, assignee string
			var points int
			if err := sdb.QueryRow("SELECT title, assignee, points FROM ev_task WHERE id = "+b.Dialect.Placeholder(1), tasks[i].ID.String()).
				Scan(&title, &assignee, &points); err != nil {
				t.Fatal(err)
			}
			if title != w.title || assignee != w.assignee || points != w.points {
				t.Errorf("server row %d: %q %q %d, want %q %q %d", i, title, assignee, points, w.title, w.assignee, w.points)
			}
			for name, db := range map[string]*client.DB{"the upgraded device": dev, "the other device": other} {
				if got := getV2(t, db, tasks[i].ID); got.Title != w.title || got.Assignee != w.assignee || got.Points != w.points {
					t.Errorf("%s, row %d: %q %q %d, want %q %q %d", name, i, got.Title, got.Assignee, got.Points, w.title, w.assignee, w.points)
				}
			}
		}
	})
}

// TestWholeRowsAfterInterruptedRepull: the re-pull after an upgrade is
// cut after its first row, which then holds the server's values of the new
// columns while the others hold their defaults; the device, pushing whole
// rows, sets one new field of that row. Its push carries that field and
// leaves the other new field out (the re-pull is still pending): the
// server keeps its value there, and the next sync finishes the re-pull;
// on every store.
func TestWholeRowsAfterInterruptedRepull(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		sdb, _ := b.Open(t)
		st, err := store.Open(ctx, sdb, b.Dialect, v2.Registry(), store.WithSchemaVersion(2))
		if err != nil {
			t.Fatal(err)
		}
		url := storetest.Serve(t, st, server.Config{SchemaVersion: 2})
		dir := t.TempDir()
		other := openAs(t, filepath.Join(dir, "other.db"), v2.Registry(), 2)
		defer other.Close()
		for i, title := range []string{"one", "two"} {
			if err := v2.SyncTasks(other).Insert(ctx, &m2.Task{Title: title, Assignee: "bob", Points: 5 + i}); err != nil {
				t.Fatal(err)
			}
		}
		syncAs(t, other, url)
		path := filepath.Join(dir, "whole.db")
		opts := func(progress func(client.Progress)) client.SyncOptions {
			return client.SyncOptions{ServerURL: url, RetryDelay: 1, WholeRows: true, PullBatchRows: 1, Progress: progress,
				Decorate: func(r *http.Request) error { r.Header.Set(wire.HeaderUser, "alice"); return nil }}
		}
		dev := openAs(t, path, v1.Registry(), 1)
		if _, err := dev.Synchronize(ctx, opts(nil)); err != nil {
			t.Fatal(err)
		}
		dev.Close()
		dev = openAs(t, path, v2.Registry(), 2)
		defer dev.Close()

		cut, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err = dev.Synchronize(cut, opts(func(p client.Progress) {
			if p.Stage == client.StagePull {
				cancel() // after the first pulled row
			}
		}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the cut re-pull: %v, want context.Canceled", err)
		}
		tasks, err := v2.SyncTasks(dev).Select(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pulled *m2.Task
		for _, task := range tasks {
			if task.Assignee == "bob" {
				pulled = task
			}
		}
		if pulled == nil || len(tasks) != 2 {
			t.Fatalf("after the cut re-pull the device holds %+v, want two tasks, one with the server's values", tasks)
		}
		wantPoints := pulled.Points
		pulled.Assignee = "carl"
		if err := v2.SyncTasks(dev).Update(ctx, pulled); err != nil {
			t.Fatal(err)
		}
		res, err := dev.Synchronize(ctx, opts(nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Resynced) != 1 {
			t.Errorf("the next sync resynced %v, want [ev_task]", res.Resynced)
		}
		var assignee string
		var points int
		if err := sdb.QueryRow("SELECT assignee, points FROM ev_task WHERE id = "+b.Dialect.Placeholder(1), pulled.ID.String()).
			Scan(&assignee, &points); err != nil {
			t.Fatal(err)
		}
		if assignee != "carl" || points != wantPoints {
			t.Fatalf("server row: %q %d, want carl %d", assignee, points, wantPoints)
		}
		if tasks, err = v2.SyncTasks(dev).Select(ctx); err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.Assignee == "" || task.Points == 0 {
				t.Errorf("after the re-pull the device holds %+v, want the server's values", task)
			}
		}
	})
}
