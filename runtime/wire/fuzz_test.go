package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// FuzzDecodeChangeSets feeds arbitrary documents to the change-set decoder,
// strict (as the server reads pushes) and lenient (as clients read pulls).
// It must never panic; every error must wrap ErrMalformed; and a document it
// accepts must encode to one that decodes strictly to the same change sets
// (the encoding is a fixed point).
func FuzzDecodeChangeSets(f *testing.F) {
	reg := generated.Registry()
	for _, s := range []string{
		seedExample,
		`[]`,
		`[{"collection":"ss_tb_note","timestamp":"7","changes":{"created":[],"updated":[],"deleted":["a6ea4282-a3ea-4893-ba50-e11e673030ef"]}}]`,
		`[{"collection":"ss_tb_user","timestamp":"","changes":{"created":[{"id":"a6ea4282-a3ea-4893-ba50-e11e673030ef","createdAt":"2024-12-21T17:25:53.961871Z","updatedAt":"2024-12-21T17:25:53.961871Z","deletedAt":null,"syncId":"alice","name":"Alice","age":31}]}}]`,
		`[{"collection":"ss_tb_note","changes":{"updated":[{"id":"66c2eb1e-14f3-4ec7-8afd-84f54a42287b","message":"x","completed":true,"userId":null,"userName":"A","extra":1}]}}]`,
		`[{"collection":"ss_tb_note","changes":null,"timestamp":null}]`,
		`[{"collection":"ss_tb_note","timestamp":"2","changes":{"updated":[{"id":"66c2eb1e-14f3-4ec7-8afd-84f54a42287b","createdAt":"2024-12-21T17:26:11.350763Z","updatedAt":"2024-12-22T09:30:00Z","deletedAt":null,"syncId":"alice","message":"buy oat milk"}]},"base":{"66c2eb1e-14f3-4ec7-8afd-84f54a42287b":{"message":"buy milk"}}}]`,
		`[{"collection":"nope"}]`,
		`{"collection":"ss_tb_note"}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		sets, err := wire.DecodeChangeSets(data, reg, ssync.DecodeOptions{Strict: strict})
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		enc := encodeSets(t, reg, sets)
		again, err := wire.DecodeChangeSets(enc, reg, ssync.DecodeOptions{Strict: true})
		if err != nil {
			t.Fatalf("the encoding of an accepted document does not decode: %v\ninput:   %q\nencoded: %s", err, data, enc)
		}
		if enc2 := encodeSets(t, reg, again); !bytes.Equal(enc, enc2) {
			t.Fatalf("decoding the encoding changed the change sets:\ninput: %q\nfirst:  %s\nsecond: %s", data, enc, enc2)
		}
		if len(again) != len(sets) {
			t.Fatalf("%d change sets became %d", len(sets), len(again))
		}
		for i := range sets {
			a, b := &sets[i], &again[i]
			if a.Collection != b.Collection || a.Checkpoint != b.Checkpoint || a.Len() != b.Len() {
				t.Fatalf("change set %d: %s %q %d rows became %s %q %d rows", i, a.Collection, a.Checkpoint, a.Len(), b.Collection, b.Checkpoint, b.Len())
			}
		}
	})
}

func encodeSets(t *testing.T, reg *ssync.Registry, sets []wire.ChangeSet) []byte {
	t.Helper()
	w := &jwriter.Writer{}
	if err := wire.EncodeChangeSets(w, reg, sets); err != nil {
		t.Fatalf("encode decoded change sets: %v", err)
	}
	b, err := w.BuildBytes()
	if err != nil {
		t.Fatalf("encode decoded change sets: %v", err)
	}
	return b
}
