package wire

import (
	"slices"

	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// absentFields returns the device names of the user columns of coll whose
// wire names the row object at l leaves out, in column order, or nil when
// it has them all. l is a copy of the decoder's lexer: reading it moves
// nothing, and a malformed object is left for the decoder to report.
func absentFields(l jlexer.Lexer, coll ssync.Collection) []string {
	cols := coll.UserColumns()
	var small [64]bool
	seen := small[:0]
	if len(cols) <= len(small) {
		seen = small[:len(cols)]
	} else {
		seen = make([]bool, len(cols))
	}
	n := 0
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeFieldName(false)
		l.WantColon()
		for i := range cols {
			if !seen[i] && cols[i].Wire == key {
				seen[i] = true
				n++
				break
			}
		}
		l.SkipRecursive()
		l.WantComma()
	}
	if n == len(cols) || !l.Ok() {
		return nil
	}
	var absent []string
	for i, c := range cols {
		if !seen[i] {
			absent = append(absent, c.Name)
		}
	}
	return absent
}

// encodeRow writes row, leaving out the fields of the user columns named
// in absent (device names).
func encodeRow(w *jwriter.Writer, coll ssync.Collection, row any, absent []string) {
	if len(absent) == 0 {
		coll.EncodeRow(w, row)
		return
	}
	var skip []string
	for _, c := range coll.UserColumns() {
		if slices.Contains(absent, c.Name) {
			skip = append(skip, c.Wire)
		}
	}
	writeObject(w, coll, row, func(key string) bool { return !slices.Contains(skip, key) })
}

// writeObject writes the fields of row's object (as the generated encoder
// writes it) whose wire names keep accepts, in the encoder's order.
func writeObject(w *jwriter.Writer, coll ssync.Collection, row any, keep func(key string) bool) {
	var whole jwriter.Writer
	coll.EncodeRow(&whole, row)
	data, _ := whole.BuildBytes() // a generated encoder's output is valid JSON
	l := &jlexer.Lexer{Data: data}
	first := true
	w.RawByte('{')
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeFieldName(false)
		l.WantColon()
		value := l.Raw()
		l.WantComma()
		if !keep(key) {
			continue
		}
		if !first {
			w.RawByte(',')
		}
		first = false
		w.String(key)
		w.RawByte(':')
		w.Raw(value, nil)
	}
	w.RawByte('}')
}
