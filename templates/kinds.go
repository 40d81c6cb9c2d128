package templates

import (
	"go/types"

	"github.com/dave/jennifer/jen"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// kindInfo is everything ssyncgen knows of a kind, in one row of kinds: the
// loader, the codec and binder emitters and the descriptor emitter all read
// it.
type kindInfo struct {
	// name names the kind's base type in messages.
	name string
	// base spells the base type: the type the runtime's readers and writers
	// take, and that named types over the kind convert to and from.
	base func() *jen.Statement
	// basic is the go/types kind of a basic base type; types.Invalid for
	// the others.
	basic types.BasicKind
	// pkgPath and typeName name a named base type (time.Time, uuid.UUID).
	pkgPath, typeName string
	// codec names how values are written and read: the jwriter.Writer and
	// jlexer.Lexer method ("Int8"), or, when helper is set, the suffix of
	// ssyncimpl's WriteXxx and ReadXxx functions ("Time"). Empty for
	// KindJSON, whose values write and read themselves.
	codec  string
	helper bool
	// indexable is false for kinds whose values SQL cannot usefully compare.
	indexable bool
	// storage and size are the column's storage kind and size in the
	// schema description that generated code carries (ssync.Column.Kind
	// and Size); each database spells its column type from them at run
	// time.
	storage ssync.Kind
	size    int
}

func ident(name string) func() *jen.Statement {
	return func() *jen.Statement { return jen.Id(name) }
}

func basicKind(name string, basic types.BasicKind, codec string, storage ssync.Kind, size int) kindInfo {
	return kindInfo{name: name, base: ident(name), basic: basic, codec: codec, indexable: true,
		storage: storage, size: size}
}

// kinds holds one row per Kind, indexed by it.
var kinds = [...]kindInfo{
	KindString:  {name: "string", base: ident("string"), basic: types.String, codec: "String", indexable: true, storage: ssync.KindText},
	KindBool:    basicKind("bool", types.Bool, "Bool", ssync.KindBool, 0),
	KindInt:     basicKind("int", types.Int, "Int", ssync.KindInt, 64),
	KindInt8:    basicKind("int8", types.Int8, "Int8", ssync.KindInt, 8),
	KindInt16:   basicKind("int16", types.Int16, "Int16", ssync.KindInt, 16),
	KindInt32:   basicKind("int32", types.Int32, "Int32", ssync.KindInt, 32),
	KindInt64:   basicKind("int64", types.Int64, "Int64", ssync.KindInt, 64),
	KindUint:    basicKind("uint", types.Uint, "Uint", ssync.KindUint, 64),
	KindUint8:   basicKind("uint8", types.Uint8, "Uint8", ssync.KindUint, 8),
	KindUint16:  basicKind("uint16", types.Uint16, "Uint16", ssync.KindUint, 16),
	KindUint32:  basicKind("uint32", types.Uint32, "Uint32", ssync.KindUint, 32),
	KindUint64:  basicKind("uint64", types.Uint64, "Uint64", ssync.KindUint, 64),
	KindFloat32: basicKind("float32", types.Float32, "Float32", ssync.KindFloat, 32),
	KindFloat64: basicKind("float64", types.Float64, "Float64", ssync.KindFloat, 64),
	KindTime: {name: "time.Time", base: func() *jen.Statement { return jen.Qual("time", "Time") },
		pkgPath: "time", typeName: "Time", codec: "Time", helper: true, indexable: true, storage: ssync.KindTime},
	KindBytes: {name: "[]byte", base: func() *jen.Statement { return jen.Index().Byte() },
		codec: "Bytes", helper: true, storage: ssync.KindBytes},
	KindUUID: {name: "uuid.UUID", base: func() *jen.Statement { return jen.Qual(PathUUID, "UUID") },
		pkgPath: PathUUID, typeName: "UUID", codec: "UUID", helper: true, indexable: true, storage: ssync.KindUUID},
	KindJSON: {name: "JSON text", storage: ssync.KindJSON},
}

// info returns k's row of kinds.
func (k Kind) info() *kindInfo { return &kinds[k] }

// String returns the name of k's base type, e.g. "int8" or "time.Time".
func (k Kind) String() string { return k.info().name }

// Storage returns the storage kind and size that describe a column of kind
// k at run time (ssync.Column.Kind and Size).
func (k Kind) Storage() (ssync.Kind, int) { return k.info().storage, k.info().size }

// Indexable reports whether a column of kind k may carry an index: SQL
// compares its values meaningfully.
func (k Kind) Indexable() bool { return k.info().indexable }

// KindOfBasic returns the kind whose base type is the basic type b.
func KindOfBasic(b types.BasicKind) (Kind, bool) {
	for k := range kinds {
		if kinds[k].basic == b && b != types.Invalid {
			return Kind(k), true
		}
	}
	return 0, false
}

// KindOfNamed returns the kind whose base type is the named type
// pkgPath.name (time.Time, uuid.UUID).
func KindOfNamed(pkgPath, name string) (Kind, bool) {
	for k := range kinds {
		if kinds[k].pkgPath == pkgPath && kinds[k].typeName == name && pkgPath != "" {
			return Kind(k), true
		}
	}
	return 0, false
}

// storageConsts names runtime/ssync's constant of each storage kind, for
// generated code.
var storageConsts = map[ssync.Kind]string{
	ssync.KindText: "KindText", ssync.KindBool: "KindBool", ssync.KindInt: "KindInt", ssync.KindUint: "KindUint",
	ssync.KindFloat: "KindFloat", ssync.KindTime: "KindTime", ssync.KindBytes: "KindBytes", ssync.KindUUID: "KindUUID",
	ssync.KindJSON: "KindJSON",
}

// storageConst returns the name of the runtime's constant for storage kind k.
func storageConst(k ssync.Kind) string { return storageConsts[k] }
