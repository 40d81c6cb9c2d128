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
		{"new not null ref", ssync.Column{Name: "p", Kind: ssync.KindUUID, Ref: "t"}, nil, "NOT NULL reference"},
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

// TestDiffRelaxes: a field made nullable, and a dropped field whose column
// is NOT NULL without a default, are planned as columns to make nullable;
// a dropped column with a default or already nullable is left alone.
func TestDiffRelaxes(t *testing.T) {
	p, err := Diff(want(ssync.Column{Name: "n", Kind: ssync.KindText, Nullable: true}),
		have(Column{Name: "n", Type: "TEXT"}, Column{Name: "old", Type: "TEXT"},
			Column{Name: "kept", Type: "TEXT", HasDefault: true}, Column{Name: "loose", Type: "TEXT", Nullable: true}), rules)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.RelaxedIn("t"); len(got) != 2 || got[0] != "n" || got[1] != "old" || p.Empty() || len(p.Grown()) != 0 {
		t.Fatalf("relaxed %v (plan %+v), want n and old", got, p)
	}
}

func TestRelaxColumn(t *testing.T) {
	for _, tc := range []struct{ name, create, column, want, def string }{
		{"sqlite", "CREATE TABLE IF NOT EXISTS `t` (\n\t`id` TEXT NOT NULL PRIMARY KEY,\n\t`n` INTEGER NOT NULL,\n\t`s` TEXT NOT NULL DEFAULT 'NOT NULL, really'\n)", "n",
			"CREATE TABLE IF NOT EXISTS `t` (\n\t`id` TEXT NOT NULL PRIMARY KEY,\n\t`n` INTEGER,\n\t`s` TEXT NOT NULL DEFAULT 'NOT NULL, really'\n)", "`n` INTEGER"},
		{"default kept", "CREATE TABLE `t` (`id` TEXT, `s` TEXT NOT NULL DEFAULT 'NOT NULL, really')", "s",
			"CREATE TABLE `t` (`id` TEXT, `s` TEXT DEFAULT 'NOT NULL, really')", "`s` TEXT DEFAULT 'NOT NULL, really'"},
		{"added by alter", `CREATE TABLE "t" ("id" TEXT, x REAL CHECK (x IS NOT NULL), ` + "`a b` INTEGER NOT NULL DEFAULT 0, [c] BLOB not  null) STRICT", "a b",
			`CREATE TABLE "t" ("id" TEXT, x REAL CHECK (x IS NOT NULL), ` + "`a b` INTEGER DEFAULT 0, [c] BLOB not  null) STRICT", "`a b` INTEGER DEFAULT 0"},
		{"last, any case", `CREATE TABLE "t" ("id" TEXT, [c] BLOB not  null) STRICT`, "C",
			`CREATE TABLE "t" ("id" TEXT, [c] BLOB) STRICT`, "[c] BLOB"},
		{"mysql", "CREATE TABLE `ev_task` (\n  `id` char(36) NOT NULL,\n  `points` bigint(20) NOT NULL DEFAULT 0 COMMENT 'not null',\n  PRIMARY KEY (`id`),\n  KEY `ev_task_points` (`points`)\n) ENGINE=InnoDB", "points",
			"CREATE TABLE `ev_task` (\n  `id` char(36) NOT NULL,\n  `points` bigint(20) DEFAULT 0 COMMENT 'not null',\n  PRIMARY KEY (`id`),\n  KEY `ev_task_points` (`points`)\n) ENGINE=InnoDB", "`points` bigint(20) DEFAULT 0 COMMENT 'not null'"},
	} {
		got, def, err := RelaxColumn(tc.create, tc.column)
		if err != nil || got != tc.want || def != tc.def {
			t.Errorf("%s: RelaxColumn = %q, %q, %v;\nwant %q, %q", tc.name, got, def, err, tc.want, tc.def)
		}
	}
	for _, tc := range []struct{ create, column string }{
		{"CREATE TABLE t (id TEXT, n INTEGER)", "n"},
		{"CREATE TABLE t (id TEXT, n INTEGER NOT NULL)", "m"},
		{"CREATE TABLE t (id TEXT, `nn` INTEGER NOT NULL, n TEXT CHECK (n IS NOT NULL))", "n"},
		{"CREATE TABLE t", "n"},
	} {
		if got, _, err := RelaxColumn(tc.create, tc.column); err == nil {
			t.Errorf("RelaxColumn(%q, %q) = %q, want an error", tc.create, tc.column, got)
		}
	}
}

// TestDiffRecordedKind: a column whose database type matches the model
// but whose recorded kind does not is refused; Changes lists what to
// record.
func TestDiffRecordedKind(t *testing.T) {
	col := ssync.Column{Name: "n", Kind: ssync.KindJSON}
	r := rules
	r.Recorded = Recorded{"t": {"n": {Kind: "text"}}}
	_, err := Diff(want(col), have(Column{Name: "n", Type: "TEXT"}), r)
	var sce *ssync.SchemaChangeError
	if !errors.As(err, &sce) || sce.Column != "n" || !strings.Contains(err.Error(), "kind text recorded in the database, json in the model") {
		t.Fatalf("Diff: %v, want the recorded kind refused", err)
	}
	r.Recorded["t"]["n"] = Kind{Kind: "json"}
	if _, err := Diff(want(col), have(Column{Name: "n", Type: "TEXT"}), r); err != nil {
		t.Fatalf("Diff with the kind recorded as it is: %v", err)
	}
	if ch := r.Recorded.Changes(want(col)); len(ch) != 1 || ch[0].Column.Name != "id" {
		t.Fatalf("Changes = %+v, want id alone (n is recorded as it is)", ch)
	}
	if got := (Kind{Kind: "int", Size: 64}).String(); got != "int(64)" {
		t.Fatalf("Kind.String = %q", got)
	}
}

// TestDiffKeys: with Rules.ForeignKeys, a reference column of an existing
// table that lacks its key gets it; one that has it, a new column (added
// with its key) and a new table (created with its keys) do not.
func TestDiffKeys(t *testing.T) {
	ref := func(name string) ssync.Column {
		return ssync.Column{Name: name, Kind: ssync.KindUUID, Nullable: true, Ref: "t"}
	}
	h := have(Column{Name: "p", Type: "TEXT", Nullable: true}, Column{Name: "q", Type: "TEXT", Nullable: true})
	h["t"].ForeignKeys = []ForeignKey{{Column: "q", Ref: "t"}, {Column: "p", Ref: "other"}}
	r := rules
	r.ForeignKeys = true
	p, err := Diff(append(want(ref("p"), ref("q"), ref("new")), sqlddl.Table{Name: "u", Columns: []ssync.Column{ref("p")}}), h, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 1 || p.Keys[0].Table != "t" || p.Keys[0].Column.Name != "p" {
		t.Fatalf("keys %+v, want t.p only", p.Keys)
	}
	if p, err = Diff(want(ref("p"), ref("q")), h, rules); err != nil || len(p.Keys) != 0 {
		t.Fatalf("without Rules.ForeignKeys: keys %+v (%v), want none", p.Keys, err)
	}
}
