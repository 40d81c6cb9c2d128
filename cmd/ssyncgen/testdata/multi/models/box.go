package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Box belongs to a category and holds items.
type Box struct {
	ssync.Record `ssync:"table=boxes,order=2"`

	Label      string    `json:"label"`
	CategoryID uuid.UUID `json:"categoryId"`
	Weight     float64   `json:"weight"`
	// Shelf's column name starts with a tag key: it is still a column name.
	Shelf int `ssync:"name=order_shelf"`
}

// notSynced is an ordinary struct: without a table tag it is ignored.
type notSynced struct {
	a, b int
}

var _ = notSynced{}
