package storetest

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
	relations "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/relations/want"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Schemas are registries of several shapes, by name: the example app's,
// and each of ssyncgen's golden cases (attachments, features with embedded
// structs and references, every kind, several packages, the plain notes,
// references with ondelete rules and a self-reference).
func Schemas() map[string]*ssync.Registry {
	return map[string]*ssync.Registry{
		"example":     generated.Registry(),
		"attachments": attachments.Registry(),
		"features":    features.Registry(),
		"kinds":       kinds.Registry(),
		"multi":       multi.Registry(),
		"notes":       notes.Registry(),
		"relations":   relations.Registry(),
	}
}

// CheckDDL compares, statement by statement, the DDL built for each key
// (a table, or dialect/table) with a txtar fixture of one file per key,
// each statement ending with ";\n": files the build lacks and keys the
// fixture lacks are reported too.
func CheckDDL(t *testing.T, fixture string, got map[string][]string) {
	t.Helper()
	a, err := txtar.ParseFile(filepath.Clean(fixture))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, f := range a.Files {
		want[f.Name] = strings.Split(strings.TrimSuffix(string(f.Data), ";\n"), ";\n")
	}
	for key, g := range got {
		w, ok := want[key]
		if !ok {
			t.Errorf("%s has no DDL of %s", fixture, key)
			continue
		}
		delete(want, key)
		for i := range max(len(g), len(w)) {
			switch {
			case i >= len(g):
				t.Errorf("%s: statement %d missing, want\n%s", key, i, w[i])
			case i >= len(w):
				t.Errorf("%s: statement %d is extra:\n%s", key, i, g[i])
			case g[i] != w[i]:
				t.Errorf("%s: statement %d is\n%s\nwant\n%s", key, i, g[i], w[i])
			}
		}
	}
	for key := range want {
		t.Errorf("%s has DDL of %s, which nothing built", fixture, key)
	}
}
