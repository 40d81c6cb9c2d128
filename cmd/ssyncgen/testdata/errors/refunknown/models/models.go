package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Owner is a parent.
type Owner struct {
	ssync.Record `ssync:"table=owners,order=1"`

	Name string
}

// Pet references a table that does not exist.
type Pet struct {
	ssync.Record `ssync:"table=pets,order=2"`

	OwnerID uuid.UUID `ssync:"ref=owner"`
}
