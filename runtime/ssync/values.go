package ssync

import "time"

// StoredTime returns t as every database of ssync stores it: the same
// instant in UTC, truncated to the microsecond. PostgreSQL keeps
// microseconds (and would round the rest), MariaDB's DATETIME(6) keeps
// microseconds in no zone, and SQLite keeps the text it is given; writing
// the same normalized value everywhere makes a time read back identical on
// the writing device, on every other device and in every server store, and
// makes SQLite's text order the order of instants.
//
// Generated binders (through runtime/ssyncimpl), the device's repositories
// and pull, and the server's store apply it to every time they write.
func StoredTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// StoredFloat returns f as every database of ssync stores it: negative zero
// becomes zero (SQLite keeps no negative zero); every other value, from the
// smallest subnormal to the largest finite one, is kept exactly.
func StoredFloat[F ~float32 | ~float64](f F) F {
	if f == 0 {
		return 0
	}
	return f
}
