package models

import "github.com/ssync-go/ssync/runtime/ssync"

type thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Name string
}

var _ = thing{}
