package models

import (
	"database/sql"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Owner is a parent.
type Owner struct {
	ssync.Record `ssync:"table=owners,order=1"`

	Name string
}

// Pet references Owner through fields that cannot hold an id.
type Pet struct {
	ssync.Record `ssync:"table=pets,order=2"`

	OwnerName string         `ssync:"ref=owners"`
	OwnerKey  sql.NullString `ssync:"ref=owners"`
}
