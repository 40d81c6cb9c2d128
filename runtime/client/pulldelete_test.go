package client_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
)

// TestPulledDeleteReachesLocalChanges: rows written on a device while its
// sync runs, after its push, under a row the pull then deletes, follow
// the reference's ondelete rule as the pull applies the delete (cascade
// and restrict: deleted; setnull: cleared), so that no live row of the
// device references a deleted row; the next sync pushes them so, and the
// server and a fresh device agree.
func TestPulledDeleteReachesLocalChanges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		reg := storetest.Relations(t)
		st, _ := b.Store(t, reg)
		url := storetest.Serve(t, st, server.Config{})
		a, bdev := storetest.Device(t, reg, "ann"), storetest.Device(t, reg, "ann")
		repo := func(d *client.DB, table string) *client.Repo[storetest.Node] {
			return client.NewRepo(d, storetest.RelTable(table))
		}
		project := &storetest.Node{Title: "project"}
		if err := repo(a, "rel_project").Insert(ctx, project); err != nil {
			t.Fatal(err)
		}
		task := &storetest.Node{Title: "task", A: &project.ID}
		if err := repo(a, "rel_task").Insert(ctx, task); err != nil {
			t.Fatal(err)
		}
		sync := func(d *client.DB, opts client.SyncOptions) {
			t.Helper()
			if _, err := d.Synchronize(ctx, opts); err != nil {
				t.Fatal(err)
			}
		}
		sync(a, storetest.Sync(url, "ann"))
		sync(bdev, storetest.Sync(url, "ann"))
		if err := repo(a, "rel_project").Delete(ctx, project.ID); err != nil {
			t.Fatal(err)
		}
		sync(a, storetest.Sync(url, "ann"))

		// b writes under the project and the task once its push is done,
		// before its pull.
		child := &storetest.Node{Title: "child", A: &project.ID}
		tag := &storetest.Node{Title: "tag", A: &project.ID}
		comment := &storetest.Node{Title: "comment", A: &task.ID}
		opts := storetest.Sync(url, "ann")
		decorate := opts.Decorate
		wrote := false
		opts.Decorate = func(r *http.Request) error {
			if strings.HasSuffix(r.URL.Path, "/pull-stream") && !wrote {
				wrote = true
				for _, w := range []struct {
					table string
					row   *storetest.Node
				}{{"rel_task", child}, {"rel_tag", tag}, {"rel_comment", comment}} {
					if err := repo(bdev, w.table).Insert(ctx, w.row); err != nil {
						t.Errorf("insert %s during the sync: %v", w.table, err)
					}
				}
			}
			return decorate(r)
		}
		sync(bdev, opts)
		if !wrote {
			t.Fatal("the sync made no pull-stream request")
		}
		check := func(d *client.DB, who string) {
			t.Helper()
			for _, table := range []string{"rel_task", "rel_comment"} {
				rows, err := repo(d, table).Select(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					t.Errorf("%s: %s %q is live, but the row it references is deleted", who, table, r.Title)
				}
			}
			tags, err := repo(d, "rel_tag").Select(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tags) != 1 || tags[0].A != nil {
				t.Errorf("%s: want the tag live with its project cleared (ondelete=setnull), got %+v", who, tags)
			}
			rows, err := d.SQL().QueryContext(ctx, "PRAGMA foreign_key_check")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			if rows.Next() {
				t.Errorf("%s: PRAGMA foreign_key_check reports a row", who)
			}
		}
		check(bdev, "after the pull")
		sync(bdev, storetest.Sync(url, "ann"))
		check(bdev, "after the next sync")
		fresh := storetest.Device(t, reg, "ann")
		sync(fresh, storetest.Sync(url, "ann"))
		check(fresh, "a fresh device")
	})
}
