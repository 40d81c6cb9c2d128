package models

import "github.com/ssync-go/ssync/runtime/ssync"

// First takes the table name.
type First struct {
	ssync.Record `ssync:"table=things,order=1"`

	Name string
}

// Second uses it again.
type Second struct {
	ssync.Record `ssync:"table=things,order=2"`

	Title string
}
