package client_test

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	attachments "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/attachments/want"
	features "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/want"
	kinds "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/kinds/want"
	multi "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/multi/want"
	notes "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/notes/want"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// TestTableDDLUnchanged checks, statement by statement, that the device
// tables built at run time from the schema description are those ssyncgen
// generated before (testdata/ddl, one file per registry: the example's and
// each golden case's), so that existing device databases open unchanged.
func TestTableDDLUnchanged(t *testing.T) {
	for name, reg := range map[string]*ssync.Registry{
		"example":     generated.Registry(),
		"attachments": attachments.Registry(),
		"features":    features.Registry(),
		"kinds":       kinds.Registry(),
		"multi":       multi.Registry(),
		"notes":       notes.Registry(),
	} {
		t.Run(name, func(t *testing.T) {
			want := readDDL(t, filepath.Join("testdata", "ddl", name+".txtar"))
			for _, c := range reg.Collections() {
				w, ok := want[c.CollectionName()]
				if !ok {
					t.Errorf("no DDL of %s in testdata", c.CollectionName())
					continue
				}
				delete(want, c.CollectionName())
				compareDDL(t, c.CollectionName(), client.TableDDL(c), w)
			}
			for table := range want {
				t.Errorf("testdata has DDL of %s, which the registry lacks", table)
			}
		})
	}
}

// readDDL reads a txtar archive of DDL: per table a file of statements,
// each ending with ";\n".
func readDDL(t *testing.T, path string) map[string][]string {
	t.Helper()
	a, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range a.Files {
		out[f.Name] = strings.Split(strings.TrimSuffix(string(f.Data), ";\n"), ";\n")
	}
	return out
}

func compareDDL(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: statement %d missing, want\n%s", what, i, want[i])
		case i >= len(want):
			t.Errorf("%s: statement %d is extra:\n%s", what, i, got[i])
		case got[i] != want[i]:
			t.Errorf("%s: statement %d is\n%s\nwant\n%s", what, i, got[i], want[i])
		}
	}
}
