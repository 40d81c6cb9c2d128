package refval

import (
	"testing"

	"github.com/google/uuid"
)

func TestID(t *testing.T) {
	id := uuid.New()
	for _, tc := range []struct {
		v    any
		want bool
	}{
		{id, true}, {&id, true}, {id.String(), true},
		{uuid.Nil, false}, {(*uuid.UUID)(nil), false}, {"", false}, {"not a uuid", false}, {nil, false}, {42, false},
	} {
		got, ok := ID(tc.v)
		if ok != tc.want || (ok && got != id) {
			t.Errorf("ID(%#v) = %v, %t; want %t", tc.v, got, ok, tc.want)
		}
	}
}
