package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
	"github.com/ssync-go/ssync/runtime/wire"
)

func benchStore(b *testing.B) *store.Store {
	b.Helper()
	db, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(b.TempDir(), "bench.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	st, err := store.Open(context.Background(), db, ssqlite.Dialect(), generated.Registry())
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func benchNotes(owner string, n, from int) []any {
	rows := make([]any, n)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range rows {
		id, _ := uuid.NewV7()
		rows[i] = &models.Note{Record: ssync.Record{ID: id, CreatedAt: now, UpdatedAt: now, SyncID: owner},
			Message: fmt.Sprintf("remember to buy item number %06d", from+i), UserName: "bench"}
	}
	return rows
}

// BenchmarkStorePush measures applying pushes of 1,000 new notes.
func BenchmarkStorePush(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rows := benchNotes("alice", 1000, i*1000)
		if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "d",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStorePull measures reading 10,000 notes in one pull.
func BenchmarkStorePull(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	for i := range 10 {
		if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "d",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: benchNotes("alice", 1000, i*1000)}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		sets, err := st.Pull(ctx, store.PullRequest{Identity: store.Identity{SyncID: "alice"}, Collections: []string{"ss_tb_note"}})
		if err != nil || len(sets[0].Created) != 10_000 {
			b.Fatalf("pull: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*10_000)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkIncrementalPull measures a pull of 10 changed rows from a store
// of 10,000.
func BenchmarkIncrementalPull(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	for i := range 10 {
		if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "d",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: benchNotes("alice", 1000, i*1000)}}}); err != nil {
			b.Fatal(err)
		}
	}
	res, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "d",
		Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: benchNotes("alice", 10, 20_000)}}})
	if err != nil {
		b.Fatal(err)
	}
	since, _ := store.ParseCheckpoint(res.Checkpoint)
	since.Version--
	b.ReportAllocs()
	for b.Loop() {
		sets, err := st.Pull(ctx, store.PullRequest{Identity: store.Identity{SyncID: "alice"}, Collections: []string{"ss_tb_note"}, Since: since})
		if err != nil || len(sets[0].Created) != 10 {
			b.Fatalf("pull: %v %d", err, len(sets[0].Created))
		}
	}
}

// BenchmarkStorePushIntoHeld measures applying pushes of 5,000 new notes
// (a part of a push, as the client splits them) into a store that holds
// 100,000 notes of another user, each by a user of its own.
func BenchmarkStorePushIntoHeld(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	for i := range 10 {
		if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "holder"}, Device: "seed",
			Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: benchNotes("holder", 10_000, i*10_000)}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		user := fmt.Sprintf("pusher-%d", i)
		rows := benchNotes(user, 5000, 0)
		b.StartTimer()
		if _, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: user}, Device: "d", Key: "k",
			RequestHash: "h", Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*5000)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStoreUpdatePush measures applying a push of an edit of one field
// of 10,000 notes the store has, pushed whole and as a field push (the
// default of a device that tracks fields: the changed field with its base,
// the others left out), in the same run.
func BenchmarkStoreUpdatePush(b *testing.B) {
	const n = 10_000
	for _, mode := range []string{"whole", "fields"} {
		b.Run(mode, func(b *testing.B) {
			st := benchStore(b)
			ctx := context.Background()
			rows := benchNotes("alice", n, 0)
			res, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "d",
				Sets: []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}})
			if err != nil {
				b.Fatal(err)
			}
			since, _ := store.ParseCheckpoint(res.Checkpoint)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				cs := wire.ChangeSet{Collection: "ss_tb_note"}
				for _, r := range rows {
					note := r.(*models.Note)
					base := note.Message
					edited := *note
					edited.Message = fmt.Sprintf("edit %d of %s", i, note.ID)
					edited.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
					*note = edited
					row := &edited
					cs.Updated = append(cs.Updated, row)
					if mode == "fields" {
						if cs.Fields == nil {
							cs.Fields, cs.Absent = map[any]*wire.FieldChange{}, map[any][]string{}
						}
						cs.Fields[row] = &wire.FieldChange{Changed: []string{"message"}, Base: &models.Note{Message: base}}
						cs.Absent[row] = []string{"completed", "user_id", "user_name", "file"}
					}
				}
				b.StartTimer()
				res, err := st.Push(ctx, store.PushRequest{Identity: store.Identity{SyncID: "alice"}, Device: "d", Since: since,
					Sets: []wire.ChangeSet{cs}})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Ignored) != 0 || len(res.Merged) != 0 {
					b.Fatalf("ignored %v, merged %v; want every edit taken", res.Ignored, res.Merged)
				}
				since, _ = store.ParseCheckpoint(res.Checkpoint)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
