package echo

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	short := strings.Repeat("a", Max)
	if got := Clip(short); got != short {
		t.Errorf("Clip kept %q of a value of %d bytes", got, Max)
	}
	long := strings.Repeat("a", Max+1)
	if got := Clip(long); got != short+"..." {
		t.Errorf("Clip(%d bytes) = %q", Max+1, got)
	}
	// A multi-byte character across the cut is left out whole.
	runes := strings.Repeat("a", Max-1) + "é" + "tail"
	got := Clip(runes)
	if !utf8.ValidString(got) || got != strings.Repeat("a", Max-1)+"..." {
		t.Errorf("Clip cut a character: %q", got)
	}
}
