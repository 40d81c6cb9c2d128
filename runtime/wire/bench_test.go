package wire_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// BenchmarkDecodePush decodes a push body of 5,000 new notes (one part of
// a push, as the client splits them) as the server does.
func BenchmarkDecodePush(b *testing.B) {
	reg := generated.Registry()
	rows := make([]any, 5000)
	now := time.Now()
	for i := range rows {
		rows[i] = &models.Note{Record: ssync.Record{ID: uuid.Must(uuid.NewV7()), CreatedAt: now, UpdatedAt: now, SyncID: "pusher"},
			Message: fmt.Sprintf("remember to buy item number %06d", i)}
	}
	var w jwriter.Writer
	if err := wire.EncodeChangeSets(&w, reg, []wire.ChangeSet{{Collection: "ss_tb_note", Created: rows}}); err != nil {
		b.Fatal(err)
	}
	body, err := w.BuildBytes()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		sets, err := wire.DecodeChangeSets(body, reg, ssync.DecodeOptions{TrackAbsent: true, Strict: true, RefuseNUL: true})
		if err != nil || len(sets) != 1 || len(sets[0].Created) != len(rows) {
			b.Fatalf("decoded %d sets, %v", len(sets), err)
		}
	}
}
