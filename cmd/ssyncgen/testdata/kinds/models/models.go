// Package models is the "kinds" golden case: one table with a field of every
// kind ssyncgen supports, nullable pointers, a column rename, a json rename
// and a skipped field of an unsupported type.
package models

import (
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Kind has a field of every supported type.
type Kind struct {
	ssync.Record `ssync:"table=kinds,order=1"`

	Str     string
	Bool    bool
	Int     int
	Int8    int8
	Int16   int16
	Int32   int32
	Int64   int64
	Uint    uint
	Uint8   uint8
	Uint16  uint16
	Uint32  uint32
	Uint64  uint64
	Float32 float32
	Float64 float64
	Time    time.Time
	Bytes   []byte
	UUID    uuid.UUID

	StrPtr     *string
	Int64Ptr   *int64
	Float64Ptr *float64
	BoolPtr    *bool
	TimePtr    *time.Time
	UUIDPtr    *uuid.UUID

	// Renamed is stored in column "label_text".
	Renamed string `ssync:"name=label_text"`
	// WireRenamed travels as "wr" in change sets.
	WireRenamed int32 `json:"wr,omitempty"`
	// HTTPServerURL checks the derived column and wire names.
	HTTPServerURL string

	// Cache is not synchronized.
	Cache map[string]int `ssync:"-"`
}
