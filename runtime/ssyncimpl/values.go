package ssyncimpl

import (
	"time"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// The binders of generated code pass every time and float they write to a
// database through these helpers, so that each database stores the same
// value (ssync.StoredTime, ssync.StoredFloat).

// TimeValue returns t as stored: ssync.StoredTime(t).
func TimeValue(t time.Time) time.Time { return ssync.StoredTime(t) }

// TimePtrValue returns p as a SQL argument: nil (NULL) when p is nil, the
// stored form of *p otherwise.
func TimePtrValue(p *time.Time) any {
	if p == nil {
		return nil
	}
	return ssync.StoredTime(*p)
}

// FloatValue returns f as stored: ssync.StoredFloat(f).
func FloatValue[F ~float32 | ~float64](f F) F { return ssync.StoredFloat(f) }

// FloatPtrValue returns p as a SQL argument: nil (NULL) when p is nil, the
// stored form of *p otherwise.
func FloatPtrValue[F ~float32 | ~float64](p *F) any {
	if p == nil {
		return nil
	}
	return ssync.StoredFloat(*p)
}

// NullValue returns a database/sql Null type's value as a SQL argument: nil
// (NULL) when not valid, v otherwise.
func NullValue[V any](valid bool, v V) any {
	if !valid {
		return nil
	}
	return v
}
