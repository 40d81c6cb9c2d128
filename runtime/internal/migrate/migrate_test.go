package migrate

import (
	"errors"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
)

var rules = Rules{Database: "test", Type: sqlddl.SQLiteType, ZeroTime: SQLiteZeroTime}

func want(cols ...ssync.Column) []sqlddl.Table {
	return []sqlddl.Table{{Name: "t", Columns: append([]ssync.Column{{Name: "id", Kind: ssync.KindUUID}}, cols...),
		Indexes: []sqlddl.Index{{Name: "t_x", Columns: []string{"id"}}}}}
}

func have(cols ...Column) Schema {
	return Schema{"t": {Name: "t", Columns: append([]Column{{Name: "id", Type: "TEXT"}}, cols...), Indexes: []string{"t_x"}}}
}

func TestDiffAdds(t *testing.T) {
	p, err := Diff(append(want(
		ssync.Column{Name: "n", Kind: ssync.KindInt, Size: 64},
		ssync.Column{Name: "s", Kind: ssync.KindText, Default: "x"},
		ssync.Column{Name: "at", Kind: ssync.KindTime},
		ssync.Column{Name: "p", Kind: ssync.KindUUID, Nullable: true, Ref: "t"},
	), sqlddl.Table{Name: "new"}), have(Column{Name: "gone", Type: "TEXT", Nullable: true}), rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Tables) != 1 || p.Tables[0].Name != "new" {
		t.Errorf("tables %+v, want new", p.Tables)
	}
	defaults := map[string]any{"n": int64(0), "s": "x", "at": SQLiteZeroTime, "p": nil}
	if len(p.Columns) != len(defaults) {
		t.Fatalf("columns %+v, want %d", p.Columns, len(defaults))
	}
	for _, c := range p.Columns {
		if c.Column.Default != defaults[c.Column.Name] {
			t.Errorf("column %s added with default %#v, want %#v", c.Column.Name, c.Column.Default, defaults[c.Column.Name])
		}
	}
	if g := p.Grown(); len(g) != 1 || g[0] != "t" {
		t.Errorf("Grown = %v, want [t]", g)
	}
}

func TestDiffRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		col   ssync.Column
		have  []Column
		words string
	}{
		{"type", ssync.Column{Name: "n", Kind: ssync.KindText}, []Column{{Name: "n", Type: "INTEGER"}}, "type INTEGER in the database, TEXT in the model"},
		{"made not null", ssync.Column{Name: "n", Kind: ssync.KindText}, []Column{{Name: "n", Type: "TEXT", Nullable: true}}, "nullable in the database, NOT NULL in the model"},
		{"made nullable", ssync.Column{Name: "n", Kind: ssync.KindText, Nullable: true}, []Column{{Name: "n", Type: "TEXT"}}, "NOT NULL in the database, nullable"},
		{"new not null ref", ssync.Column{Name: "p", Kind: ssync.KindUUID, Ref: "t"}, nil, "NOT NULL reference"},
		{"dropped not null", ssync.Column{Name: "n", Kind: ssync.KindText}, []Column{{Name: "n", Type: "TEXT"}, {Name: "old", Type: "TEXT"}}, "no longer in the model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Diff(want(tc.col), have(tc.have...), rules)
			var sce *ssync.SchemaChangeError
			if !errors.As(err, &sce) || !errors.Is(err, ssync.ErrUnsafeSchemaChange) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("Diff: %v, want a SchemaChangeError saying %q", err, tc.words)
			}
			if sce.Table != "t" || sce.Column == "" || !p.Empty() {
				t.Errorf("error names %q.%q with plan %+v", sce.Table, sce.Column, p)
			}
		})
	}
}
