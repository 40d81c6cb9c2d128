// Package loader reads the Go packages named on ssyncgen's command line with
// golang.org/x/tools/go/packages, finds the structs that embed ssync.Record
// with a table tag, checks their tags and field types, and fills the
// templates.Model the emitters read. Every problem is collected with its
// position; nothing stops at the first one.
package loader

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/tools/go/packages"

	"github.com/ssync-go/ssync/templates"
)

// Diagnostic is one problem found while loading, with its position.
type Diagnostic struct {
	// Pos is "path/file.go:line:col", relative to the working directory
	// when possible.
	Pos string
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (d Diagnostic) String() string {
	if d.Pos == "" {
		return "ssyncgen: " + d.Msg
	}
	return d.Pos + ": ssyncgen: " + d.Msg
}

// Errors is the list of problems of one run; it is an error.
type Errors []Diagnostic

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Config says what to load and where the output goes.
type Config struct {
	// Dir is the directory patterns are resolved in; empty means the
	// working directory.
	Dir string
	// Patterns are package patterns, e.g. ".".
	Patterns []string
	// OutDir is the output directory; empty means next to the (single)
	// loaded package.
	OutDir string
	// PkgName is the output package name; empty means the name of the
	// package already in OutDir, or the directory's base name.
	PkgName string
}

// Result is a loaded model and where to write it.
type Result struct {
	// Model is what the emitters read.
	Model *templates.Model
	// OutDir is the absolute output directory.
	OutDir string
}

const (
	ssyncPath = templates.PathSsync
	uuidPath  = templates.PathUUID
)

// Load loads cfg's packages and returns the model, or Errors listing every
// problem found.
func Load(cfg Config) (*Result, error) {
	dir := cfg.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		dir = wd
	}
	if len(cfg.Patterns) == 0 {
		cfg.Patterns = []string{"."}
	}
	fset := token.NewFileSet()
	pcfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
			packages.NeedTypes | packages.NeedTypesInfo | packages.NeedModule,
		Dir:   dir,
		Fset:  fset,
		Tests: false,
	}
	pkgs, err := packages.Load(pcfg, cfg.Patterns...)
	if err != nil {
		return nil, fmt.Errorf("ssyncgen: load %s: %w", strings.Join(cfg.Patterns, " "), err)
	}
	l := &loader{fset: fset, wd: dir}
	for _, p := range pkgs {
		checked := false // the type checker or parser reported errors with positions
		for _, e := range p.Errors {
			checked = checked || e.Kind == packages.TypeError || e.Kind == packages.ParseError
		}
		for _, e := range p.Errors {
			// go list -export compiles the package and reports the
			// compiler's output as one position-less "# path\n..." error;
			// the same errors come again, positioned, from the type checker.
			if checked && e.Kind == packages.ListError && strings.HasPrefix(e.Msg, "# ") {
				continue
			}
			l.diags = append(l.diags, Diagnostic{Pos: l.relPos(e.Pos), Msg: e.Msg})
		}
	}
	if len(pkgs) == 0 {
		return nil, Errors{{Msg: fmt.Sprintf("no packages match %s", strings.Join(cfg.Patterns, " "))}}
	}
	if len(l.diags) > 0 {
		return nil, l.diags
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })
	for _, p := range pkgs {
		l.loadPackage(p)
	}
	l.checkTables()
	if len(l.diags) > 0 {
		return nil, l.diags
	}
	if len(l.tables) == 0 {
		return nil, Errors{{Msg: fmt.Sprintf("no struct in %s embeds ssync.Record with a `ssync:\"table=...,order=...\"` tag", strings.Join(cfg.Patterns, " "))}}
	}
	outDir := cfg.OutDir
	if outDir == "" {
		if len(pkgs) != 1 || len(pkgs[0].GoFiles) == 0 {
			return nil, Errors{{Msg: "several packages loaded: name the output directory with -out"}}
		}
		outDir = filepath.Dir(pkgs[0].GoFiles[0])
	} else if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(dir, outDir)
	}
	outDir = filepath.Clean(outDir)
	pkgPath, pkgName, err := outputPackage(outDir, pkgs, cfg.PkgName)
	if err != nil {
		return nil, Errors{{Msg: err.Error()}}
	}
	sort.SliceStable(l.tables, func(i, j int) bool {
		a, b := l.tables[i], l.tables[j]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Collection < b.Collection
	})
	return &Result{
		Model:  &templates.Model{PkgName: pkgName, PkgPath: pkgPath, Tables: l.tables},
		OutDir: outDir,
	}, nil
}

// outputPackage finds the import path of outDir (from the enclosing go.mod)
// and the package name to use there.
func outputPackage(outDir string, pkgs []*packages.Package, name string) (path, pkgName string, err error) {
	for _, p := range pkgs {
		if len(p.GoFiles) > 0 && filepath.Dir(p.GoFiles[0]) == outDir {
			if name == "" {
				name = p.Name
			}
			return p.PkgPath, name, nil
		}
	}
	if name == "" {
		name = existingPackageName(outDir)
	}
	if name == "" {
		name = strings.ReplaceAll(filepath.Base(outDir), "-", "_")
	}
	if !token.IsIdentifier(name) {
		return "", "", fmt.Errorf("output package name %q is not a Go identifier (set it with -pkg)", name)
	}
	for d := outDir; ; d = filepath.Dir(d) {
		data, rerr := os.ReadFile(filepath.Join(d, "go.mod"))
		if rerr == nil {
			mod := modfile.ModulePath(data)
			if mod == "" {
				return "", "", fmt.Errorf("%s has no module line", filepath.Join(d, "go.mod"))
			}
			rel, _ := filepath.Rel(d, outDir)
			if rel == "." {
				return mod, name, nil
			}
			return mod + "/" + filepath.ToSlash(rel), name, nil
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("output directory %s is not inside a Go module", outDir)
		}
	}
}

// existingPackageName returns the package name of Go files already in dir.
func existingPackageName(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "package" {
				return f[1]
			}
		}
	}
	return ""
}

type loader struct {
	fset   *token.FileSet
	wd     string
	diags  Errors
	tables []*templates.Table
	tagPos []token.Pos // position of each table's tag, parallel to tables
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
	where := p.String()
	if p.IsValid() {
		name := p.Filename
		if rel, err := filepath.Rel(l.wd, name); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
		where = fmt.Sprintf("%s:%d:%d", name, p.Line, p.Column)
	}
	l.diags = append(l.diags, Diagnostic{Pos: where, Msg: fmt.Sprintf(format, args...)})
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
	n, ok := t.(*types.Named)
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
	// field carries an ssync tag, which is then an error.
	var recordField *ast.Field
	var tableTag string
	for _, f := range st.Fields.List {
		tag := ssyncTag(f)
		if !isTableTag(tag) {
			continue
		}
		if len(f.Names) != 0 || !isRecord(p.TypesInfo.TypeOf(f.Type)) {
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
		l.errorf(ts.Name.Pos(), "model type %s is generic; synchronized models cannot have type parameters", ts.Name.Name)
		return
	}
	t := &templates.Table{
		GoName:      ts.Name.Name,
		ModelPath:   p.PkgPath,
		ModelPkg:    p.Name,
		RecordField: "Record",
	}
	// A bad table tag still lets the fields be checked, so that one run
	// reports every problem.
	tagOK := l.parseTableTag(recordField, tableTag, t)
	for i := range strct.NumFields() {
		v := strct.Field(i)
		name := v.Name()
		if v.Embedded() {
			name = ""
		}
		t.Struct = append(t.Struct, templates.StructField{Name: name, Type: v.Type()})
	}
	columns := map[string]bool{}
	wires := map[string]bool{}
	for _, f := range st.Fields.List {
		if f == recordField {
			continue
		}
		if len(f.Names) == 0 {
			l.errorf(f.Pos(), "embedded field %s in model %s is not supported; declare its fields directly or tag it `ssync:\"-\"`",
				types.ExprString(f.Type), t.GoName)
			continue
		}
		for _, name := range f.Names {
			fld, skip := l.parseField(p, f, name, t)
			if skip || fld == nil {
				continue
			}
			if columns[fld.Column] {
				l.errorf(name.Pos(), "column %q of %s is used by two fields (rename one with `ssync:\"name=...\"`)", fld.Column, t.GoName)
			}
			if wires[fld.Wire] {
				l.errorf(name.Pos(), "wire name %q of %s is used by two fields (change a json tag)", fld.Wire, t.GoName)
			}
			columns[fld.Column], wires[fld.Wire] = true, true
			t.Fields = append(t.Fields, fld)
		}
	}
	if !tagOK {
		return
	}
	t.TableFunc = t.GoName + "Table"
	t.RepoType = t.GoName + "Repo"
	t.Accessor = "Sync" + templates.Plural(t.GoName)
	t.Lower = templates.LowerCamel(t.GoName)
	t.FileName = templates.SnakeCase(t.GoName) + ".ssync.go"
	l.tables = append(l.tables, t)
	l.tagPos = append(l.tagPos, recordField.Tag.Pos())
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
	for _, part := range strings.Split(tag, ",") {
		part = strings.TrimSpace(part)
		key, val, hasVal := strings.Cut(part, "=")
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
			l.errorf(f.Tag.Pos(), "empty key in `ssync:\"%s\"`", strings.TrimSpace(tag))
			ok = false
		default:
			l.errorf(f.Tag.Pos(), "unknown key %q in the table tag of %s (known: table, order)", key, t.GoName)
			ok = false
		}
	}
	if ok && t.Collection == "" {
		l.errorf(f.Tag.Pos(), "missing table=<name> in the table tag of %s", t.GoName)
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

// reserved are column names the sync machinery uses.
var reservedColumns = map[string]bool{
	"id": true, "created_at": true, "updated_at": true, "deleted_at": true,
}

var reservedWire = map[string]bool{
	"id": true, "createdAt": true, "updatedAt": true, "deletedAt": true, "syncId": true,
}

// parseField reads one user field; skip is true for `ssync:"-"`.
func (l *loader) parseField(p *packages.Package, f *ast.Field, name *ast.Ident, t *templates.Table) (*templates.Field, bool) {
	fld := &templates.Field{GoName: name.Name, Column: templates.SnakeCase(name.Name), Wire: templates.LowerCamel(name.Name)}
	tagPos := name.Pos()
	if f.Tag != nil {
		tagPos = f.Tag.Pos()
		raw, _ := strconv.Unquote(f.Tag.Value)
		st := reflect.StructTag(raw)
		if tag, ok := st.Lookup("ssync"); ok {
			if tag == "-" {
				return nil, true
			}
			for _, part := range strings.Split(tag, ",") {
				key, val, hasVal := strings.Cut(strings.TrimSpace(part), "=")
				switch key {
				case "name":
					if !hasVal || !validName(val) {
						l.errorf(tagPos, "column name %q of field %s must be letters, digits and underscores", val, name.Name)
						continue
					}
					fld.Column = val
				case "table", "order":
					// Reported once, by loadStruct.
				default:
					l.errorf(tagPos, "unknown key %q in the ssync tag of field %s.%s (known: name, -)", key, t.GoName, name.Name)
				}
			}
		}
		if js, ok := st.Lookup("json"); ok {
			if jn, _, _ := strings.Cut(js, ","); jn != "" && jn != "-" {
				fld.Wire = jn
			}
		}
	}
	if !name.IsExported() {
		l.errorf(name.Pos(), "field %s.%s is unexported; generated code cannot read it (export it or tag it `ssync:\"-\"`)", t.GoName, name.Name)
		return nil, false
	}
	typ := p.TypesInfo.TypeOf(f.Type)
	kind, nullable, ok := classify(typ)
	if !ok {
		l.errorf(f.Type.Pos(), "field %s.%s has unsupported type %s (supported: string, bool, int and uint kinds, float32, float64, time.Time, []byte, uuid.UUID, and pointers to these; or tag it `ssync:\"-\"`)",
			t.GoName, name.Name, types.TypeString(typ, types.RelativeTo(p.Types)))
		return nil, false
	}
	fld.Kind, fld.Nullable = kind, nullable
	if reservedColumns[fld.Column] || strings.HasPrefix(fld.Column, "ss_") {
		l.errorf(tagPos, "column %q of field %s.%s is reserved for sync metadata (rename it with `ssync:\"name=...\"`)", fld.Column, t.GoName, name.Name)
		return nil, false
	}
	if reservedWire[fld.Wire] {
		l.errorf(tagPos, "wire name %q of field %s.%s is reserved for sync metadata (change its json tag)", fld.Wire, t.GoName, name.Name)
		return nil, false
	}
	return fld, false
}

// classify maps a field type to its kind.
func classify(t types.Type) (templates.Kind, bool, bool) {
	nullable := false
	if p, ok := t.(*types.Pointer); ok {
		nullable = true
		t = p.Elem()
	}
	switch tt := t.(type) {
	case *types.Basic:
		k, ok := basicKinds[tt.Kind()]
		return k, nullable, ok
	case *types.Named:
		obj := tt.Obj()
		if obj.Pkg() == nil {
			return 0, false, false
		}
		switch {
		case obj.Pkg().Path() == "time" && obj.Name() == "Time":
			return templates.KindTime, nullable, true
		case obj.Pkg().Path() == uuidPath && obj.Name() == "UUID":
			return templates.KindUUID, nullable, true
		}
	case *types.Slice:
		if b, ok := tt.Elem().(*types.Basic); ok && b.Kind() == types.Byte && !nullable {
			return templates.KindBytes, false, true
		}
	}
	return 0, false, false
}

var basicKinds = map[types.BasicKind]templates.Kind{
	types.String: templates.KindString, types.Bool: templates.KindBool,
	types.Int: templates.KindInt, types.Int8: templates.KindInt8, types.Int16: templates.KindInt16,
	types.Int32: templates.KindInt32, types.Int64: templates.KindInt64,
	types.Uint: templates.KindUint, types.Uint8: templates.KindUint8, types.Uint16: templates.KindUint16,
	types.Uint32: templates.KindUint32, types.Uint64: templates.KindUint64,
	types.Float32: templates.KindFloat32, types.Float64: templates.KindFloat64,
}

// checkTables reports problems between tables: duplicate collection names.
func (l *loader) checkTables() {
	seen := map[string]int{}
	for i, t := range l.tables {
		if j, dup := seen[t.Collection]; dup {
			l.errorf(l.tagPos[i], "table %q of %s is already used by %s (table names must be unique)", t.Collection, t.GoName, l.tables[j].GoName)
			continue
		}
		seen[t.Collection] = i
	}
}
