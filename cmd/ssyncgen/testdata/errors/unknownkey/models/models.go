package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has table and field tag keys ssyncgen does not know.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1,color=red"`

	Name  string `ssync:"name=title,unique"`
	Label string `ssync:"nmae=label"`
}
