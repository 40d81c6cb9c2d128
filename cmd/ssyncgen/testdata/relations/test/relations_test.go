// Package test runs the generated code of the "relations" case (../want,
// kept current by TestGolden): the descriptors carry each ondelete rule as
// declared and the registry accepts them; a tree of tasks referencing their
// own table, three levels deep, syncs from one device to another through a
// real server on every store, and every level can be edited there. TestCaseTests in cmd/ssyncgen runs it
// with go test.
package test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/relations/models"
	generated "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/relations/want"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the devices' driver
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestOnDelete: each reference carries the rule its tag gives, and the one
// without ondelete= falls to the default, cascade.
func TestOnDelete(t *testing.T) {
	want := map[string]struct {
		ref      string
		onDelete ssync.OnDelete
		rule     ssync.OnDelete
	}{
		"projects.owner_id": {"people", ssync.OnDeleteRestrict, ssync.OnDeleteRestrict},
		"tasks.project_id":  {"projects", ssync.OnDeleteCascade, ssync.OnDeleteCascade},
		"tasks.parent_id":   {"tasks", "", ssync.OnDeleteCascade},
		"tasks.assignee_id": {"people", ssync.OnDeleteSetNull, ssync.OnDeleteSetNull},
	}
	for _, c := range generated.Registry().Collections() {
		for _, col := range c.UserColumns() {
			key := c.CollectionName() + "." + col.Name
			w, ok := want[key]
			if col.Ref == "" {
				if ok || col.OnDelete != "" {
					t.Errorf("%s: no reference, OnDelete %q", key, col.OnDelete)
				}
				continue
			}
			delete(want, key)
			if col.Ref != w.ref || col.OnDelete != w.onDelete || col.Rule() != w.rule {
				t.Errorf("%s: Ref %q, OnDelete %q, Rule %q; want %q, %q, %q", key, col.Ref, col.OnDelete, col.Rule(), w.ref, w.onDelete, w.rule)
			}
		}
	}
	for key := range want {
		t.Errorf("no column %s", key)
	}
}

// device opens a client database for user.
func device(t *testing.T, user string) *client.DB {
	return storetest.Device(t, generated.Registry(), user)
}

// foreignKeyCheck fails the test when a row of db references a missing row.
func foreignKeyCheck(t *testing.T, name string, db *client.DB) {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), "PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid, fkid any
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s: a row of %s references a missing row of %s", name, table, parent)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestTreeSync: a tree of three levels of tasks syncs from device a to
// device b, which edits every level and syncs back.
//
// "level by level" pushes each level in its own sync, parents first. "one
// push" writes the tree offline, leaf first, in one local transaction and
// changes the root last, so one change set carries children before their
// parent: SQLite and PostgreSQL check keys at commit; MariaDB checks each
// statement, and the store orders a change set's self-references for it.
func TestTreeSync(t *testing.T) {
	for _, onePush := range []bool{false, true} {
		name := map[bool]string{false: "level by level", true: "one push"}[onePush]
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, b storetest.Backend) {
				treeSync(t, b, onePush)
			})
		})
	}
}

func treeSync(t *testing.T, b storetest.Backend, onePush bool) {
	ctx := context.Background()
	st, _ := b.Store(t, generated.Registry())
	opts := client.SyncOptions{ServerURL: storetest.Serve(t, st, server.Config{}), RetryDelay: 1, Decorate: func(r *http.Request) error {
		r.Header.Set(wire.HeaderUser, "ann")
		return nil
	}}
	a, bdev := device(t, "ann"), device(t, "ann")
	sync := func(name string, db *client.DB) {
		t.Helper()
		if _, err := db.Synchronize(ctx, opts); err != nil {
			t.Fatalf("sync %s: %v", name, err)
		}
	}

	ann := &models.Person{Name: "ann"}
	if err := generated.SyncPersons(a).Insert(ctx, ann); err != nil {
		t.Fatal(err)
	}
	project := &models.Project{Name: "garden", OwnerID: ann.ID}
	if err := generated.SyncProjects(a).Insert(ctx, project); err != nil {
		t.Fatal(err)
	}
	root := &models.Task{Record: ssync.Record{ID: uuid.New()}, Title: "root", ProjectID: project.ID, AssigneeID: &ann.ID}
	child := &models.Task{Record: ssync.Record{ID: uuid.New()}, Title: "child", ProjectID: project.ID, ParentID: &root.ID}
	leaf := &models.Task{Record: ssync.Record{ID: uuid.New()}, Title: "leaf", ProjectID: project.ID, ParentID: &child.ID}
	tasks := generated.SyncTasks(a)
	if onePush {
		// Leaf first: the device checks the references when the
		// transaction commits.
		err := a.Transaction(ctx, func(ctx context.Context) error {
			for _, task := range []*models.Task{leaf, child, root} {
				if err := tasks.Insert(ctx, task); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		root.Title = "root, renamed"
		if err := tasks.Update(ctx, root); err != nil {
			t.Fatal(err)
		}
		sync("a", a)
	} else {
		for _, task := range []*models.Task{root, child, leaf} {
			if err := tasks.Insert(ctx, task); err != nil {
				t.Fatal(err)
			}
			sync("a", a)
		}
	}
	foreignKeyCheck(t, "device a", a)
	sync("b", bdev)
	foreignKeyCheck(t, "device b", bdev)

	btasks := generated.SyncTasks(bdev)
	for parent, want := range map[*models.Task]*models.Task{root: child, child: leaf} {
		got, err := btasks.ByParentID(ctx, &parent.ID)
		if err != nil || len(got) != 1 || got[0].ID != want.ID {
			t.Fatalf("device b: subtasks of %s = %v, %v; want %s", parent.Title, got, err, want.Title)
		}
	}
	if got, err := btasks.ByParentID(ctx, nil); err != nil || len(got) != 1 || got[0].ID != root.ID || got[0].Title != root.Title {
		t.Fatalf("device b: top-level tasks = %v, %v; want %q", got, err, root.Title)
	}
	// Device b edits every level and syncs back.
	for _, task := range []*models.Task{leaf, child, root} {
		got, err := btasks.Get(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Title += " (b)"
		if err := btasks.Update(ctx, got); err != nil {
			t.Fatalf("device b: update %s: %v", task.Title, err)
		}
	}
	sync("b", bdev)
	sync("a", a)
	if got, err := tasks.Get(ctx, leaf.ID); err != nil || got.Title != "leaf (b)" || got.ParentID == nil || *got.ParentID != child.ID {
		t.Errorf("device a: leaf = %+v, %v", got, err)
	}
	foreignKeyCheck(t, "device a", a)
}
