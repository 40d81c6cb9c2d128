package wire

import "testing"

// TestEscapedNUL: in JSON text, \u0000 is NUL, and a backslash escaped
// before "u0000" is not.
func TestEscapedNUL(t *testing.T) {
	for s, want := range map[string]bool{
		`"\u0000"`:         true,
		`{"a":"x\u0000"}`:  true,
		`"\\u0000"`:        false,
		`"\\\u0000"`:       true,
		`"\u00000"`:        true,
		`"\u0001"`:         false,
		`"u0000"`:          false,
		`"\"\u0000"`:       true,
		`{"a":"\\","b":1}`: false,
	} {
		if got := escapedNUL(s); got != want {
			t.Errorf("escapedNUL(%s) = %v, want %v", s, got, want)
		}
	}
}
