// Package test runs the generated code of the "cycles" case (../want,
// kept current by TestGolden): the registry keeps the order the tags give,
// with the nullable back references pointing to later tables; rows that
// reference each other, written in one local transaction, sync through a
// real server on every store to another device, and a delete follows the
// references around the cycle. TestCaseTests in cmd/ssyncgen runs it with
// go test.
package test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/cycles/models"
	generated "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/cycles/want"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the devices' driver
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestOrder: the registry is in the order of the order= tags, and the
// references that point to a later table are the nullable ones.
func TestOrder(t *testing.T) {
	reg := generated.Registry()
	if got, want := reg.Names(), []string{"users", "tk_task", "tk_step"}; !slices.Equal(got, want) {
		t.Fatalf("registry order %v, want %v", got, want)
	}
	back := 0
	for _, c := range reg.Collections() {
		for _, col := range c.UserColumns() {
			if col.Ref == "" || reg.Index(col.Ref) < reg.Index(c.CollectionName()) {
				continue
			}
			back++
			if !col.Nullable {
				t.Errorf("%s.%s references the later table %s but is not nullable", c.CollectionName(), col.Name, col.Ref)
			}
		}
	}
	if back != 2 {
		t.Errorf("%d back references, want 2 (users.favorite_task_id, users.pinned_step_id)", back)
	}
}

// check fails the test when a live row of the device references a missing
// or deleted row, or SQLite's foreign key check fails.
func check(t *testing.T, name string, db *client.DB) {
	t.Helper()
	ctx := context.Background()
	bad, err := storetest.Dangling(ctx, db.SQL(), generated.Registry(), false)
	if err == nil && bad == "" {
		bad, err = storetest.ForeignKeyCheck(ctx, db.SQL())
	}
	if err != nil || bad != "" {
		t.Fatalf("%s: %s %v", name, bad, err)
	}
}

// TestCycleSync: on every store, a user, their task and its step, which
// the user has chosen and pinned, are written in one local transaction
// (the user first) and reach another device whole; deleting the user there
// deletes the task and the step and clears another user's favorite, on
// both devices.
func TestCycleSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := b.Store(t, generated.Registry())
		opts := client.SyncOptions{ServerURL: storetest.Serve(t, st, server.Config{}), RetryDelay: 1, Decorate: func(r *http.Request) error {
			r.Header.Set(wire.HeaderUser, "ann")
			return nil
		}}
		a, bd := storetest.Device(t, generated.Registry(), "ann"), storetest.Device(t, generated.Registry(), "ann")
		sync := func(name string, db *client.DB) {
			t.Helper()
			if _, err := db.Synchronize(ctx, opts); err != nil {
				t.Fatalf("sync %s: %v", name, err)
			}
			check(t, name, db)
		}
		user := &models.User{Record: ssync.Record{ID: uuid.New()}, Name: "ann"}
		fan := &models.User{Record: ssync.Record{ID: uuid.New()}, Name: "ben"}
		task := &models.Task{Record: ssync.Record{ID: uuid.New()}, Title: "garden", OwnerID: user.ID}
		step := &models.Step{Record: ssync.Record{ID: uuid.New()}, Text: "dig", TaskID: task.ID}
		user.FavoriteTaskID, user.PinnedStepID, fan.FavoriteTaskID = &task.ID, &step.ID, &task.ID
		err := a.Transaction(ctx, func(ctx context.Context) error {
			for _, u := range []*models.User{user, fan} {
				if err := generated.SyncUsers(a).Insert(ctx, u); err != nil {
					return err
				}
			}
			if err := generated.SyncTasks(a).Insert(ctx, task); err != nil {
				return err
			}
			return generated.SyncSteps(a).Insert(ctx, step)
		})
		if err != nil {
			t.Fatal(err)
		}
		sync("a", a)
		sync("b", bd)
		got, err := generated.SyncUsers(bd).Get(ctx, user.ID)
		if err != nil || got.FavoriteTaskID == nil || *got.FavoriteTaskID != task.ID || got.PinnedStepID == nil || *got.PinnedStepID != step.ID {
			t.Fatalf("device b: user = %+v, %v", got, err)
		}
		if fans, err := generated.SyncUsers(bd).ByFavoriteTaskID(ctx, &task.ID); err != nil || len(fans) != 2 {
			t.Fatalf("device b: users whose favorite is the task = %v, %v; want 2", fans, err)
		}

		if err := generated.SyncUsers(bd).Delete(ctx, user.ID); err != nil {
			t.Fatal(err)
		}
		sync("b", bd)
		sync("a", a)
		for name, db := range map[string]*client.DB{"a": a, "b": bd} {
			if _, err := generated.SyncTasks(db).Get(ctx, task.ID); err == nil {
				t.Errorf("device %s: the deleted user's task is live", name)
			}
			if _, err := generated.SyncSteps(db).Get(ctx, step.ID); err == nil {
				t.Errorf("device %s: the deleted user's step is live", name)
			}
			if got, err := generated.SyncUsers(db).Get(ctx, fan.ID); err != nil || got.FavoriteTaskID != nil {
				t.Errorf("device %s: fan = %+v, %v; want live with no favorite", name, got, err)
			}
		}
	})
}
