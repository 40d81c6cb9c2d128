package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Egg references the chicken it came from.
type Egg struct {
	ssync.Record `ssync:"table=eggs,order=1"`

	ChickenID *uuid.UUID `ssync:"ref=chickens"`
}

// Chicken references the egg it hatched from.
type Chicken struct {
	ssync.Record `ssync:"table=chickens,order=2"`

	EggID *uuid.UUID `ssync:"ref=eggs"`
}

// Comment references its parent comment.
type Comment struct {
	ssync.Record `ssync:"table=comments,order=3"`

	ParentID *uuid.UUID `ssync:"ref=comments"`
}
