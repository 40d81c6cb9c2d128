// Package refval reads the value of a reference column (ssync.Column.Ref)
// as generated code hands it to database/sql: a uuid.UUID, a *uuid.UUID
// (nil for NULL) or a string.
package refval

import "github.com/google/uuid"

// ID returns the referenced id, and false for NULL, the nil UUID or a
// value that is no UUID.
func ID(v any) (uuid.UUID, bool) {
	switch v := v.(type) {
	case uuid.UUID:
		return v, v != uuid.Nil
	case *uuid.UUID:
		if v != nil && *v != uuid.Nil {
			return *v, true
		}
	case string:
		id, err := uuid.Parse(v)
		return id, err == nil && id != uuid.Nil
	}
	return uuid.Nil, false
}
