package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing refers to a type that does not exist.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Name Missing
}
