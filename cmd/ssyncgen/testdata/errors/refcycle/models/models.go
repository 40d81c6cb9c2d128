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

// Chicken references the egg it hatched from: a cycle between two tables,
// refused although both fields are nullable.
type Chicken struct {
	ssync.Record `ssync:"table=chickens,order=2"`

	EggID *uuid.UUID `ssync:"ref=eggs"`
}

// Comment references its parent comment through a nullable field: a
// self-reference, which is allowed (a root comment has no parent).
type Comment struct {
	ssync.Record `ssync:"table=comments,order=3"`

	ParentID *uuid.UUID `ssync:"ref=comments"`
}

// Node references its parent node through a field that cannot be NULL: the
// first node could never be written.
type Node struct {
	ssync.Record `ssync:"table=nodes,order=4"`

	ParentID uuid.UUID `ssync:"ref=nodes"`
}
