package store_test

import (
	"errors"
	"testing"

	"github.com/ssync-go/ssync/runtime/store"
)

// FuzzParseCheckpoint: any string either parses to a cursor whose string
// form parses back to the same cursor, or is refused with an error wrapping
// ErrBadCheckpoint.
func FuzzParseCheckpoint(f *testing.F) {
	for _, s := range []string{"", "0", "42", "0001-01-01T00:00:00", "0001-01-01T00:00:00.0000000Z",
		"7.66c2eb1e-14f3-4ec7-8afd-84f54a42287b", "7.00000000-0000-0000-0000-000000000000", "yesterday",
		"18446744073709551615", "4611686018427387904", "-1", "+5", "2.", ".2", "2.66C2EB1E-14F3-4EC7-8AFD-84F54A42287B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := store.ParseCheckpoint(s)
		if err != nil {
			if !errors.Is(err, store.ErrBadCheckpoint) {
				t.Fatalf("ParseCheckpoint(%q): error %v does not wrap ErrBadCheckpoint", s, err)
			}
			return
		}
		again, err := store.ParseCheckpoint(c.String())
		if err != nil {
			t.Fatalf("ParseCheckpoint(%q) = %v, whose string %q does not parse: %v", s, c, c.String(), err)
		}
		if again != c {
			t.Fatalf("ParseCheckpoint(%q) = %+v, but its string %q parses to %+v", s, c, c.String(), again)
		}
	})
}
