package models

import "github.com/ssync-go/ssync/runtime/ssync"

// HTTPServer and HttpServer derive the same helper and file names.
type HTTPServer struct {
	ssync.Record `ssync:"table=http_servers,order=1"`

	Host string
}

// HttpServer is HTTPServer spelled differently.
type HttpServer struct { //nolint:revive // the clash is the point
	ssync.Record `ssync:"table=http_servers_2,order=2"`

	Host string
}

// Note has the name of a model in another package.
type Note struct {
	ssync.Record `ssync:"table=notes,order=3"`

	Text string
}

// Stamp is embedded in Doc.
type Stamp struct {
	Title string `ssync:"name=stamp_title" json:"stampTitle"`
}

// Doc has two fields named Title, which derive the same constants.
type Doc struct {
	ssync.Record `ssync:"table=docs,order=5"`
	Stamp

	Title string
}
