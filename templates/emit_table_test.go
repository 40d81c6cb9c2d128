package templates

import (
	"bytes"
	"testing"

	"github.com/dave/jennifer/jen"
)

func TestRawString(t *testing.T) {
	for in, want := range map[string]string{
		`a "b"`:  "`a \"b\"`",
		"a\nb":   "`a\nb`",
		"a`b":    "\"a`b\"",
		`quo"te`: "`quo\"te`",
	} {
		var buf bytes.Buffer
		if err := jen.Var().Id("_").Op("=").Add(rawString(in)).Render(&buf); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != "var _ = "+want {
			t.Errorf("rawString(%q) renders %q, want %q", in, got, "var _ = "+want)
		}
	}
}
