package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has an order that is not a number.
type Thing struct {
	ssync.Record `ssync:"table=t,order=x"`

	Name string
}
