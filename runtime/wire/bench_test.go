package wire_test

import (
	"fmt"
	"strings"
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

// BenchmarkDiffFields compares two fields of 10,000 pairs of notes, as a
// field push of 10,000 rows does on the server (its base against the
// server's row).
func BenchmarkDiffFields(b *testing.B) {
	coll, err := generated.Registry().Lookup("ss_tb_note")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	user := uuid.New()
	pairs := make([][2]any, 10_000)
	for i := range pairs {
		id := uuid.Must(uuid.NewV7())
		a := &models.Note{Record: ssync.Record{ID: id, CreatedAt: now, UpdatedAt: now, SyncID: "u"},
			Message: fmt.Sprintf("remember to buy item number %06d", i), UserID: &user, UserName: "name",
			File: &ssync.Attachment{Hash: strings.Repeat("ab", 32), Size: 10, Name: "f.txt"}}
		c := *a
		c.Completed = i%2 == 0
		pairs[i] = [2]any{a, &c}
	}
	fields := []string{"message", "completed", "user_id", "file"}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, p := range pairs {
			if wire.DiffFields(coll, p[0], p[1], fields)[1] {
				n++
			}
		}
		if n != len(pairs)/2 {
			b.Fatalf("%d of %d pairs differ in completed, want half", n, len(pairs))
		}
	}
}
