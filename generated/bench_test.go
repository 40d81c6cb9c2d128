package generated_test

// Benchmarks of the generated wire codec against encoding/json with
// reflection, on the same 1,000 notes. Run them with
//
//	go test -run '^$' -bench . -benchmem ./generated
//
// This file is written by hand; ssyncgen never touches files without its
// header.

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
)

const benchRows = 1000

func benchNotes() []models.Note {
	user := uuid.MustParse("a6ea4282-a3ea-4893-ba50-e11e673030ef")
	created := time.Date(2024, 12, 21, 17, 26, 11, 350763000, time.UTC)
	notes := make([]models.Note, benchRows)
	for i := range notes {
		n := &notes[i]
		n.ID = uuid.MustParse(fmt.Sprintf("0191f5a4-7b3c-7d2e-9f10-%012x", i))
		n.CreatedAt = created.Add(time.Duration(i) * time.Second)
		n.UpdatedAt = n.CreatedAt.Add(time.Minute)
		n.SyncID = "alice"
		n.Message = fmt.Sprintf("note number %d: buy milk, call \"bob\"", i)
		n.Completed = i%3 == 0
		if i%2 == 0 {
			n.UserID = &user
		}
		n.UserName = "Alice"
	}
	return notes
}

// encodeGenerated writes the notes as a JSON array with the generated
// encoder.
func encodeGenerated(tbl *ssync.Table[models.Note], notes []models.Note) ([]byte, error) {
	var w jwriter.Writer
	w.RawByte('[')
	for i := range notes {
		if i > 0 {
			w.RawByte(',')
		}
		tbl.Encode(&w, &notes[i])
	}
	w.RawByte(']')
	return w.BuildBytes()
}

// decodeGenerated reads a JSON array of notes with the generated decoder.
func decodeGenerated(tbl *ssync.Table[models.Note], data []byte) ([]models.Note, error) {
	l := jlexer.Lexer{Data: data}
	out := make([]models.Note, 0, benchRows)
	l.Delim('[')
	for l.Ok() && !l.IsDelim(']') {
		out = append(out, models.Note{})
		if err := tbl.Decode(&l, &out[len(out)-1], ssync.DecodeOptions{}); err != nil {
			return nil, err
		}
		l.WantComma()
	}
	l.Delim(']')
	l.Consumed()
	return out, l.Error()
}

func TestCodecsAgree(t *testing.T) {
	tbl := generated.NoteTable()
	notes := benchNotes()
	data, err := encodeGenerated(tbl, notes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeGenerated(tbl, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != benchRows {
		t.Fatalf("decoded %d notes, want %d", len(got), benchRows)
	}
	// The same rows through encoding/json: the two decoders agree.
	ref, err := json.Marshal(notes)
	if err != nil {
		t.Fatal(err)
	}
	var viaJSON []models.Note
	if err := json.Unmarshal(ref, &viaJSON); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		a, b := got[i], viaJSON[i]
		if a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || a.Message != b.Message || a.Completed != b.Completed ||
			(a.UserID == nil) != (b.UserID == nil) || a.UserName != b.UserName || a.SyncID != b.SyncID {
			t.Fatalf("note %d: generated codec %+v, encoding/json %+v", i, a, b)
		}
	}
}

func BenchmarkEncode1000Notes(b *testing.B) {
	notes := benchNotes()
	b.Run("generated", func(b *testing.B) {
		tbl := generated.NoteTable()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeGenerated(tbl, notes); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(notes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode1000Notes(b *testing.B) {
	notes := benchNotes()
	b.Run("generated", func(b *testing.B) {
		tbl := generated.NoteTable()
		data, err := encodeGenerated(tbl, notes)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeGenerated(tbl, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		data, err := json.Marshal(notes)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var out []models.Note
			if err := json.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
