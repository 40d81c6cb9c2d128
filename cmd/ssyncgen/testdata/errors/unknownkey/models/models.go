package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has a table tag key ssyncgen does not know.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1,color=red"`

	Name string
}
