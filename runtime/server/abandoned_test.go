package server_test

import (
	"context"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestPushOutlivesItsClient cancels a push's context in the middle of its
// transaction (the client went away): the push still commits and answers,
// so its outcome is never "committed but reported as failed", and a retry
// with the same key gets the recorded answer.
func TestPushOutlivesItsClient(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		db, _ := b.Open(t)
		st, err := store.Open(context.Background(), db, b.Dialect, generated.Registry(),
			store.WithHooks("ss_tb_note", store.Hooks{BeforeWrite: func(context.Context, *store.Write) error {
				cancel() // the client leaves while the push writes
				return nil
			}}))
		if err != nil {
			t.Fatal(err)
		}
		req := store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "phone", Key: "k1", RequestHash: "h1",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: benchNotes("alice", 3, 0)}}}
		res, err := st.Push(ctx, req)
		if err != nil {
			t.Fatalf("push whose client left mid-transaction: %v", err)
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM ss_tb_note").Scan(&n); err != nil || n != 3 {
			t.Fatalf("store holds %d notes (%v), want the 3 pushed", n, err)
		}
		again, err := st.Push(context.Background(), req)
		if err != nil || !again.Replayed || again.Checkpoint != res.Checkpoint {
			t.Fatalf("retry with the same key: %+v, %v; want the recorded answer %+v", again, err, res)
		}
	})
}
