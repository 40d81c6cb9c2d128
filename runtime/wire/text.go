package wire

import (
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// ErrNUL is wrapped by the error of a row whose text holds NUL (U+0000).
// PostgreSQL cannot store it in text, SQLite and MySQL can: a server
// refuses it when it decodes a push (ssync.DecodeOptions.RefuseNUL), so
// that every store answers alike.
var ErrNUL = errors.New(`text holds NUL (\u0000), which the server does not store`)

// checkNUL returns a *FieldError wrapping ErrNUL for the first field of row
// whose text holds NUL: its syncId, then its text and JSON columns in
// order.
func checkNUL(coll ssync.Collection, row any) error {
	if strings.IndexByte(coll.RecordOf(row).SyncID, 0) >= 0 {
		return &FieldError{Field: ssync.WireSyncID, Err: ErrNUL}
	}
	cols := coll.UserColumns()
	for i, v := range coll.AppendValues(row, make([]any, 0, len(cols))) {
		c := cols[i]
		if c.Kind != ssync.KindText && c.Kind != ssync.KindJSON {
			continue
		}
		if holdsNUL(v, c.Kind == ssync.KindJSON) {
			return &FieldError{Field: c.Wire, Err: ErrNUL}
		}
	}
	return nil
}

// holdsNUL reports whether value v, as the database would receive it,
// holds NUL; in JSON text, also as the escape \u0000. A value that cannot
// be converted is left to the store.
func holdsNUL(v any, json bool) bool {
	dv, err := driver.DefaultParameterConverter.ConvertValue(v)
	if err != nil {
		return false
	}
	var s string
	switch x := dv.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return false
	}
	if strings.IndexByte(s, 0) >= 0 {
		return true
	}
	return json && escapedNUL(s)
}

// escapedNUL reports whether JSON text s holds the escape \u0000 (a
// backslash that is itself escaped does not start one).
func escapedNUL(s string) bool {
	for i := 0; i < len(s)-1; i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] == 'u' && strings.HasPrefix(s[i+2:], "0000") {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}
