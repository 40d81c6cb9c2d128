package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing puts the table tag on a normal field.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Name string `ssync:"table=names"`
}
