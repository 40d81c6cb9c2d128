package templates

import (
	"encoding/json"
	"go/token"
	"go/types"
	"strings"

	"github.com/dave/jennifer/jen"
)

// emitTable writes everything generated for one model: the descriptor, the
// repository with its query helpers, the row binders, the wire codec and the
// drift guards.
func emitTable(f *jen.File, m *Model, t *Table) {
	emitDescriptor(f, t)
	f.Line()
	emitRepo(f, t)
	emitAttachments(f, t)
	f.Line()
	emitBinders(f, t)
	f.Line()
	emitEncoder(f, t)
	f.Line()
	emitDecoder(f, t)
	f.Line()
	emitDriftGuards(f, t)
}

func modelType(t *Table) *jen.Statement { return jen.Qual(t.ModelPath, t.GoName) }

// emitDescriptor writes the table descriptor: the columns and indexes as the
// runtimes need them to build each database's DDL (storage kind and size,
// nullability, index, reference), and the binder and codec functions.
func emitDescriptor(f *jen.File, t *Table) {
	tableType := jen.Qual(PathSsync, "Table").Types(modelType(t))
	var cols []jen.Code
	for _, fld := range t.Fields {
		c := fld.Describe()
		vals := []jen.Code{
			jen.Id("Name").Op(":").Lit(c.Name),
			jen.Id("Wire").Op(":").Lit(c.Wire),
		}
		if c.Server != "" {
			vals = append(vals, jen.Id("Server").Op(":").Lit(c.Server))
		}
		vals = append(vals, jen.Id("Kind").Op(":").Qual(PathSsync, storageConst(c.Kind)))
		if c.Size != 0 {
			vals = append(vals, jen.Id("Size").Op(":").Lit(c.Size))
		}
		if c.Nullable {
			vals = append(vals, jen.Id("Nullable").Op(":").True())
		}
		if c.Indexed {
			vals = append(vals, jen.Id("Indexed").Op(":").True())
		}
		if c.Ref != "" {
			vals = append(vals, jen.Id("Ref").Op(":").Lit(c.Ref))
		}
		if fld.OnDeleteConst != "" {
			vals = append(vals, jen.Id("OnDelete").Op(":").Qual(PathSsync, fld.OnDeleteConst))
		}
		if c.Attachment {
			vals = append(vals, jen.Id("Attachment").Op(":").True())
		}
		cols = append(cols, jen.Line().Values(vals...))
	}
	var indexes []jen.Code
	for _, ix := range t.Indexes {
		d := ix.Describe()
		var cols []jen.Code
		for _, c := range d.Columns {
			cols = append(cols, jen.Lit(c))
		}
		indexes = append(indexes, jen.Line().Values(
			jen.Id("Name").Op(":").Lit(d.Name),
			jen.Id("Columns").Op(":").Index().String().Values(cols...),
		))
	}
	indexField := jen.Null()
	if len(indexes) > 0 {
		indexField = jen.Line().Id("Indexes").Op(":").Index().Qual(PathSsync, "Index").Values(append(indexes, jen.Line())...)
	}
	f.Commentf("%s returns the descriptor of the %s collection, which holds %s rows.", t.TableFunc, t.Collection, qualName(t))
	f.Func().Id(t.TableFunc).Params().Op("*").Add(tableType.Clone()).Block(
		jen.Return(jen.Op("&").Add(tableType.Clone()).Values(
			jen.Line().Id("Name").Op(":").Lit(t.Collection),
			jen.Line().Id("Order").Op(":").Lit(t.Order),
			jen.Line().Id("Columns").Op(":").Index().Qual(PathSsync, "Column").Values(append(cols, jen.Line())...),
			indexField,
			jen.Line().Id("Record").Op(":").Id(t.RecordFunc),
			jen.Line().Id("Values").Op(":").Id(t.ValuesFunc),
			jen.Line().Id("Targets").Op(":").Id(t.TargetsFunc),
			jen.Line().Id("Encode").Op(":").Id(t.Encode),
			jen.Line().Id("Decode").Op(":").Id(t.Decode),
			descriptorTail(t),
		)),
	)
}

// emitRepo writes the repository type, its accessor and its typed query
// helpers: column constants for OrderBy, and WhereXxx/ByXxx for indexed
// columns.
func emitRepo(f *jen.File, t *Table) {
	model := modelType(t)
	f.Commentf("%s is the sync-aware repository of %s rows (collection %s). Besides the", t.RepoType, qualName(t), t.Collection)
	f.Comment("methods of client.Repo it has typed query helpers; every read is scoped to the")
	f.Comment("active user and its linked users.")
	f.Type().Id(t.RepoType).Struct(
		jen.Op("*").Qual(PathClient, "Repo").Types(model.Clone()),
	)
	f.Line()
	f.Commentf("%s returns the repository of %s rows in db: inserts, updates and deletes through it", t.Accessor, qualName(t))
	f.Comment("are tracked and carried by the next Synchronize.")
	f.Func().Id(t.Accessor).Params(jen.Id("db").Op("*").Qual(PathClient, "DB")).Id(t.RepoType).Block(
		jen.Return(jen.Id(t.RepoType).Values(jen.Qual(PathClient, "NewRepo").Call(jen.Id("db"), jen.Id(t.TableFunc).Call()))),
	)
	f.Line()

	f.Commentf("%s names a column of %s that %s.OrderBy sorts by.", t.ColumnType, t.Collection, t.RepoType)
	f.Type().Id(t.ColumnType).String()
	f.Line()
	f.Commentf("The columns of %s, for %s.OrderBy.", t.Collection, t.RepoType)
	f.Const().DefsFunc(func(g *jen.Group) {
		for _, mc := range t.MetaColumns {
			g.Commentf("%s is the %s column: %s.", mc.Const, mc.Column, mc.Doc)
			g.Id(mc.Const).Id(t.ColumnType).Op("=").Lit(mc.Column)
		}
		for _, fld := range t.Fields {
			if fld.Const == "" {
				continue
			}
			g.Commentf("%s is the %s column (field %s).", fld.Const, fld.Column, pathString(fld.Path))
			g.Id(fld.Const).Id(t.ColumnType).Op("=").Lit(fld.Column)
		}
	})
	f.Line()
	f.Comment("OrderBy returns a Select option that sorts the rows by column c, descending when")
	f.Comment("desc. Several OrderBy options sort by each in turn.")
	f.Func().Params(jen.Id(t.RepoType)).Id(orderByMethod).Params(jen.Id("c").Id(t.ColumnType), jen.Id("desc").Bool()).Qual(PathClient, "SelectOption").Block(
		jen.Return(jen.Qual(PathClient, "OrderBy").Call(jen.String().Call(jen.Id("c")), jen.Id("desc"))),
	)
	for _, fld := range t.Fields {
		if fld.Where == "" {
			continue
		}
		param, _ := typeCode(fld.Type)
		null := ""
		switch fld.Repr {
		case ReprPointer:
			null = " (NULL when v is nil)"
		case ReprSQLNull:
			null = " (NULL when v is not Valid)"
		}
		f.Line()
		f.Commentf("%s returns a Select and Count option that keeps the rows whose %s is v%s.", fld.Where, fld.Column, null)
		f.Func().Params(jen.Id(t.RepoType)).Id(fld.Where).Params(jen.Id("v").Add(param)).Qual(PathClient, "SelectOption").Block(
			jen.Return(jen.Qual(PathClient, "Where").Call(jen.Lit(fld.Column), bindValue(fld, jen.Id("v")))),
		)
		f.Line()
		f.Commentf("%s returns the rows in the active scope whose %s is v%s, with opts applied.", fld.By, fld.Column, null)
		f.Func().Params(jen.Id("r").Id(t.RepoType)).Id(fld.By).Params(
			jen.Id("ctx").Qual("context", "Context"),
			jen.Id("v").Add(param),
			jen.Id("opts").Op("...").Qual(PathClient, "SelectOption"),
		).Params(jen.Index().Op("*").Add(model.Clone()), jen.Error()).Block(
			jen.Return(jen.Id("r").Dot("Select").Call(
				jen.Id("ctx"),
				jen.Append(jen.Index().Qual(PathClient, "SelectOption").Values(jen.Id("r").Dot(fld.Where).Call(jen.Id("v"))), jen.Id("opts").Op("...")).Op("..."),
			)),
		)
	}
	f.Line()
	emitFields(f, t)
}

// emitFields writes the struct of the table's typed columns and the
// repository's Fields method, for conditions (client.Match) beyond the
// equality of WhereXxx: comparisons, IN, text matches, NULL tests.
func emitFields(f *jen.File, t *Table) {
	type entry struct {
		name, column, doc string
		typ               jen.Code // client.Field[V] or client.TextField[V]
		ctor              jen.Code // its constructor, instantiated
	}
	field := func(text bool, v jen.Code) (jen.Code, jen.Code) {
		name, ctor := "Field", "NewField"
		if text {
			name, ctor = "TextField", "NewTextField"
		}
		return jen.Qual(PathClient, name).Types(v), jen.Qual(PathClient, ctor).Types(v)
	}
	var entries []entry
	for _, rc := range RecordColumns {
		var v jen.Code
		switch rc.Field {
		case "ID":
			v = jen.Qual(PathUUID, "UUID")
		case "SyncID":
			v = jen.String()
		default:
			v = jen.Qual("time", "Time")
		}
		typ, ctor := field(rc.Field == "SyncID", v)
		entries = append(entries, entry{name: rc.Field, column: rc.Column, doc: "the " + rc.Column + " column", typ: typ, ctor: ctor})
	}
	for _, fld := range t.Fields {
		v, ok := fieldValueType(fld)
		if !ok {
			continue
		}
		typ, ctor := field(fld.Kind == KindString, v)
		entries = append(entries, entry{name: pathIdent(fld.Path), column: fld.Column,
			doc: "the " + fld.Column + " column (field " + pathString(fld.Path) + ")", typ: typ, ctor: ctor})
	}
	f.Commentf("%s are the typed columns of %s, for conditions in Select and Count", t.FieldsType, t.Collection)
	f.Commentf("(client.Match): comparisons, IN, text matches and NULL tests, combined with")
	f.Commentf("client.And, client.Or and client.Not. %s.Fields returns them.", t.RepoType)
	f.Type().Id(t.FieldsType).StructFunc(func(g *jen.Group) {
		for _, e := range entries {
			g.Comment(e.name + " is " + e.doc + ".")
			g.Id(e.name).Add(e.typ)
		}
	})
	f.Line()
	f.Commentf("Fields returns the typed columns of %s, e.g.", t.Collection)
	f.Comment("")
	f.Comment("\tf := r.Fields()")
	f.Comment("\trows, err := r.Select(ctx, client.Match(f.UpdatedAt.Gt(since)), client.Limit(50))")
	f.Func().Params(jen.Id(t.RepoType)).Id(fieldsMethod).Params().Id(t.FieldsType).Block(
		jen.Return(jen.Id(t.FieldsType).Values(jen.DictFunc(func(d jen.Dict) {
			for _, e := range entries {
				d[jen.Id(e.name)] = jen.Add(e.ctor).Call(jen.Lit(e.column))
			}
		}))),
	)
}

// fieldValueType is the type a field's conditions take: the field's own
// type, its element type for a pointer, the base type of an sql.Null
// wrapper; ok is false for JSON values, which have no conditions.
func fieldValueType(fld *Field) (jen.Code, bool) {
	if fld.Kind == KindJSON {
		return nil, false
	}
	switch fld.Repr {
	case ReprPointer:
		if ptr, ok := fld.Type.(*types.Pointer); ok {
			return typeCode(ptr.Elem())
		}
		return nil, false
	case ReprSQLNull:
		return baseType(fld.Kind), true
	}
	return typeCode(fld.Type)
}

func emitBinders(f *jen.File, t *Table) {
	model := modelType(t)
	f.Func().Id(t.RecordFunc).Params(jen.Id("r").Op("*").Add(model.Clone())).Op("*").Qual(PathSsync, "Record").Block(
		jen.Return(jen.Op("&").Id("r").Dot(t.RecordField)),
	)
	f.Line()
	var vals, targets []jen.Code
	for _, fld := range t.Fields {
		vals = append(vals, bindValue(fld, access(fld)))
		targets = append(targets, scanTarget(fld))
	}
	f.Func().Id(t.ValuesFunc).Params(jen.Id("r").Op("*").Add(model.Clone()), jen.Id("dst").Index().Any()).Index().Any().Block(
		jen.Return(jen.Append(append([]jen.Code{jen.Id("dst")}, vals...)...)),
	)
	f.Line()
	f.Func().Id(t.TargetsFunc).Params(jen.Id("r").Op("*").Add(model.Clone()), jen.Id("dst").Index().Any()).Index().Any().Block(
		jen.Return(jen.Append(append([]jen.Code{jen.Id("dst")}, targets...)...)),
	)
}

func emitEncoder(f *jen.File, t *Table) {
	enc := []jen.Code{jen.Qual(PathImpl, "WriteRecord").Call(jen.Id("w"), jen.Op("&").Id("r").Dot(t.RecordField))}
	for _, fld := range t.Fields {
		enc = append(enc, jen.Id("w").Dot("RawString").Call(rawString(","+jsonString(fld.Wire)+":")))
		enc = append(enc, encodeField(fld)...)
	}
	enc = append(enc, jen.Id("w").Dot("RawByte").Call(jen.LitRune('}')))
	f.Func().Id(t.Encode).Params(jen.Id("w").Op("*").Qual(PathJWrite, "Writer"), jen.Id("r").Op("*").Add(modelType(t))).Block(enc...)
}

func emitDecoder(f *jen.File, t *Table) {
	var cases []jen.Code
	for _, fld := range t.Fields {
		cases = append(cases, jen.Case(jen.Lit(fld.Wire)).Block(decodeField(fld)...))
	}
	cases = append(cases, jen.Default().Block(
		jen.If(jen.Op("!").Qual(PathImpl, "ReadRecordField").Call(jen.Id("l"), jen.Op("&").Id("r").Dot(t.RecordField), jen.Id("key"))).Block(
			jen.Qual(PathImpl, "UnknownField").Call(jen.Id("l"), jen.Id("key"), jen.Id("opts")),
		),
	))
	f.Func().Id(t.Decode).Params(
		jen.Id("l").Op("*").Qual(PathJLexer, "Lexer"),
		jen.Id("r").Op("*").Add(modelType(t)),
		jen.Id("opts").Qual(PathSsync, "DecodeOptions"),
	).Error().Block(
		jen.Id("l").Dot("Delim").Call(jen.LitRune('{')),
		jen.For(jen.Id("l").Dot("Ok").Call().Op("&&").Op("!").Id("l").Dot("IsDelim").Call(jen.LitRune('}'))).Block(
			jen.Id("key").Op(":=").Id("l").Dot("UnsafeFieldName").Call(jen.False()),
			jen.Id("l").Dot("WantColon").Call(),
			jen.Switch(jen.Id("key")).Block(cases...),
			jen.If(jen.Op("!").Id("l").Dot("Ok").Call()).Block(
				jen.Return(jen.Qual(PathImpl, "NewFieldError").Call(jen.Id("key"), jen.Id("l").Dot("Error").Call())),
			),
			jen.Id("l").Dot("WantComma").Call(),
		),
		jen.Id("l").Dot("Delim").Call(jen.LitRune('}')),
		jen.Return(jen.Id("l").Dot("Error").Call()),
	)
}

// emitDriftGuards writes, for the model and for each embedded struct whose
// fields are synchronized, a function that stops compiling once the struct
// changes: a conversion to a struct type listing the fields seen at
// generation time. When a field's type or name cannot be spelled from the
// output package, each synchronized field is checked on its own instead.
func emitDriftGuards(f *jen.File, t *Table) {
	body := []jen.Code{jen.Var().Id("x").Add(modelType(t))}
	if guard, ok := structLiteral(t.Struct); ok {
		body = append(body, jen.Id("_").Op("=").Add(guard).Parens(jen.Id("x")))
	} else {
		body = append(body, jen.Var().Id("_").Qual(PathSsync, "Record").Op("=").Id("x").Dot(t.RecordField))
		for _, fld := range t.Fields {
			tc, _ := typeCode(fld.Type)
			body = append(body, jen.Var().Id("_").Add(tc).Op("=").Add(accessFrom("x", fld.Path)))
		}
	}
	for _, e := range t.Embedded {
		tc, _ := typeCode(e.Type)
		v := "x" + pathIdent(e.Path)
		body = append(body, jen.Line(), jen.Var().Id(v).Add(tc).Op("=").Add(accessFrom("x", e.Path)))
		if guard, ok := structLiteral(e.Struct); ok {
			body = append(body, jen.Id("_").Op("=").Add(guard).Parens(jen.Id(v)))
		} else {
			for _, fld := range e.Fields {
				ftc, _ := typeCode(fld.Type)
				body = append(body, jen.Var().Id("_").Add(ftc).Op("=").Id(v).Dot(fld.GoName))
			}
		}
	}
	f.Commentf("This function fails to compile when %s changed since it was generated: run go generate.", qualName(t))
	f.Func().Id("_").Params().Block(body...)
}

// structLiteral spells a struct type with the given fields; ok is false when
// a field's name or type cannot be spelled from another package.
func structLiteral(fields []StructField) (jen.Code, bool) {
	var guard []jen.Code
	ok := true
	for _, sf := range fields {
		tc, tok := typeCode(sf.Type)
		ok = ok && tok
		if sf.Name == "" {
			guard = append(guard, tc)
		} else {
			ok = ok && token.IsExported(sf.Name)
			guard = append(guard, jen.Id(sf.Name).Add(tc))
		}
	}
	return jen.Struct(guard...), ok
}

// rawString renders s as a back-quoted literal when it can be, which keeps
// multi-line text readable in the generated file.
func rawString(s string) jen.Code {
	if strings.Contains(s, "`") {
		// One quoted literal per line, joined with +.
		lines := strings.SplitAfter(s, "\n")
		st := jen.Lit(lines[0])
		for _, l := range lines[1:] {
			st = st.Op("+").Line().Lit(l)
		}
		return st
	}
	return jen.Op("`" + s + "`")
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func qualName(t *Table) string {
	return t.ModelPkg + "." + t.GoName
}

// access returns r.A.B, the field read from the row r.
func access(fld *Field) *jen.Statement { return accessFrom("r", fld.Path) }

func accessFrom(root string, path []string) *jen.Statement {
	s := jen.Id(root)
	for _, p := range path {
		s = s.Dot(p)
	}
	return s
}

func pathString(path []string) string {
	s := ""
	for i, p := range path {
		if i > 0 {
			s += "."
		}
		s += p
	}
	return s
}

func pathIdent(path []string) string {
	s := ""
	for _, p := range path {
		s += p
	}
	return s
}

// baseType is the Go type a kind's values have in the runtime's readers
// and writers.
func baseType(k Kind) *jen.Statement { return k.info().base() }

// converted reports whether the field's values convert to and from the
// kind's base type.
func converted(fld *Field) bool { return fld.Named != nil && fld.Kind != KindJSON }

// toBase converts v, of the field's value type, to the base type.
func toBase(fld *Field, v jen.Code) jen.Code {
	if !converted(fld) {
		return v
	}
	return baseType(fld.Kind).Call(v)
}

// fromBase converts v, of the base type, to the field's value type.
func fromBase(fld *Field, v jen.Code) jen.Code {
	if !converted(fld) {
		return v
	}
	tc, _ := typeCode(fld.Named)
	return jen.Add(tc).Call(v)
}

// ptrToBase converts p, a pointer to the field's value type, to a pointer to
// the base type.
func ptrToBase(fld *Field, p jen.Code) jen.Code {
	if !converted(fld) {
		return p
	}
	return jen.Parens(jen.Op("*").Add(baseType(fld.Kind))).Call(p)
}

// ptrFromBase converts p, a pointer to the base type, to a pointer to the
// field's value type.
func ptrFromBase(fld *Field, p jen.Code) jen.Code {
	if !converted(fld) {
		return p
	}
	tc, _ := typeCode(fld.Named)
	return jen.Parens(jen.Op("*").Add(tc)).Call(p)
}

// bindValue returns the SQL argument for v, a value of the field's type.
// Times and floats go through ssyncimpl's TimeValue and FloatValue (or
// their pointer forms), so that every database stores the same value.
func bindValue(fld *Field, v *jen.Statement) jen.Code {
	norm, hasNorm := storedValue[fld.Kind]
	switch fld.Repr {
	case ReprPointer:
		if fld.Kind == KindJSON {
			return jen.Qual(PathImpl, "PtrValue").Call(v)
		}
		if hasNorm {
			return jen.Qual(PathImpl, norm+"PtrValue").Call(ptrToBase(fld, v))
		}
		return ptrToBase(fld, v)
	case ReprSQLNull:
		if hasNorm {
			return jen.Qual(PathImpl, "NullValue").Call(v.Clone().Dot("Valid"),
				jen.Qual(PathImpl, norm+"Value").Call(toBase(fld, v.Clone().Dot(fld.NullValue))))
		}
		return v
	}
	if fld.Kind == KindJSON {
		if fld.ValuerOnPointer {
			return jen.Op("&").Add(v)
		}
		return v
	}
	if hasNorm {
		return jen.Qual(PathImpl, norm+"Value").Call(toBase(fld, v))
	}
	return toBase(fld, v)
}

// storedValue names, for the kinds whose values are normalized before they
// are stored (see ssync.StoredTime and ssync.StoredFloat), the prefix of
// ssyncimpl's XxxValue and XxxPtrValue helpers.
var storedValue = map[Kind]string{KindTime: "Time", KindFloat32: "Float", KindFloat64: "Float"}

// scanTarget returns the scan destination of the field of row r.
func scanTarget(fld *Field) jen.Code {
	addr := jen.Op("&").Add(access(fld))
	if fld.Repr == ReprValue && converted(fld) {
		return ptrToBase(fld, addr)
	}
	return addr
}

// writeBase writes v, of the kind's base type.
func writeBase(k Kind, v jen.Code) jen.Code {
	if ki := k.info(); ki.helper {
		return jen.Qual(PathImpl, "Write"+ki.codec).Call(jen.Id("w"), v)
	}
	return jen.Id("w").Dot(k.info().codec).Call(v)
}

// readBase reads a value of the kind's base type.
func readBase(k Kind) jen.Code {
	if ki := k.info(); ki.helper {
		return jen.Qual(PathImpl, "Read"+ki.codec).Call(jen.Id("l"))
	}
	return jen.Id("l").Dot(k.info().codec).Call()
}

// writerFunc and readerFunc are the write and read functions of a kind as
// values, for WritePtr and ReadPtr.
func writerFunc(k Kind) jen.Code {
	if ki := k.info(); ki.helper {
		return jen.Qual(PathImpl, "Write"+ki.codec)
	}
	return jen.Parens(jen.Op("*").Qual(PathJWrite, "Writer")).Dot(k.info().codec)
}

func readerFunc(k Kind) jen.Code {
	if ki := k.info(); ki.helper {
		return jen.Qual(PathImpl, "Read"+ki.codec)
	}
	return jen.Parens(jen.Op("*").Qual(PathJLexer, "Lexer")).Dot(k.info().codec)
}

func writeNull() jen.Code { return jen.Id("w").Dot("RawString").Call(jen.Lit("null")) }

func marshalJSON(v *jen.Statement) jen.Code {
	return jen.Id("w").Dot("Raw").Call(v.Dot("MarshalJSON").Call())
}

// encodeField returns the statements that write the field's value.
func encodeField(fld *Field) []jen.Code {
	v := access(fld)
	switch fld.Repr {
	case ReprPointer:
		if fld.Kind == KindJSON {
			return []jen.Code{jen.If(v.Clone().Op("==").Nil()).Block(writeNull()).Else().Block(marshalJSON(v.Clone()))}
		}
		return []jen.Code{jen.Qual(PathImpl, "WritePtr").Call(jen.Id("w"), ptrToBase(fld, v), writerFunc(fld.Kind))}
	case ReprSQLNull:
		return []jen.Code{jen.If(v.Clone().Dot("Valid")).Block(
			writeBase(fld.Kind, toBase(fld, v.Clone().Dot(fld.NullValue))),
		).Else().Block(writeNull())}
	}
	if fld.Kind == KindJSON {
		return []jen.Code{marshalJSON(v)}
	}
	return []jen.Code{writeBase(fld.Kind, toBase(fld, v))}
}

// decodeField returns the statements that read the field's value.
func decodeField(fld *Field) []jen.Code {
	v := access(fld)
	switch fld.Repr {
	case ReprPointer:
		if fld.Kind == KindJSON {
			tc, _ := typeCode(fld.Named)
			return []jen.Code{
				v.Clone().Op("=").Nil(),
				jen.If(jen.Op("!").Qual(PathImpl, "ReadNull").Call(jen.Id("l"))).Block(
					v.Clone().Op("=").New(tc),
					jen.Qual(PathImpl, "ReadJSON").Call(jen.Id("l"), v.Clone()),
				),
			}
		}
		return []jen.Code{v.Clone().Op("=").Add(ptrFromBase(fld, jen.Qual(PathImpl, "ReadPtr").Call(jen.Id("l"), readerFunc(fld.Kind))))}
	case ReprSQLNull:
		tc, _ := typeCode(fld.Type)
		return []jen.Code{
			v.Clone().Op("=").Add(tc).Values(),
			jen.If(jen.Op("!").Qual(PathImpl, "ReadNull").Call(jen.Id("l"))).Block(
				jen.List(v.Clone().Dot(fld.NullValue), v.Clone().Dot("Valid")).Op("=").List(fromBase(fld, readBase(fld.Kind)), jen.True()),
			),
		}
	}
	if fld.Kind == KindJSON {
		return []jen.Code{jen.Qual(PathImpl, "ReadJSON").Call(jen.Id("l"), jen.Op("&").Add(v))}
	}
	return []jen.Code{v.Op("=").Add(fromBase(fld, readBase(fld.Kind)))}
}

// typeCode renders a type for generated code; ok is false when the type
// cannot be spelled from another package.
func typeCode(t types.Type) (jen.Code, bool) {
	switch tt := t.(type) {
	case *types.Basic:
		return jen.Id(tt.Name()), true
	case *types.Pointer:
		c, ok := typeCode(tt.Elem())
		return jen.Op("*").Add(c), ok
	case *types.Slice:
		c, ok := typeCode(tt.Elem())
		return jen.Index().Add(c), ok
	case *types.Array:
		c, ok := typeCode(tt.Elem())
		return jen.Index(jen.Lit(int(tt.Len()))).Add(c), ok
	case *types.Map:
		k, ok1 := typeCode(tt.Key())
		v, ok2 := typeCode(tt.Elem())
		return jen.Map(k).Add(v), ok1 && ok2
	case *types.Named:
		obj := tt.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()), obj.Name() == "error"
		}
		if !obj.Exported() {
			return jen.Any(), false
		}
		base := jen.Qual(obj.Pkg().Path(), obj.Name())
		ok := true
		if args := tt.TypeArgs(); args != nil && args.Len() > 0 {
			var ts []jen.Code
			for i := range args.Len() {
				c, aok := typeCode(args.At(i))
				ok = ok && aok
				ts = append(ts, c)
			}
			base = base.Types(ts...)
		}
		return base, ok
	case *types.Interface:
		if tt.Empty() {
			return jen.Any(), true
		}
	case *types.Alias:
		return typeCode(types.Unalias(tt))
	}
	return jen.Any(), false
}
