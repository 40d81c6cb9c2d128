package store_test

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
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	smysql "github.com/ssync-go/ssync/runtime/store/mysql"
	"github.com/ssync-go/ssync/runtime/store/postgres"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// TestDDLUnchanged checks, statement by statement, that the tables every
// dialect builds at run time from the schema description are those ssyncgen
// generated before (testdata/ddl, one file per registry: the example's and
// each golden case's), so that existing stores open unchanged.
func TestDDLUnchanged(t *testing.T) {
	dialects := []store.Dialect{ssqlite.Dialect(), postgres.Dialect(), smysql.Dialect()}
	for name, reg := range map[string]*ssync.Registry{
		"example":     generated.Registry(),
		"attachments": attachments.Registry(),
		"features":    features.Registry(),
		"kinds":       kinds.Registry(),
		"multi":       multi.Registry(),
		"notes":       notes.Registry(),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := txtar.ParseFile(filepath.Join("testdata", "ddl", name+".txtar"))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{}
			for _, f := range a.Files {
				want[f.Name] = strings.Split(strings.TrimSuffix(string(f.Data), ";\n"), ";\n")
			}
			for _, d := range dialects {
				for _, c := range reg.Collections() {
					key := d.Name + "/" + c.CollectionName()
					w, ok := want[key]
					if !ok {
						t.Errorf("no DDL of %s in testdata", key)
						continue
					}
					delete(want, key)
					got := d.DDL(c)
					for i := range max(len(got), len(w)) {
						switch {
						case i >= len(got):
							t.Errorf("%s: statement %d missing, want\n%s", key, i, w[i])
						case i >= len(w):
							t.Errorf("%s: statement %d is extra:\n%s", key, i, got[i])
						case got[i] != w[i]:
							t.Errorf("%s: statement %d is\n%s\nwant\n%s", key, i, got[i], w[i])
						}
					}
				}
			}
			for key := range want {
				t.Errorf("testdata has DDL of %s, which no dialect and table built", key)
			}
		})
	}
}
