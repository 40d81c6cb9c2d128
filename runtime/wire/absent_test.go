package wire_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	m1 "github.com/ssync-go/ssync/internal/evolvetest/v1/models"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	m2 "github.com/ssync-go/ssync/internal/evolvetest/v2/models"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestAbsentFields: a row encoded with absent fields leaves them out; a
// decoder tracking absent fields names them, whether the sender left them
// out or never knew them (an older app); an older app's decoder skips the
// fields it does not know.
func TestAbsentFields(t *testing.T) {
	partial := &m2.Task{Record: ssync.Record{ID: uuid.New()}, Title: "t", Assignee: "bob", Points: 5}
	whole := &m2.Task{Record: ssync.Record{ID: uuid.New()}, Title: "w", Assignee: "carol", Points: 3}
	sets := []wire.ChangeSet{{Collection: "ev_task", Updated: []any{partial, whole},
		Absent: map[any][]string{partial: {"assignee", "points"}}}}
	w := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, v2.Registry(), sets); err != nil {
		t.Fatal(err)
	}
	body, _ := w.BuildBytes()
	if n := strings.Count(string(body), `"points"`); n != 1 {
		t.Fatalf("points appears %d times in %s, want once (the whole row's)", n, body)
	}
	got, err := wire.DecodeChangeSets(body, v2.Registry(), ssync.DecodeOptions{Strict: true, TrackAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := got[0].Updated
	if a := got[0].Absent[rows[0]]; !slices.Equal(a, []string{"assignee", "points"}) || got[0].Absent[rows[1]] != nil {
		t.Fatalf("absent: %v and %v, want [assignee points] and none", a, got[0].Absent[rows[1]])
	}

	w = &jwriter.Writer{}
	old := &m1.Task{Record: ssync.Record{ID: uuid.New()}, Title: "from version 1"}
	if err := wire.EncodeChangeSets(w, v1.Registry(), []wire.ChangeSet{{Collection: "ev_task", Updated: []any{old}}}); err != nil {
		t.Fatal(err)
	}
	body, _ = w.BuildBytes()
	got, err = wire.DecodeChangeSets(body, v2.Registry(), ssync.DecodeOptions{Strict: true, TrackAbsent: true})
	if err != nil || !slices.Equal(got[0].Absent[got[0].Updated[0]], []string{"assignee", "points"}) {
		t.Fatalf("a version-1 row read by version 2: %v, %v; want assignee and points absent", got, err)
	}

	// A version-1 client reads version 2's rows, skipping what it lacks.
	w = &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, v2.Registry(), []wire.ChangeSet{{Collection: "ev_task", Created: []any{whole}}}); err != nil {
		t.Fatal(err)
	}
	body, _ = w.BuildBytes()
	got, err = wire.DecodeChangeSets(body, v1.Registry(), ssync.DecodeOptions{})
	if err != nil || got[0].Created[0].(*m1.Task).Title != "w" {
		t.Fatalf("version 2's row read by version 1: %v, %v", got, err)
	}
}
