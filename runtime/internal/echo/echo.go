// Package echo shortens values a client sent before an error message
// repeats them, so that an error never carries a whole request back.
package echo

import "unicode/utf8"

// Max is how many bytes of a value Clip keeps.
const Max = 64

// Clip returns s, or its first Max bytes (cut at a character boundary)
// followed by "..." when it is longer.
func Clip(s string) string {
	if len(s) <= Max {
		return s
	}
	n := Max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
