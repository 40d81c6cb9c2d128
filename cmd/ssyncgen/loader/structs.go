package loader

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/ssync-go/ssync/templates"
)

type loader struct {
	fset  *token.FileSet
	wd    string
	diags Errors
	// generated holds the files ssyncgen wrote, by absolute name.
	generated map[string]bool
	// staleGenerated is set when a load error lies in a generated file.
	staleGenerated bool
	// fields maps the position of a struct field's name (for an embedded
	// field, of its type name) to its syntax, for the positions of tags
	// and types.
	fields map[token.Pos]*ast.Field
	tables []*table
}

// table is a loaded model with what the checks between tables need.
type table struct {
	*templates.Table
	pkg    *packages.Package
	tagPos token.Pos // the table tag
	// refs are the referencing fields with the positions of their tags.
	refs []ref
}

type ref struct {
	field *templates.Field
	pos   token.Pos
}

func (l *loader) relPos(pos string) string {
	// pos is "file:line:col" or "file:line" or "-".
	if pos == "" || pos == "-" {
		return ""
	}
	if filepath.IsAbs(pos) {
		if rel, err := filepath.Rel(l.wd, pos); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return pos
}

func (l *loader) errorf(pos token.Pos, format string, args ...any) {
	p := l.fset.Position(pos)
	d := Diagnostic{Pos: l.position(pos), Msg: fmt.Sprintf(format, args...)}
	if p.IsValid() {
		d.file, d.line, d.col = p.Filename, p.Line, p.Column
	}
	l.diags = append(l.diags, d)
}

// position returns pos as messages print it: file:line:col, the file
// relative to the working directory when it is below it.
func (l *loader) position(pos token.Pos) string {
	p := l.fset.Position(pos)
	if !p.IsValid() {
		return p.String()
	}
	name := p.Filename
	if rel, err := filepath.Rel(l.wd, name); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	}
	return fmt.Sprintf("%s:%d:%d", name, p.Line, p.Column)
}

// sorted returns the diagnostics in position order.
func (l *loader) sorted() Errors {
	sortDiagnostics(l.diags)
	return l.diags
}

// indexFields records the syntax of every struct field of p.
func (l *loader) indexFields(p *packages.Package) {
	if l.fields == nil {
		l.fields = map[token.Pos]*ast.Field{}
	}
	for _, file := range p.Syntax {
		ast.Inspect(file, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, f := range st.Fields.List {
				if len(f.Names) == 0 {
					if id := embeddedIdent(f.Type); id != nil {
						l.fields[id.Pos()] = f
					}
					continue
				}
				for _, name := range f.Names {
					l.fields[name.Pos()] = f
				}
			}
			return true
		})
	}
}

// embeddedIdent returns the identifier naming an embedded field: T in T,
// *T, pkg.T and T[A].
func embeddedIdent(e ast.Expr) *ast.Ident {
	switch x := e.(type) {
	case *ast.Ident:
		return x
	case *ast.StarExpr:
		return embeddedIdent(x.X)
	case *ast.SelectorExpr:
		return x.Sel
	case *ast.IndexExpr:
		return embeddedIdent(x.X)
	case *ast.IndexListExpr:
		return embeddedIdent(x.X)
	}
	return nil
}

// tagPos is where a field's tag is, or the field itself when it has none.
func (l *loader) tagPos(v *types.Var) token.Pos {
	if f := l.fields[v.Pos()]; f != nil && f.Tag != nil {
		return f.Tag.Pos()
	}
	return v.Pos()
}

// typePos is where a field's type is written.
func (l *loader) typePos(v *types.Var) token.Pos {
	if f := l.fields[v.Pos()]; f != nil {
		return f.Type.Pos()
	}
	return v.Pos()
}

func (l *loader) loadPackage(p *packages.Package) {
	for _, file := range p.Syntax {
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				l.loadStruct(p, ts, st)
			}
		}
	}
}

// isRecord reports whether t is ssync.Record.
func isRecord(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == ssyncPath && n.Obj().Name() == "Record"
}

func (l *loader) loadStruct(p *packages.Package, ts *ast.TypeSpec, st *ast.StructType) {
	obj, _ := p.TypesInfo.Defs[ts.Name].(*types.TypeName)
	if obj == nil {
		return
	}
	strct, ok := obj.Type().Underlying().(*types.Struct)
	if !ok {
		return
	}
	// Find the table tag first: a struct without one is not ours, unless a
	// field carries it, which is then an error.
	var recordField *ast.Field
	var tableTag string
	for _, f := range st.Fields.List {
		tag := ssyncTag(f)
		if !isTableTag(tag) {
			continue
		}
		ft := p.TypesInfo.TypeOf(f.Type)
		if ptr, ok := ft.(*types.Pointer); ok && len(f.Names) == 0 && isRecord(ptr.Elem()) {
			l.errorf(f.Type.Pos(), "model %s embeds *ssync.Record: without the record by value it has no id "+
				"(embed ssync.Record, not a pointer to it)", ts.Name.Name)
			return
		}
		if len(f.Names) != 0 || !isRecord(ft) {
			l.errorf(f.Tag.Pos(), "table= and order= go on the embedded ssync.Record field, not on %s "+
				"(write ssync.Record `ssync:\"table=...,order=...\"` as the struct's first field)", fieldDesc(f))
			continue
		}
		recordField, tableTag = f, tag
	}
	if recordField == nil {
		for _, f := range st.Fields.List {
			if len(f.Names) == 0 && isRecord(p.TypesInfo.TypeOf(f.Type)) {
				l.errorf(f.Pos(), "struct %s embeds ssync.Record without a table tag (add `ssync:\"table=<name>,order=<n>\"`)", ts.Name.Name)
			}
		}
		return
	}
	if !ts.Name.IsExported() {
		l.errorf(ts.Name.Pos(), "model type %s is unexported; generated code in another package cannot use it (export it)", ts.Name.Name)
		return
	}
	if ts.TypeParams != nil && len(ts.TypeParams.List) > 0 {
		l.errorf(ts.Name.Pos(), "model type %s is generic; synchronized models cannot have type parameters (declare a concrete type)", ts.Name.Name)
		return
	}
	t := &templates.Table{
		GoName:      ts.Name.Name,
		ModelPath:   p.PkgPath,
		ModelPkg:    p.Name,
		RecordField: "Record",
	}
	lt := &table{Table: t, pkg: p, tagPos: recordField.Tag.Pos()}
	t.Pos = l.position(lt.tagPos)
	// A bad table tag still lets the fields be checked, so that one run
	// reports every problem.
	tagOK := l.parseTableTag(recordField, tableTag, t)
	t.Struct = structFields(strct)
	fs := &fieldSet{table: lt, columns: map[string]bool{}, servers: map[string]bool{}, wires: map[string]bool{}}
	l.addFields(fs, strct, nil)
	if !tagOK {
		return
	}
	if len(t.Fields) == 0 && !fs.failed {
		l.errorf(lt.tagPos, "model %s has no synchronized fields (add at least one exported field, or remove the table tag)", t.GoName)
		return
	}
	t.DeriveNames()
	l.tables = append(l.tables, lt)
}

// structFields lists the fields of a struct as declared.
func structFields(st *types.Struct) []templates.StructField {
	var out []templates.StructField
	for i := range st.NumFields() {
		v := st.Field(i)
		name := v.Name()
		if v.Embedded() {
			name = ""
		}
		out = append(out, templates.StructField{Name: name, Type: v.Type()})
	}
	return out
}

// isTableTag reports whether an ssync tag has a table= or order= key.
func isTableTag(tag string) bool {
	for _, part := range strings.Split(tag, ",") {
		key, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if key == "table" || key == "order" {
			return true
		}
	}
	return false
}

// fieldDesc names a field in a message: "field Name" or "embedded field T".
func fieldDesc(f *ast.Field) string {
	if len(f.Names) == 0 {
		return "embedded field " + types.ExprString(f.Type)
	}
	return "field " + f.Names[0].Name
}

func ssyncTag(f *ast.Field) string {
	if f.Tag == nil {
		return ""
	}
	raw, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return ""
	}
	tag, ok := reflect.StructTag(raw).Lookup("ssync")
	if !ok {
		return ""
	}
	if tag == "" {
		return " " // present but empty: still ours, and wrong
	}
	return tag
}

// parseTableTag reads `table=<name>,order=<n>` into t.
func (l *loader) parseTableTag(f *ast.Field, tag string, t *templates.Table) bool {
	ok := true
	haveOrder := false
	seen := map[string]bool{}
	for _, part := range strings.Split(tag, ",") {
		part = strings.TrimSpace(part)
		key, val, hasVal := strings.Cut(part, "=")
		if seen[key] && key != "" {
			l.errorf(f.Tag.Pos(), "key %q appears twice in the table tag of %s (keep one)", key, t.GoName)
			ok = false
			continue
		}
		seen[key] = true
		switch key {
		case "table":
			if !hasVal || val == "" {
				l.errorf(f.Tag.Pos(), "empty table name in `ssync:\"%s\"` (write table=<collection name>)", tag)
				ok = false
				continue
			}
			if !validName(val) {
				l.errorf(f.Tag.Pos(), "table name %q must be letters, digits and underscores, starting with a letter", val)
				ok = false
				continue
			}
			t.Collection = val
		case "order":
			n, err := strconv.Atoi(val)
			if !hasVal || err != nil || n < 0 {
				l.errorf(f.Tag.Pos(), "order %q of %s is not a non-negative integer (write order=<n>, parents first)", val, t.GoName)
				ok = false
				continue
			}
			t.Order, haveOrder = n, true
		case "":
			l.errorf(f.Tag.Pos(), "empty key in `ssync:\"%s\"` (remove the extra comma)", strings.TrimSpace(tag))
			ok = false
		default:
			l.errorf(f.Tag.Pos(), "unknown key %q in the table tag of %s (known: table, order)", key, t.GoName)
			ok = false
		}
	}
	if ok && t.Collection == "" {
		l.errorf(f.Tag.Pos(), "missing table=<name> in the table tag of %s (name the table)", t.GoName)
		ok = false
	}
	if ok && !haveOrder {
		l.errorf(f.Tag.Pos(), "missing order=<n> in the table tag of %s (foreign-key order, parents first)", t.GoName)
		ok = false
	}
	return ok
}

func validName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}
