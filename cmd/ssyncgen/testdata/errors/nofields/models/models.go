package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Empty has no field besides the record.
type Empty struct {
	ssync.Record `ssync:"table=empty,order=1"`
}

// Skipped has only a skipped field.
type Skipped struct {
	ssync.Record `ssync:"table=skipped,order=2"`

	Cache map[string]int `ssync:"-"`
}
