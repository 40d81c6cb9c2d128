package loader

import (
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"strconv"
	"testing"

	"github.com/ssync-go/ssync/templates"
)

// tagLoader is a loader with just what the tag parsers need.
func tagLoader() *loader {
	return &loader{fset: token.NewFileSet(), fields: map[token.Pos]*ast.Field{}}
}

func diagMessages(l *loader) []string {
	var out []string
	for _, d := range l.diags {
		out = append(out, d.Msg)
	}
	return out
}

// parseTable runs the table-tag parser on tag as it would run on a model.
func parseTable(tag string) (*templates.Table, bool, []string) {
	l := tagLoader()
	f := &ast.Field{Tag: &ast.BasicLit{Kind: token.STRING, Value: strconv.Quote(`ssync:"` + tag + `"`)}}
	t := &templates.Table{GoName: "Model"}
	ok := l.parseTableTag(f, tag, t)
	return t, ok, diagMessages(l)
}

// FuzzTableTag: the table tag parser never panics, reports a problem
// exactly when it refuses a tag, gives the same answer twice, and what it
// accepts is a valid table name and order that parse again to the same.
func FuzzTableTag(f *testing.F) {
	for _, s := range []string{"table=ss_tb_note,order=2", " table = x , order = 3 ", "table=,order=1", "order=x",
		"table=a,table=b,order=1", "", " ", ",", "table=1abc,order=1", "table=x,order=-1", "colour=red",
		"table=x,order=1,index", "table=ünï,order=1", "order=99999999999999999999", "table=x=y,order=1", "table=x,order=+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		tbl, ok, diags := parseTable(tag)
		if ok != (len(diags) == 0) {
			t.Fatalf("tag %q: ok=%v with diagnostics %q", tag, ok, diags)
		}
		for _, d := range diags {
			if d == "" {
				t.Fatalf("tag %q: empty diagnostic", tag)
			}
		}
		tbl2, ok2, diags2 := parseTable(tag)
		if ok2 != ok || !reflect.DeepEqual(diags, diags2) || tbl2.Collection != tbl.Collection || tbl2.Order != tbl.Order {
			t.Fatalf("tag %q parsed twice gave different answers", tag)
		}
		if !ok {
			return
		}
		if !validName(tbl.Collection) || tbl.Order < 0 || !isTableTag(tag) {
			t.Fatalf("tag %q accepted as table %q order %d", tag, tbl.Collection, tbl.Order)
		}
		canonical := "table=" + tbl.Collection + ",order=" + strconv.Itoa(tbl.Order)
		again, ok3, diags3 := parseTable(canonical)
		if !ok3 || again.Collection != tbl.Collection || again.Order != tbl.Order {
			t.Fatalf("tag %q accepted, but its canonical form %q is not the same (%q)", tag, canonical, diags3)
		}
	})
}

// FuzzFieldTag: the field tag parser (and the lookup of the ssync key in a
// raw struct tag) never panics, reports a problem exactly when it refuses a
// tag, gives the same answer twice, and accepts only valid names.
func FuzzFieldTag(f *testing.F) {
	for _, s := range []string{`json:"message"`, `json:"userId" ssync:"ref=ss_tb_user"`, `ssync:"index"`, `ssync:"-"`,
		`ssync:"name=msg,server=message_text"`, `ssync:""`, `ssync:" "`, `ssync:"name="`, `ssync:"index=1"`,
		`ssync:"name=a,name=b"`, `ssync:"-,index"`, `ssync:"table=x,order=1"`, `ssync:"colour"`, `ssync:"ref=1x"`,
		`ssync:"name=a b"`, `ssync:"name`, "ssync:\"na\\\"me\"", `ssync:"ref=tk_task,ondelete=setnull"`,
		`ssync:"ondelete=restrict"`, `ssync:"ref=x,ondelete=drop"`, `ssync:"ref=x,ondelete="`, `ssync:"ref=x,ondelete"`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, embedded bool) {
		parse := func() (fieldTag, bool, []string) {
			l := tagLoader()
			v := types.NewVar(token.NoPos, nil, "Field", types.Typ[types.String])
			ft, good := l.parseFieldTag(v, raw, "field Field", embedded)
			return ft, good, diagMessages(l)
		}
		ft, good, diags := parse()
		if good != (len(diags) == 0) {
			t.Fatalf("tag %q: good=%v with diagnostics %q", raw, good, diags)
		}
		ft2, good2, diags2 := parse()
		if ft2 != ft || good2 != good || !reflect.DeepEqual(diags, diags2) {
			t.Fatalf("tag %q parsed twice gave different answers", raw)
		}
		tag, present := reflect.StructTag(raw).Lookup("ssync")
		if ft.skip && tag != "-" {
			t.Fatalf("tag %q skips the field", raw)
		}
		if good && !ft.skip {
			for _, name := range []string{ft.name, ft.server, ft.ref} {
				if name != "" && !validName(name) {
					t.Fatalf("tag %q accepted the name %q", raw, name)
				}
			}
		}
		if (!present || tag == "") && (ft != fieldTag{}) {
			t.Fatalf("tag %q has no ssync key, yet parsed to %+v", raw, ft)
		}
		got := ssyncTag(&ast.Field{Tag: &ast.BasicLit{Kind: token.STRING, Value: strconv.Quote(raw)}})
		switch {
		case !present && got != "":
			t.Fatalf("tag %q has no ssync key, yet ssyncTag returned %q", raw, got)
		case present && tag == "" && got != " ":
			t.Fatalf("tag %q has an empty ssync key, ssyncTag returned %q", raw, got)
		case present && tag != "" && got != tag:
			t.Fatalf("tag %q: ssyncTag returned %q, want %q", raw, got, tag)
		}
	})
}
