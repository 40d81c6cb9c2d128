// Package refval reads the value of a reference column (ssync.Column.Ref)
// as generated code hands it to database/sql: a uuid.UUID, a *uuid.UUID
// (nil for NULL), a string, or any driver.Valuer of one.
package refval

import (
	"database/sql/driver"

	"github.com/google/uuid"
)

// ID returns the referenced id, and false for NULL, the nil UUID or a
// value that is no UUID (left to the database to judge).
func ID(v any) (uuid.UUID, bool) {
	// The forms generated code hands over, without the converter's
	// reflection (this runs for every reference of every pushed row).
	switch x := v.(type) {
	case nil:
		return uuid.Nil, false
	case uuid.UUID:
		return x, x != uuid.Nil
	case *uuid.UUID:
		if x == nil {
			return uuid.Nil, false
		}
		return *x, *x != uuid.Nil
	}
	dv, err := driver.DefaultParameterConverter.ConvertValue(v)
	if err != nil || dv == nil {
		return uuid.Nil, false
	}
	var s string
	switch x := dv.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil && id != uuid.Nil
}
