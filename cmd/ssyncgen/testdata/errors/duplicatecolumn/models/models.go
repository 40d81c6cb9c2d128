package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing stores two fields in one column, sends two under one wire name and
// maps two onto one server column.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Name    string `json:"title"`
	Label   string `ssync:"name=name"`
	Title   string
	Remote  string `ssync:"server=far"`
	Distant string `ssync:"server=far"`
}
