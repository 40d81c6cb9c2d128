package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing stores two fields in one column and sends two under one wire name.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Name  string `json:"title"`
	Label string `ssync:"name=name"`
	Title string
}
