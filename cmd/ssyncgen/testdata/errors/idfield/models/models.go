package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Thing declares its own id of another type.
type Thing struct {
	ssync.Record `ssync:"table=things,order=1"`

	ID   string
	Name string
}

// Other declares its own UUID id, which still hides the record's.
type Other struct {
	ssync.Record `ssync:"table=others,order=2"`

	ID uuid.UUID `json:"otherId" ssync:"name=other_id"`
}

// Loose embeds a pointer to the record: it has no id of its own.
type Loose struct {
	*ssync.Record `ssync:"table=loose,order=3"`

	Name string
}
