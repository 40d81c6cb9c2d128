// Package models is the "multi" golden case: three tables across two files,
// declared out of their foreign-key order.
package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Item is a thing kept in a box.
type Item struct {
	ssync.Record `ssync:"table=items,order=3"`

	Name  string     `json:"name"`
	BoxID *uuid.UUID `json:"boxId"`
}

// Category groups boxes.
type Category struct {
	ssync.Record `ssync:"table=categories,order=1"`

	Title string `json:"title"`
}
