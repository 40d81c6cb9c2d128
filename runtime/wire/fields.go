package wire

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// A field push (ChangeSet.Fields) writes an updated row with its record
// fields and only the user fields the device changed, and adds to the
// change set a "base" object: for each such row, by id, an object of the
// same changed fields holding the values the device last saw from the
// server. The fields a row leaves out are its absent fields (ChangeSet
// Absent, under ssync.DecodeOptions.TrackAbsent), which the store keeps as
// it has them.

// wireNames returns the wire names of coll's user columns whose device
// names are in names and not in without.
func wireNames(coll ssync.Collection, names, without []string) []string {
	var out []string
	for _, c := range coll.UserColumns() {
		if slices.Contains(names, c.Name) && !slices.Contains(without, c.Name) {
			out = append(out, c.Wire)
		}
	}
	return out
}

// encodeFields writes row with only the user fields named in changed
// (device names) but not in absent, and its record fields when withRecord.
func encodeFields(w *jwriter.Writer, coll ssync.Collection, row any, changed, absent []string, withRecord bool) {
	keep := wireNames(coll, changed, absent)
	cols := coll.UserColumns()
	writeObject(w, coll, row, func(key string) bool {
		if slices.Contains(keep, key) {
			return true
		}
		if !withRecord {
			return false
		}
		return !slices.ContainsFunc(cols, func(c ssync.Column) bool { return c.Wire == key })
	})
}

// encodeBase writes the change set's "base" member: for each field-pushed
// row of Updated, in order, its id and the base of its changed fields.
func encodeBase(w *jwriter.Writer, coll ssync.Collection, cs *ChangeSet) {
	w.RawString(`,"base":{`)
	first := true
	for _, row := range cs.Updated {
		f := cs.Fields[row]
		if f == nil {
			continue
		}
		if !first {
			w.RawByte(',')
		}
		first = false
		w.String(coll.RecordOf(row).ID.String())
		w.RawByte(':')
		encodeFields(w, coll, f.Base, f.Changed, cs.Absent[row], false)
	}
	w.RawByte('}')
}

// decodeBase reads a change set's "base" member into cs.Fields. Every key
// must be the id of an updated row, and every field of its object one of
// the collection's user fields; under opts.TrackAbsent the fields must be
// exactly those the row carries.
func decodeBase(data []byte, coll ssync.Collection, opts ssync.DecodeOptions, cs *ChangeSet) error {
	fail := func(id uuid.UUID, err error) error {
		return &DecodeError{Collection: cs.Collection, Part: "base", Index: -1, ID: id, Err: err}
	}
	l := &jlexer.Lexer{Data: data}
	if l.IsNull() {
		return nil
	}
	byID := make(map[uuid.UUID][]any, len(cs.Updated))
	for _, row := range cs.Updated {
		id := coll.RecordOf(row).ID
		byID[id] = append(byID[id], row)
	}
	seen := map[uuid.UUID]bool{}
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeString()
		id, err := uuid.Parse(key)
		if err != nil {
			return fail(uuid.Nil, fmt.Errorf("key %q is not a row id", echo.Clip(key)))
		}
		l.WantColon()
		rows := byID[id]
		if len(rows) == 0 {
			return fail(id, errors.New("the row is not among the updated rows"))
		}
		if seen[id] {
			return fail(id, errors.New("the row appears twice"))
		}
		seen[id] = true
		changed, err := baseFields(*l, coll)
		if err != nil {
			return fail(id, err)
		}
		base := coll.NewRow()
		if err := coll.DecodeRow(l, base, opts); err != nil {
			return fail(id, err)
		}
		if opts.RefuseNUL {
			if err := checkNUL(coll, base); err != nil {
				return fail(id, err)
			}
		}
		for _, row := range rows {
			if opts.TrackAbsent {
				if err := sameFields(coll, changed, cs.Absent[row]); err != nil {
					return fail(id, err)
				}
			}
			if cs.Fields == nil {
				cs.Fields = map[any]*FieldChange{}
			}
			cs.Fields[row] = &FieldChange{Changed: changed, Base: base}
		}
		l.WantComma()
	}
	l.Delim('}')
	l.Consumed()
	if err := l.Error(); err != nil {
		return fail(uuid.Nil, err)
	}
	return nil
}

// baseFields returns the device names of the user fields the base object at
// l holds, in column order, or an error naming a field that is none of
// them. l is a copy of the decoder's lexer.
func baseFields(l jlexer.Lexer, coll ssync.Collection) ([]string, error) {
	if l.IsNull() {
		return nil, errors.New("the base is null, want an object")
	}
	cols := coll.UserColumns()
	var have []string
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeFieldName(false)
		l.WantColon()
		i := slices.IndexFunc(cols, func(c ssync.Column) bool { return c.Wire == key })
		if i < 0 {
			return nil, fmt.Errorf("%w %q in a base (want a user field)", ErrUnknownField, echo.Clip(key))
		}
		have = append(have, cols[i].Name)
		l.SkipRecursive()
		l.WantComma()
	}
	var out []string
	for _, c := range cols {
		if slices.Contains(have, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// sameFields checks that the user fields a row carries (all but absent)
// are those its base holds (changed).
func sameFields(coll ssync.Collection, changed, absent []string) error {
	for _, c := range coll.UserColumns() {
		carried := !slices.Contains(absent, c.Name)
		based := slices.Contains(changed, c.Name)
		switch {
		case carried && !based:
			return fmt.Errorf("field %q is pushed without its base", c.Wire)
		case based && !carried:
			return fmt.Errorf("the base holds field %q, which the row leaves out", c.Wire)
		}
	}
	return nil
}

// DiffFields reports, for each user field named in fields (device names),
// whether rows a and b of coll hold different values of it as stores keep
// them (the values coll.AppendValues gives a database: times in UTC to the
// microsecond, floats with -0 as 0, pointers and driver.Valuers by what
// they hold). The values are compared as they are typed, with no encoding;
// a value of a type that cannot be compared so (a struct holding a slice,
// say) is compared by its JSON encoding.
func DiffFields(coll ssync.Collection, a, b any, fields []string) []bool {
	cols := coll.UserColumns()
	var small [2][16]any
	av := coll.AppendValues(a, small[0][:0])
	bv := coll.AppendValues(b, small[1][:0])
	out := make([]bool, len(fields))
	for i, name := range fields {
		for j := range cols {
			if cols[j].Name == name {
				out[i] = !sameValue(av[j], bv[j])
				break
			}
		}
	}
	return out
}

// sameValue reports whether database values a and b are the same.
func sameValue(a, b any) bool {
	// Equal as they are, pointers followed: the same, with nothing made.
	va, vb := deref(reflect.ValueOf(a)), deref(reflect.ValueOf(b))
	if !va.IsValid() && !vb.IsValid() {
		return true
	}
	if va.IsValid() && vb.IsValid() && va.Type() == vb.Type() && va.Type().Comparable() && va.Equal(vb) {
		return true
	}
	// Else as database/sql hands them to a driver.
	a, b = plainValue(a), plainValue(b)
	switch av := a.(type) {
	case nil:
		return b == nil
	case []byte:
		bv, ok := b.([]byte)
		return ok && bytes.Equal(av, bv)
	case time.Time:
		bv, ok := b.(time.Time)
		return ok && av.Equal(bv)
	case float64:
		bv, ok := b.(float64)
		return ok && math.Float64bits(av) == math.Float64bits(bv)
	case float32:
		bv, ok := b.(float32)
		return ok && math.Float32bits(av) == math.Float32bits(bv)
	}
	if b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	if reflect.TypeOf(a).Comparable() {
		return a == b
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// deref follows v's pointers; a nil pointer is the zero Value.
func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// plainValue returns v with its pointers followed and its driver.Valuer
// asked, as database/sql does before handing it to a driver (a nil pointer
// is nil). A Valuer that fails is left as it is.
func plainValue(v any) any {
	for range 8 {
		if v == nil {
			return nil
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil
		}
		if vr, ok := v.(driver.Valuer); ok {
			val, err := vr.Value()
			if err != nil {
				return v
			}
			v = val
			continue
		}
		if rv.Kind() != reflect.Pointer {
			return v
		}
		v = rv.Elem().Interface()
	}
	return v
}

// WithFields returns a new row of coll holding row's values but for the
// user fields named in fields (device names), which hold from's. The new
// row shares nothing with row or from: its values are copied, typed (a
// field of a type it cannot copy so, such as a struct holding a pointer,
// makes it copy the rows through their JSON encoding).
func WithFields(coll ssync.Collection, row, from any, fields []string) (any, error) {
	out := coll.NewRow()
	rec, src := coll.RecordOf(out), coll.RecordOf(row)
	*rec = *src
	if src.DeletedAt != nil {
		at := *src.DeletedAt
		rec.DeletedAt = &at
	}
	cols := coll.UserColumns()
	dst := coll.AppendTargets(out, make([]any, 0, len(cols)))
	rowT := coll.AppendTargets(row, make([]any, 0, len(cols)))
	var fromT []any
	if len(fields) > 0 {
		fromT = coll.AppendTargets(from, make([]any, 0, len(cols)))
	}
	for i := range cols {
		s := rowT[i]
		if slices.Contains(fields, cols[i].Name) {
			s = fromT[i]
		}
		d, v := reflect.ValueOf(dst[i]), reflect.ValueOf(s)
		if d.Kind() != reflect.Pointer || v.Type() != d.Type() || !copyValue(d.Elem(), v.Elem()) {
			return withFieldsJSON(coll, row, from, fields)
		}
	}
	return out, nil
}

// copyValue sets dst to a copy of src that shares no memory with it, and
// reports whether it could: false for an interface, a channel or a
// function, and for a struct holding any of them or a pointer, slice or
// map (but time.Time, which is copied as a value).
func copyValue(dst, src reflect.Value) bool {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return true
		}
		p := reflect.New(src.Type().Elem())
		if !copyValue(p.Elem(), src.Elem()) {
			return false
		}
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return true
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if src.Type().Elem().Kind() == reflect.Uint8 {
			reflect.Copy(s, src)
		} else {
			for i := range src.Len() {
				if !copyValue(s.Index(i), src.Index(i)) {
					return false
				}
			}
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return true
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(src.Type().Elem()).Elem()
			if !copyValue(v, it.Value()) {
				return false
			}
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Struct:
		if src.Type() != timeType && !flat(src.Type()) {
			return false
		}
		dst.Set(src)
	case reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return false
	default:
		dst.Set(src)
	}
	return true
}

var timeType = reflect.TypeFor[time.Time]()

// flat reports whether values of t hold no pointer, slice, map, interface,
// channel or function: a copy of one shares nothing with it (strings are
// immutable).
func flat(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if !flat(t.Field(i).Type) {
				return false
			}
		}
		return true
	case reflect.Array:
		return flat(t.Elem())
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return false
	}
	return true
}

// withFieldsJSON is WithFields through the rows' JSON encoding.
func withFieldsJSON(coll ssync.Collection, row, from any, fields []string) (any, error) {
	out := coll.NewRow()
	for i := range 2 {
		var w jwriter.Writer
		if i == 0 {
			coll.EncodeRow(&w, row)
		} else {
			encodeFields(&w, coll, from, fields, nil, false)
		}
		data, _ := w.BuildBytes() // a generated encoder's output is valid JSON
		if err := coll.DecodeRow(&jlexer.Lexer{Data: data}, out, ssync.DecodeOptions{}); err != nil {
			return nil, fmt.Errorf("copy fields of %s: %w", coll.CollectionName(), err)
		}
	}
	return out, nil
}
