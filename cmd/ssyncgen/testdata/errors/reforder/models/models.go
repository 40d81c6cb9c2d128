package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Owner is a parent ordered after its child.
type Owner struct {
	ssync.Record `ssync:"table=owners,order=2"`

	Name string
}

// Pet references Owner but comes first.
type Pet struct {
	ssync.Record `ssync:"table=pets,order=1"`

	OwnerID *uuid.UUID `ssync:"ref=owners"`
}
