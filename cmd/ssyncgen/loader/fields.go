package loader

import (
	"go/types"
	"reflect"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/templates"
)

// fieldSet collects the synchronized fields of one model, embedded structs
// flattened, and the names they take.
type fieldSet struct {
	table   *table
	columns map[string]bool
	servers map[string]bool
	wires   map[string]bool
	failed  bool // a field had an error
}

// fieldTag is a parsed `ssync:"..."` tag of a field.
type fieldTag struct {
	skip   bool
	name   string
	server string
	ref    string
	// onDelete is the rule of `ondelete=`; empty when the tag has none.
	onDelete ssync.OnDelete
	index    bool
	// attachment marks a *ssync.Attachment or ssync.Attachment field whose
	// content syncs as a blob.
	attachment bool
}

const fieldKeys = "name, server, ref, ondelete, index, attachment, -"

// parseFieldTag reads the ssync tag of field v (named desc in messages). On
// an embedded struct only "-" is allowed.
func (l *loader) parseFieldTag(v *types.Var, raw, desc string, embedded bool) (fieldTag, bool) {
	var ft fieldTag
	tag, ok := reflect.StructTag(raw).Lookup("ssync")
	if !ok {
		return ft, true
	}
	pos := l.tagPos(v)
	if strings.TrimSpace(tag) == "" {
		l.errorf(pos, "empty ssync tag on %s (remove it, or write `ssync:\"-\"` to skip the field)", desc)
		return ft, false
	}
	if tag == "-" {
		ft.skip = true
		return ft, true
	}
	good := true
	seen := map[string]bool{}
	for _, part := range strings.Split(tag, ",") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(part), "=")
		if key != "" && seen[key] {
			l.errorf(pos, "key %q appears twice in the ssync tag of %s (keep one)", key, desc)
			good = false
			continue
		}
		seen[key] = true
		if embedded && key != "-" && key != "table" && key != "order" && key != "" {
			l.errorf(pos, "key %q in the ssync tag of embedded %s: its fields carry their own tags (only `ssync:\"-\"` goes on an embedded struct)", key, desc)
			good = false
			continue
		}
		switch key {
		case "name", "server", "ref":
			if !hasVal || val == "" {
				l.errorf(pos, "%s= of %s has no value (write %s=<%s>)", key, desc, key, map[string]string{"name": "column", "server": "server column", "ref": "table"}[key])
				good = false
				continue
			}
			if !validName(val) {
				l.errorf(pos, "%s=%s of %s must be letters, digits and underscores, starting with a letter", key, val, desc)
				good = false
				continue
			}
			switch key {
			case "name":
				ft.name = val
			case "server":
				ft.server = val
			case "ref":
				ft.ref = val
			}
		case "ondelete":
			rule, known := templates.OnDeleteRule(val)
			switch {
			case !hasVal || val == "":
				l.errorf(pos, "ondelete= of %s has no value (write ondelete=%s after ref=)", desc, templates.OnDeleteRules())
				good = false
			case !known:
				l.errorf(pos, "ondelete=%s of %s is not a rule (write ondelete=%s; cascade is the default)", val, desc, templates.OnDeleteRules())
				good = false
			default:
				ft.onDelete = rule
			}
		case "index":
			if hasVal {
				l.errorf(pos, "index of %s takes no value (write just index)", desc)
				good = false
				continue
			}
			ft.index = true
		case "attachment":
			ft.attachment = true
			if hasVal {
				l.errorf(pos, "attachment of %s takes no value (write just attachment)", desc)
				good = false
				continue
			}
		case "-":
			l.errorf(pos, "\"-\" in the ssync tag of %s must stand alone (write `ssync:\"-\"` to skip the field)", desc)
			good = false
		case "table", "order":
			// Reported once, by loadStruct.
		case "":
			l.errorf(pos, "empty key in the ssync tag of %s (remove the extra comma)", desc)
			good = false
		default:
			l.errorf(pos, "unknown key %q in the ssync tag of %s (known: %s)", key, desc, fieldKeys)
			good = false
		}
	}
	if seen["ondelete"] && !seen["ref"] && !embedded {
		l.errorf(pos, "ondelete= of %s says what deleting the referenced row does, but the field references no table (add ref=<table>, or remove ondelete=)", desc)
		good = false
	}
	return ft, good
}

// addFields adds the fields of st, reached through path from the model, to
// fs; embedded structs are flattened.
func (l *loader) addFields(fs *fieldSet, st *types.Struct, path []string) {
	t := fs.table.Table
	for i := range st.NumFields() {
		v := st.Field(i)
		if len(path) == 0 && v.Embedded() && isRecord(v.Type()) {
			continue // the record itself
		}
		fieldPath := append(append([]string(nil), path...), v.Name())
		desc := "field " + t.GoName + "." + strings.Join(fieldPath, ".")
		tag, ok := l.parseFieldTag(v, st.Tag(i), desc, v.Embedded() && isStructEmbed(v.Type()))
		if !ok {
			fs.failed = true
		}
		if tag.skip {
			continue
		}
		if rc, hides := templates.RecordField(v.Name()); hides {
			if rc.Column == ssync.ColumnID {
				l.errorf(v.Pos(), "%s hides the id that ssync.Record provides (a row's id is always Record.ID, a %s: remove the field or rename it)", desc, rc.Type)
			} else {
				l.errorf(v.Pos(), "%s hides ssync.Record's %s (%s) (rename the field)", desc, v.Name(), rc.Type)
			}
			fs.failed = true
			continue
		}
		if v.Embedded() {
			if isRecord(v.Type()) || isRecord(derefType(v.Type())) {
				l.errorf(l.typePos(v), "%s embeds ssync.Record a second time (embed it once, in the model itself)", desc)
				fs.failed = true
				continue
			}
			if ptr, isPtr := types.Unalias(v.Type()).(*types.Pointer); isPtr && !isLeaf(v.Type()) {
				if _, isStruct := ptr.Elem().Underlying().(*types.Struct); isStruct {
					l.errorf(l.typePos(v), "embedded pointer %s in model %s is not supported; a nil pointer has no columns (embed %s by value, or tag it `ssync:\"-\"`)",
						typeString(v.Type(), fs.table.pkg), t.GoName,
						typeString(ptr.Elem(), fs.table.pkg))
					fs.failed = true
					continue
				}
			}
			if inner, isStruct := types.Unalias(v.Type()).Underlying().(*types.Struct); isStruct && !isLeaf(v.Type()) {
				if !v.Exported() {
					l.errorf(l.typePos(v), "embedded %s of model %s is unexported; generated code cannot reach its fields (export the type, or tag it `ssync:\"-\"`)",
						v.Name(), t.GoName)
					fs.failed = true
					continue
				}
				e := &templates.EmbeddedStruct{Type: v.Type(), Path: fieldPath, Struct: structFields(inner)}
				t.Embedded = append(t.Embedded, e)
				before := len(t.Fields)
				l.addFields(fs, inner, fieldPath)
				for _, f := range t.Fields[before:] {
					if len(f.Path) == len(fieldPath)+1 {
						e.Fields = append(e.Fields, f)
					}
				}
				continue
			}
		}
		if !v.Exported() {
			l.errorf(v.Pos(), "%s is unexported; generated code cannot read it (export it or tag it `ssync:\"-\"`)", desc)
			fs.failed = true
			continue
		}
		fld, ok := l.newField(fs, v, fieldPath, desc, st.Tag(i), tag)
		if !ok {
			fs.failed = true
			continue
		}
		t.Fields = append(t.Fields, fld)
	}
}

// isStructEmbed reports whether an embedded field of type t is a struct to
// flatten (or a pointer to one, which is an error).
func isStructEmbed(t types.Type) bool {
	if isLeaf(t) {
		return false
	}
	_, ok := derefType(t).Underlying().(*types.Struct)
	return ok
}

func derefType(t types.Type) types.Type {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		return types.Unalias(p.Elem())
	}
	return t
}

// isLeaf reports whether t, a struct type, is one value rather than fields
// to flatten: time.Time, the sql.Null types, a JSON type.
func isLeaf(t types.Type) bool {
	_, ok := classify(t)
	return ok
}

// newField builds the field for v.
func (l *loader) newField(fs *fieldSet, v *types.Var, path []string, desc, rawTag string, tag fieldTag) (*templates.Field, bool) {
	t := fs.table.Table
	name := v.Name()
	fld := &templates.Field{
		GoName: name,
		Path:   path,
		Column: templates.SnakeCase(name),
		Wire:   templates.LowerCamel(name),
		Type:   v.Type(),
		Pos:    l.position(l.tagPos(v)),
	}
	if js, ok := reflect.StructTag(rawTag).Lookup("json"); ok {
		if jn, _, _ := strings.Cut(js, ","); jn != "" && jn != "-" {
			fld.Wire = jn
		}
	}
	if tag.attachment && !isAttachment(v.Type()) {
		l.errorf(l.tagPos(v), "%s is tagged attachment but has type %s (an attachment field holds a *ssync.Attachment, or an ssync.Attachment whose zero value means none; use one field per attachment)",
			desc, typeString(v.Type(), fs.table.pkg))
		return nil, false
	}
	ft, ok := classify(v.Type())
	if !ok && isPtrToSQLNull(v.Type()) {
		l.errorf(l.typePos(v), "%s has unsupported type %s: a sql.Null type is nullable already (drop the pointer)",
			desc, typeString(v.Type(), fs.table.pkg))
		return nil, false
	}
	if !ok {
		if missing := missingMethods(v.Type()); missing != "" {
			l.errorf(l.typePos(v), "%s has unsupported type %s%s (add the missing methods to store it as JSON text, or tag it `ssync:\"-\"`)",
				desc, typeString(v.Type(), fs.table.pkg), missing)
			return nil, false
		}
		l.errorf(l.typePos(v), "%s has unsupported type %s (use a string, bool, number, time.Time, []byte or uuid.UUID, a named type over one, "+
			"a pointer or sql.Null type for NULL, a type with Scan, Value, MarshalJSON and UnmarshalJSON, or an embedded struct; or tag it `ssync:\"-\"`)",
			desc, typeString(v.Type(), fs.table.pkg))
		return nil, false
	}
	fld.Kind, fld.Repr, fld.Named, fld.NullValue, fld.ValuerOnPointer = ft.kind, ft.repr, ft.named, ft.nullValue, ft.valuerOnPointer
	pos := l.tagPos(v)
	good := true
	if tag.name != "" {
		fld.Column = tag.name
	}
	if tag.server != "" && tag.server != fld.Column {
		fld.Server = tag.server
	}
	if templates.ReservedColumn(fld.Column) {
		l.errorf(pos, "column %q of %s is reserved for sync metadata (rename it with `ssync:\"name=...\"`)", fld.Column, desc)
		good = false
	}
	if s := fld.Server; s != "" && templates.ReservedColumn(s) {
		l.errorf(pos, "server column %q of %s is reserved for sync metadata (choose another server=)", s, desc)
		good = false
	}
	if templates.ReservedWire(fld.Wire) {
		l.errorf(pos, "wire name %q of %s is reserved for sync metadata (change its json tag)", fld.Wire, desc)
		good = false
	}
	if tag.ref != "" {
		if fld.Kind != templates.KindUUID || fld.Named != nil || fld.Repr == templates.ReprSQLNull {
			l.errorf(pos, "%s references %s but has type %s (a foreign key holds the parent's id: make it uuid.UUID or *uuid.UUID)",
				desc, tag.ref, typeString(v.Type(), fs.table.pkg))
			good = false
		} else {
			fld.Ref = tag.ref
			fld.Index = true // foreign keys are looked up: always indexed
			fld.OnDelete = tag.onDelete
			if tag.onDelete == ssync.OnDeleteSetNull && !fld.Nullable() {
				l.errorf(pos, "%s has ondelete=setnull, but its type %s cannot hold NULL (make it *uuid.UUID, or choose ondelete=cascade or restrict)",
					desc, typeString(v.Type(), fs.table.pkg))
				good = false
			}
			fs.table.refs = append(fs.table.refs, ref{field: fld, pos: pos})
		}
	}
	if isAttachment(v.Type()) && !tag.attachment {
		l.errorf(pos, "%s has type %s but no attachment tag, so its content would not sync (tag it `ssync:\"attachment\"`)",
			desc, typeString(v.Type(), fs.table.pkg))
		good = false
	}
	fld.Attachment = tag.attachment
	if tag.index {
		if !fld.Kind.Indexable() {
			l.errorf(pos, "%s cannot be indexed: its type %s is not comparable in SQL (remove index)",
				desc, typeString(v.Type(), fs.table.pkg))
			good = false
		}
		fld.Index = true
	}
	if !good {
		return nil, false
	}
	if fs.columns[fld.Column] {
		l.errorf(v.Pos(), "column %q of %s is used by two fields (rename one with `ssync:\"name=...\"`)", fld.Column, t.GoName)
		good = false
	}
	if server := fld.ServerName(); fs.servers[server] && !fs.columns[fld.Column] {
		l.errorf(v.Pos(), "server column %q of %s is used by two fields (rename one with `ssync:\"server=...\"`)", server, t.GoName)
		good = false
	}
	if fs.wires[fld.Wire] {
		l.errorf(v.Pos(), "wire name %q of %s is used by two fields (change a json tag)", fld.Wire, t.GoName)
		good = false
	}
	fs.columns[fld.Column], fs.servers[fld.ServerName()], fs.wires[fld.Wire] = true, true, true
	return fld, good
}

// fieldType is how a field's Go type maps to a kind.
type fieldType struct {
	kind            templates.Kind
	repr            templates.Repr
	named           types.Type
	nullValue       string
	valuerOnPointer bool
}

// sqlNulls are database/sql's Null types with their value field and kind.
var sqlNulls = map[string]struct {
	field string
	kind  templates.Kind
}{
	"NullString":  {"String", templates.KindString},
	"NullInt64":   {"Int64", templates.KindInt64},
	"NullInt32":   {"Int32", templates.KindInt32},
	"NullInt16":   {"Int16", templates.KindInt16},
	"NullByte":    {"Byte", templates.KindUint8},
	"NullFloat64": {"Float64", templates.KindFloat64},
	"NullBool":    {"Bool", templates.KindBool},
	"NullTime":    {"Time", templates.KindTime},
}

// classify maps a field type to its kind and representation.
func classify(t types.Type) (fieldType, bool) {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		ft, ok := classifyValue(types.Unalias(p.Elem()))
		if !ok || ft.kind == templates.KindBytes {
			return fieldType{}, false
		}
		ft.repr = templates.ReprPointer
		return ft, true
	}
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "database/sql" {
		if null, ok := sqlNulls[n.Obj().Name()]; ok {
			return fieldType{kind: null.kind, repr: templates.ReprSQLNull, nullValue: null.field}, true
		}
		if n.Obj().Name() == "Null" && n.TypeArgs().Len() == 1 {
			ft, ok := classifyValue(types.Unalias(n.TypeArgs().At(0)))
			if !ok || ft.kind == templates.KindJSON {
				return fieldType{}, false
			}
			ft.repr, ft.nullValue = templates.ReprSQLNull, "V"
			return ft, true
		}
	}
	return classifyValue(t)
}

// classifyValue maps a non-pointer value type to its kind.
func classifyValue(t types.Type) (fieldType, bool) {
	switch tt := t.(type) {
	case *types.Basic:
		k, ok := templates.KindOfBasic(tt.Kind())
		return fieldType{kind: k}, ok
	case *types.Slice:
		if b, ok := tt.Elem().(*types.Basic); ok && b.Kind() == types.Byte {
			return fieldType{kind: templates.KindBytes}, true
		}
	case *types.Named:
		obj := tt.Obj()
		if obj.Pkg() != nil {
			if k, ok := templates.KindOfNamed(obj.Pkg().Path(), obj.Name()); ok {
				return fieldType{kind: k}, true
			}
			if obj.Pkg().Path() == "database/sql" {
				return fieldType{}, false // a Null type under a pointer or in Null[T]
			}
		}
		if ok, onPtr := isJSONType(tt); ok {
			return fieldType{kind: templates.KindJSON, named: tt, valuerOnPointer: onPtr}, true
		}
		// A named type over a supported base type converts to and from it.
		switch u := tt.Underlying().(type) {
		case *types.Basic:
			if k, ok := templates.KindOfBasic(u.Kind()); ok {
				return fieldType{kind: k, named: tt}, true
			}
		case *types.Slice:
			if b, ok := u.Elem().(*types.Basic); ok && b.Kind() == types.Byte {
				return fieldType{kind: templates.KindBytes, named: tt}, true
			}
		}
	}
	return fieldType{}, false
}

// jsonMethods are the methods, with their interfaces, that a type stored as
// JSON text needs.
var jsonMethods = []struct{ name, iface string }{
	{"Scan", "sql.Scanner"},
	{"Value", "driver.Valuer"},
	{"MarshalJSON", "json.Marshaler"},
	{"UnmarshalJSON", "json.Unmarshaler"},
}

// methodOf returns t's method name, looked up on *t (all methods), and
// whether it has a pointer receiver.
func methodOf(t types.Type, name string) (*types.Func, bool) {
	obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(t), false, nil, name)
	fn, ok := obj.(*types.Func)
	if !ok {
		return nil, false
	}
	sig := fn.Signature()
	_, ptr := sig.Recv().Type().(*types.Pointer)
	return fn, ptr
}

// isJSONType reports whether t implements sql.Scanner, driver.Valuer,
// json.Marshaler and json.Unmarshaler (on *t), and whether Value has a
// pointer receiver.
func isJSONType(t types.Type) (ok, valuerOnPointer bool) {
	for _, m := range jsonMethods {
		fn, ptr := methodOf(t, m.name)
		if fn == nil || !jsonSignature(m.name, fn.Signature()) {
			return false, false
		}
		if m.name == "Value" {
			valuerOnPointer = ptr
		}
	}
	return true, valuerOnPointer
}

// jsonSignature checks the shape of one of jsonMethods.
func jsonSignature(name string, sig *types.Signature) bool {
	params, results := sig.Params().Len(), sig.Results().Len()
	switch name {
	case "Scan":
		return params == 1 && results == 1
	case "Value", "MarshalJSON":
		return params == 0 && results == 2
	case "UnmarshalJSON":
		return params == 1 && results == 1
	}
	return false
}

// typeString spells t for messages: unqualified in the model's own package,
// by package name elsewhere (sql.NullString, not database/sql.NullString).
func typeString(t types.Type, p *packages.Package) string {
	return types.TypeString(t, func(other *types.Package) string {
		if other == p.Types {
			return ""
		}
		return other.Name()
	})
}

// isPtrToSQLNull reports whether t is a pointer to a database/sql Null type.
func isPtrToSQLNull(t types.Type) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	if !ok {
		return false
	}
	n, ok := types.Unalias(p.Elem()).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "database/sql" && strings.HasPrefix(n.Obj().Name(), "Null")
}

// missingMethods explains, for a named type with some of jsonMethods, which
// ones it lacks.
func missingMethods(t types.Type) string {
	t = derefType(t)
	n, ok := t.(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() == "database/sql" {
		return ""
	}
	var have, lack []string
	for _, m := range jsonMethods {
		if fn, _ := methodOf(t, m.name); fn != nil && jsonSignature(m.name, fn.Signature()) {
			have = append(have, m.iface)
		} else {
			lack = append(lack, m.iface)
		}
	}
	if len(have) == 0 || len(lack) == 0 {
		return ""
	}
	return ": it implements " + strings.Join(have, ", ") + " but not " + strings.Join(lack, ", ")
}

// isAttachment reports whether t is ssync.Attachment or *ssync.Attachment.
func isAttachment(t types.Type) bool {
	n, ok := derefType(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == ssyncPath && n.Obj().Name() == "Attachment"
}
