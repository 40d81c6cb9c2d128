package client_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
)

// TestPushSelfReferenceOrder pushes trees of a self-referencing table
// (rel_task.b → rel_task) created offline, one row a push and all in one:
// a chain whose root changed more often than its subtasks and whose ids
// sort from the leaf up, a task created first and moved under a later
// one, and a tree deleted before it was ever pushed.
// Each row goes after the rows it references, so the server never sees a
// reference to a row it does not have yet; a second device pulls the
// trees whole.
func TestPushSelfReferenceOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, batch := range []int{1, 0} {
			ctx := context.Background()
			reg := storetest.Relations(t)
			st, _ := b.Store(t, reg)
			url := storetest.Serve(t, st, server.Config{})
			dev := storetest.Device(t, reg, "ann")
			projects := client.NewRepo(dev, storetest.RelTable("rel_project"))
			tasks := client.NewRepo(dev, storetest.RelTable("rel_task"))
			project := &storetest.Node{Title: "p"}
			if err := projects.Insert(ctx, project); err != nil {
				t.Fatal(err)
			}
			id := func(b byte) uuid.UUID { return uuid.UUID{b, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1} }
			insert := func(n *storetest.Node) {
				t.Helper()
				n.A = &project.ID
				if err := tasks.Insert(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			// A chain whose ids sort from the leaf up.
			root := &storetest.Node{Title: "root"}
			root.ID = id(0xf0)
			insert(root)
			mid := &storetest.Node{Title: "mid", B: &root.ID}
			mid.ID = id(0x80)
			insert(mid)
			leaf := &storetest.Node{Title: "leaf", B: &mid.ID}
			leaf.ID = id(0x10)
			insert(leaf)
			// The root changed since: it has more changes than its subtree.
			for _, title := range []string{"root 2", "root 3"} {
				root.Title = title
				if err := tasks.Update(ctx, root); err != nil {
					t.Fatal(err)
				}
			}
			// A task created before the one it is then moved under.
			early := &storetest.Node{Title: "early"}
			early.ID = id(0xe0)
			insert(early)
			late := &storetest.Node{Title: "late"}
			late.ID = id(0xd0)
			insert(late)
			early.B = &late.ID
			if err := tasks.Update(ctx, early); err != nil {
				t.Fatal(err)
			}
			// A tree deleted before its first push: both go, already deleted.
			gone := &storetest.Node{Title: "gone"}
			gone.ID = id(0xc0)
			insert(gone)
			goneChild := &storetest.Node{Title: "gone child", B: &gone.ID}
			goneChild.ID = id(0x05)
			insert(goneChild)
			gone.Title = "gone 2"
			if err := tasks.Update(ctx, gone); err != nil {
				t.Fatal(err)
			}
			if err := tasks.Delete(ctx, gone.ID); err != nil {
				t.Fatal(err)
			}
			opts := storetest.Sync(url, "ann")
			opts.PushBatchRows = batch
			if _, err := dev.Synchronize(ctx, opts); err != nil {
				t.Fatalf("push batch %d: %v", batch, err)
			}
			other := storetest.Device(t, reg, "ann")
			if _, err := other.Synchronize(ctx, storetest.Sync(url, "ann")); err != nil {
				t.Fatalf("push batch %d: pull on a second device: %v", batch, err)
			}
			got, err := client.NewRepo(other, storetest.RelTable("rel_task")).Select(ctx)
			if err != nil {
				t.Fatal(err)
			}
			parents := map[uuid.UUID]*uuid.UUID{}
			for _, n := range got {
				parents[n.ID] = n.B
			}
			want := map[uuid.UUID]*uuid.UUID{root.ID: nil, mid.ID: &root.ID, leaf.ID: &mid.ID, early.ID: &late.ID, late.ID: nil}
			if len(parents) != len(want) {
				t.Fatalf("push batch %d: the second device holds %d live tasks, want %d", batch, len(parents), len(want))
			}
			for k, p := range want {
				if g, ok := parents[k]; !ok || (g == nil) != (p == nil) || (g != nil && *g != *p) {
					t.Errorf("push batch %d: task %s has parent %v on the second device, want %v", batch, k, g, p)
				}
			}
		}
	})
}
