package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
)

// insertNotes inserts n notes on db in one Transaction.
func insertNotes(t *testing.T, db *client.DB, n int, prefix string) {
	t.Helper()
	err := db.Transaction(context.Background(), func(ctx context.Context) error {
		for i := range n {
			if err := generated.SyncNotes(db).Insert(ctx, &models.Note{Message: fmt.Sprintf("%s %05d", prefix, i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countNotes(t *testing.T, db *client.DB) int {
	t.Helper()
	n, err := generated.SyncNotes(db).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A pull cancelled while it applies stops before the next batch: the
// batches applied keep their checkpoint, nothing of the next one is written,
// and the next sync resumes.
func TestCancelledPullStopsBetweenBatches(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h := newHarness(t, be)
	src := h.device("source", "alice")
	const total, batch = 2000, 500
	insertNotes(t, src, total, "note")
	h.sync(src)

	dst := h.device("fresh", "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := h.opts(dst)
	opts.PullBatchRows = batch
	opts.Progress = func(p client.Progress) {
		if p.Stage == client.StagePull && p.Done >= batch {
			cancel()
		}
	}
	_, err := dst.Synchronize(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sync: %v, want context.Canceled", err)
	}
	if n := countNotes(t, dst); n != batch {
		t.Fatalf("after the cancel the device has %d rows, want the first batch (%d) only", n, batch)
	}
	res, err := dst.Synchronize(context.Background(), h.opts(dst))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Pulled[0].Created + res.Pulled[0].Updated; got != total-batch || countNotes(t, dst) != total {
		t.Fatalf("the next sync pulled %+v, device has %d rows, want %d in all", res.Pulled, countNotes(t, dst), total)
	}
}

// Writes inside a Transaction run without the context's per-statement cost
// but still stop at the first statement after it is cancelled, and the
// transaction commits nothing.
func TestCancelledTransactionStopsAtNextWrite(t *testing.T) {
	db := openLocal(t, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notes := generated.SyncNotes(db)
	written := 0
	err := db.Transaction(ctx, func(ctx context.Context) error {
		for i := range 1000 {
			if i == 100 {
				cancel()
			}
			if err := notes.Insert(ctx, &models.Note{Message: fmt.Sprintf("n %d", i)}); err != nil {
				return err
			}
			written++
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled transaction: %v, want context.Canceled", err)
	}
	if written != 100 {
		t.Fatalf("%d inserts succeeded, want the 100 before the cancel", written)
	}
	if n := countNotes(t, db); n != 0 {
		t.Fatalf("the cancelled transaction left %d rows", n)
	}
	// The database works on after it.
	if err := notes.Insert(context.Background(), &models.Note{Message: "after"}); err != nil {
		t.Fatal(err)
	}
}

// A sync cancelled before it reads the rows to push pushes nothing and
// keeps them dirty.
func TestCancelledPushKeepsChanges(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h := newHarness(t, be)
	dev := h.device("a", "alice")
	insertNotes(t, dev, 600, "local")
	ctx, cancel := context.WithCancel(context.Background())
	opts := h.opts(dev)
	opts.Progress = func(p client.Progress) {
		if p.Stage == client.StageHandshake {
			cancel()
		}
	}
	if _, err := dev.Synchronize(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sync: %v, want context.Canceled", err)
	}
	res := h.sync(dev)
	if len(res.Pushed) != 1 || res.Pushed[0].Created != 600 {
		t.Fatalf("the next sync pushed %+v, want 600 rows", res.Pushed)
	}
}
