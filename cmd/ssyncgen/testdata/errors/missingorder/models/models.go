package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has no order.
type Thing struct {
	ssync.Record `ssync:"table=t"`

	Name string
}
