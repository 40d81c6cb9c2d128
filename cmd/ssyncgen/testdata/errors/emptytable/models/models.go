package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has an empty table name.
type Thing struct {
	ssync.Record `ssync:"table=,order=1"`

	Name string
}
