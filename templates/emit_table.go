package templates

import (
	"encoding/json"
	"fmt"
	"go/types"

	"github.com/dave/jennifer/jen"
)

// emitTable writes everything generated for one model: the descriptor, the
// repository accessor, the row binders, the wire codec and the drift guards.
func emitTable(f *jen.File, m *Model, t *Table) {
	model := jen.Qual(t.ModelPath, t.GoName)
	tableType := jen.Qual(PathSsync, "Table").Types(model.Clone())

	// Descriptor.
	var cols []jen.Code
	for _, fld := range t.Fields {
		cols = append(cols, jen.Line().Values(
			jen.Id("Name").Op(":").Lit(fld.Column),
			jen.Id("Wire").Op(":").Lit(fld.Wire),
		))
	}
	f.Commentf("%s returns the descriptor of the %s collection, which holds %s rows.", t.TableFunc, t.Collection, qualName(t))
	f.Func().Id(t.TableFunc).Params().Op("*").Add(tableType.Clone()).Block(
		jen.Return(jen.Op("&").Add(tableType.Clone()).Values(
			jen.Line().Id("Name").Op(":").Lit(t.Collection),
			jen.Line().Id("Order").Op(":").Lit(t.Order),
			jen.Line().Id("Columns").Op(":").Index().Qual(PathSsync, "Column").Values(append(cols, jen.Line())...),
			jen.Line().Id("Record").Op(":").Id(t.Lower+"Record"),
			jen.Line().Id("Values").Op(":").Id(t.Lower+"Values"),
			jen.Line().Id("Targets").Op(":").Id(t.Lower+"Targets"),
			jen.Line().Id("Encode").Op(":").Id("encode"+t.GoName),
			jen.Line().Id("Decode").Op(":").Id("decode"+t.GoName),
			jen.Line().Id("Schema").Op(":").Map(jen.Qual(PathSsync, "SchemaTarget")).Index().String().Values(
				jen.Line().Qual(PathSsync, "ClientSQLite").Op(":").Add(ddlValues(clientSQLite(t))),
				jen.Line().Qual(PathSsync, "ServerSQLite").Op(":").Add(ddlValues(serverSQLite(t))),
				jen.Line().Qual(PathSsync, "ServerPostgres").Op(":").Add(ddlValues(serverPostgres(t))),
				jen.Line().Qual(PathSsync, "ServerMySQL").Op(":").Add(ddlValues(serverMySQL(t))),
				jen.Line(),
			),
			jen.Line(),
		)),
	)
	f.Line()

	// Repository.
	f.Commentf("%s is the sync-aware repository of %s rows (collection %s).", t.RepoType, qualName(t), t.Collection)
	f.Type().Id(t.RepoType).Struct(
		jen.Op("*").Qual(PathClient, "Repo").Types(model.Clone()),
	)
	f.Commentf("%s returns the repository of %s rows in db: inserts, updates and deletes through it", t.Accessor, qualName(t))
	f.Comment("are tracked and carried by the next Synchronize.")
	f.Func().Id(t.Accessor).Params(jen.Id("db").Op("*").Qual(PathClient, "DB")).Id(t.RepoType).Block(
		jen.Return(jen.Id(t.RepoType).Values(jen.Qual(PathClient, "NewRepo").Call(jen.Id("db"), jen.Id(t.TableFunc).Call()))),
	)

	f.Line()
	// Binders.
	f.Func().Id(t.Lower+"Record").Params(jen.Id("r").Op("*").Add(model.Clone())).Op("*").Qual(PathSsync, "Record").Block(
		jen.Return(jen.Op("&").Id("r").Dot(t.RecordField)),
	)
	f.Line()
	f.Func().Id(t.Lower+"Values").Params(jen.Id("r").Op("*").Add(model.Clone()), jen.Id("dst").Index().Any()).Index().Any().Block(
		jen.Return(jen.Append(append([]jen.Code{jen.Id("dst")}, fieldExprs(t, false)...)...)),
	)
	f.Line()
	f.Func().Id(t.Lower+"Targets").Params(jen.Id("r").Op("*").Add(model.Clone()), jen.Id("dst").Index().Any()).Index().Any().Block(
		jen.Return(jen.Append(append([]jen.Code{jen.Id("dst")}, fieldExprs(t, true)...)...)),
	)

	f.Line()
	// Encoder.
	enc := []jen.Code{jen.Qual(PathWire, "WriteRecord").Call(jen.Id("w"), jen.Op("&").Id("r").Dot(t.RecordField))}
	for _, fld := range t.Fields {
		enc = append(enc,
			jen.Id("w").Dot("RawString").Call(rawString(","+jsonString(fld.Wire)+":")),
			writeValue(fld, jen.Id("r").Dot(fld.GoName)),
		)
	}
	enc = append(enc, jen.Id("w").Dot("RawByte").Call(jen.LitRune('}')))
	f.Func().Id("encode"+t.GoName).Params(jen.Id("w").Op("*").Qual(PathJWrite, "Writer"), jen.Id("r").Op("*").Add(model.Clone())).Block(enc...)

	f.Line()
	// Decoder.
	var cases []jen.Code
	for _, fld := range t.Fields {
		cases = append(cases, jen.Case(jen.Lit(fld.Wire)).Block(
			jen.Id("r").Dot(fld.GoName).Op("=").Add(readValue(fld)),
		))
	}
	cases = append(cases, jen.Default().Block(
		jen.If(jen.Op("!").Qual(PathWire, "ReadRecordField").Call(jen.Id("l"), jen.Op("&").Id("r").Dot(t.RecordField), jen.Id("key"))).Block(
			jen.Qual(PathWire, "UnknownField").Call(jen.Id("l"), jen.Id("key"), jen.Id("opts")),
		),
	))
	f.Func().Id("decode"+t.GoName).Params(
		jen.Id("l").Op("*").Qual(PathJLexer, "Lexer"),
		jen.Id("r").Op("*").Add(model.Clone()),
		jen.Id("opts").Qual(PathSsync, "DecodeOptions"),
	).Error().Block(
		jen.Id("l").Dot("Delim").Call(jen.LitRune('{')),
		jen.For(jen.Id("l").Dot("Ok").Call().Op("&&").Op("!").Id("l").Dot("IsDelim").Call(jen.LitRune('}'))).Block(
			jen.Id("key").Op(":=").Id("l").Dot("UnsafeFieldName").Call(jen.False()),
			jen.Id("l").Dot("WantColon").Call(),
			jen.Switch(jen.Id("key")).Block(cases...),
			jen.If(jen.Op("!").Id("l").Dot("Ok").Call()).Block(
				jen.Return(jen.Qual(PathWire, "NewFieldError").Call(jen.Id("key"), jen.Id("l").Dot("Error").Call())),
			),
			jen.Id("l").Dot("WantComma").Call(),
		),
		jen.Id("l").Dot("Delim").Call(jen.LitRune('}')),
		jen.Return(jen.Id("l").Dot("Error").Call()),
	)

	f.Line()
	// Drift guard: converting the model to a struct type listing the fields
	// seen at generation time fails to compile once the model changes. When
	// a field's type cannot be spelled here, each synchronized field is
	// checked on its own instead.
	var guard []jen.Code
	spelled := true
	for _, sf := range t.Struct {
		tc, ok := typeCode(sf.Type)
		spelled = spelled && ok
		if sf.Name == "" {
			guard = append(guard, tc)
		} else {
			guard = append(guard, jen.Id(sf.Name).Add(tc))
		}
	}
	body := []jen.Code{jen.Var().Id("x").Add(model.Clone())}
	if spelled {
		body = append(body, jen.Id("_").Op("=").Struct(guard...).Parens(jen.Id("x")))
	} else {
		body = append(body, jen.Var().Id("_").Qual(PathSsync, "Record").Op("=").Id("x").Dot(t.RecordField))
		for _, fld := range t.Fields {
			tc, _ := typeCode(fieldType(t, fld.GoName))
			body = append(body, jen.Var().Id("_").Add(tc).Op("=").Id("x").Dot(fld.GoName))
		}
	}
	f.Commentf("This function fails to compile when %s changed since it was generated: run go generate.", qualName(t))
	f.Func().Id("_").Params().Block(body...)
}

func fieldType(t *Table, name string) types.Type {
	for _, sf := range t.Struct {
		if sf.Name == name {
			return sf.Type
		}
	}
	return nil
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func qualName(t *Table) string {
	return t.ModelPkg + "." + t.GoName
}

// fieldExprs returns r.Field (or &r.Field) for every field, in order.
func fieldExprs(t *Table, addr bool) []jen.Code {
	var out []jen.Code
	for _, fld := range t.Fields {
		e := jen.Id("r").Dot(fld.GoName)
		if addr {
			e = jen.Op("&").Add(e)
		}
		out = append(out, e)
	}
	return out
}

// writeFunc returns the jwriter method name or wire helper for a kind.
func writeFunc(k Kind) (method string, helper string) {
	switch k {
	case KindString:
		return "String", ""
	case KindBool:
		return "Bool", ""
	case KindInt:
		return "Int", ""
	case KindInt8:
		return "Int8", ""
	case KindInt16:
		return "Int16", ""
	case KindInt32:
		return "Int32", ""
	case KindInt64:
		return "Int64", ""
	case KindUint:
		return "Uint", ""
	case KindUint8:
		return "Uint8", ""
	case KindUint16:
		return "Uint16", ""
	case KindUint32:
		return "Uint32", ""
	case KindUint64:
		return "Uint64", ""
	case KindFloat32:
		return "Float32", ""
	case KindFloat64:
		return "Float64", ""
	case KindTime:
		return "", "Time"
	case KindBytes:
		return "", "Bytes"
	case KindUUID:
		return "", "UUID"
	}
	panic(fmt.Sprintf("templates: unknown kind %d", k))
}

func writeValue(fld *Field, v *jen.Statement) jen.Code {
	method, helper := writeFunc(fld.Kind)
	if fld.Nullable {
		var fn jen.Code
		if helper != "" {
			fn = jen.Qual(PathWire, "Write"+helper)
		} else {
			fn = jen.Parens(jen.Op("*").Qual(PathJWrite, "Writer")).Dot(method)
		}
		return jen.Qual(PathWire, "WritePtr").Call(jen.Id("w"), v, fn)
	}
	if helper != "" {
		return jen.Qual(PathWire, "Write"+helper).Call(jen.Id("w"), v)
	}
	return jen.Id("w").Dot(method).Call(v)
}

func readValue(fld *Field) jen.Code {
	method, helper := writeFunc(fld.Kind)
	if fld.Nullable {
		var fn jen.Code
		if helper != "" {
			fn = jen.Qual(PathWire, "Read"+helper)
		} else {
			fn = jen.Parens(jen.Op("*").Qual(PathJLexer, "Lexer")).Dot(method)
		}
		return jen.Qual(PathWire, "ReadPtr").Call(jen.Id("l"), fn)
	}
	if helper != "" {
		return jen.Qual(PathWire, "Read"+helper).Call(jen.Id("l"))
	}
	return jen.Id("l").Dot(method).Call()
}

// typeCode renders a type for the drift guard; ok is false when the type
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
