package docs_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/wire"
)

// TestErrorCodes checks the Errors table of protocol.md against the codes
// of runtime/wire: every code in the table is a wire.Code answered with a
// status of its row, and every wire.Code is in the table.
func TestErrorCodes(t *testing.T) {
	data, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "\n## Errors\n")
	if !ok {
		t.Fatal("protocol.md has no Errors section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| ([0-9, ]+) \\| (`[a-z_]+`(?:, `[a-z_]+`)*) \\|")
	code := regexp.MustCompile("`([a-z_]+)`")
	documented := map[wire.Code]bool{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		var statuses []int
		for _, s := range strings.Split(m[1], ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				t.Fatalf("status %q in row %q", s, m[0])
			}
			statuses = append(statuses, n)
		}
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			wc := wire.Code(c[1])
			documented[wc] = true
			if !slices.Contains(statuses, wc.Status()) {
				t.Errorf("protocol.md lists %s under %v; wire answers it with %d", wc, statuses, wc.Status())
			}
		}
	}
	if len(documented) == 0 {
		t.Fatal("no codes found in the Errors table")
	}
	for _, c := range wire.Codes() {
		if !documented[c] {
			t.Errorf("wire.Code %q is not in the Errors table of protocol.md", c)
		}
	}
}
