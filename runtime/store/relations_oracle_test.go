package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestDeletedRowOfAnotherUser: ben pushes a task whose project is a
// deleted project of ann's, and the same task naming an id no row has. The
// two answers must be the same (no existence oracle), for each ondelete
// rule of the reference (rel_task.a cascade, rel_tag.a setnull,
// rel_comment.a restrict).
func TestDeletedRowOfAnotherUser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := b.Store(t, storetest.Relations(t))
		now := time.Now().UTC()
		rec := func(user string, id uuid.UUID) ssync.Record {
			return ssync.Record{ID: id, CreatedAt: now, UpdatedAt: now, SyncID: user}
		}
		push := func(user, coll string, created []any, deleted []uuid.UUID) (string, error) {
			res, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: user}, Device: "dev-" + user,
				Sets: []wire.ChangeSet{{Collection: coll, Created: created, Deleted: deleted}}})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("ignored %+v", res.Ignored), nil
		}
		// ann's project and task, both deleted.
		proj, task := uuid.New(), uuid.New()
		if _, err := push("ann", "rel_project", []any{&storetest.Node{Record: rec("ann", proj), Title: "ann's"}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := push("ann", "rel_task", []any{&storetest.Node{Record: rec("ann", task), Title: "ann's", A: &proj}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := push("ann", "rel_project", nil, []uuid.UUID{proj}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			coll   string
			target uuid.UUID
		}{{"rel_task", proj}, {"rel_tag", proj}, {"rel_comment", task}} {
			hers := uuid.New()
			a1, e1 := push("ben", c.coll, []any{&storetest.Node{Record: rec("ben", hers), Title: "ben's", A: &c.target}}, nil)
			ghost := uuid.New()
			a2, e2 := push("ben", c.coll, []any{&storetest.Node{Record: rec("ben", hers), Title: "ben's", A: &ghost}}, nil)
			// Error texts name the id; compare with the id replaced.
			s1, s2 := fmt.Sprint(a1, e1), fmt.Sprint(a2, e2)
			s1 = strings.ReplaceAll(s1, c.target.String(), "ID")
			s2 = strings.ReplaceAll(s2, ghost.String(), "ID")
			t.Logf("%s: %s", c.coll, s1)
			if s1 != s2 {
				t.Errorf("%s: a reference to ann's deleted row answers\n  %s\nan unknown id answers\n  %s", c.coll, s1, s2)
			}
		}
	})
}
