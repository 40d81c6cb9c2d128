package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has a bad order and a field of an unsupported type.
type Thing struct {
	ssync.Record `ssync:"table=t,order=-1"`

	Counts map[string]int
}

// Other has a field whose column is reserved and a malformed index tag.
type Other struct {
	ssync.Record `ssync:"table=o,order=2"`

	Updated string `ssync:"name=updated_at"`
	Label   string `ssync:"index=yes"`
}
