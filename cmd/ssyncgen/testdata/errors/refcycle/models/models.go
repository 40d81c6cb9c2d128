package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Egg references the chicken it came from.
type Egg struct {
	ssync.Record `ssync:"table=eggs,order=1"`

	ChickenID uuid.UUID `ssync:"ref=chickens"`
}

// Chicken references the egg it hatched from: a cycle between two tables
// through fields that cannot be NULL, so neither row could be written
// first.
type Chicken struct {
	ssync.Record `ssync:"table=chickens,order=2"`

	EggID uuid.UUID `ssync:"ref=eggs"`
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

// Hen references her nest through a field that cannot be NULL, but comes
// before it: in a cycle, only a nullable field may reference a later table.
type Hen struct {
	ssync.Record `ssync:"table=hens,order=5"`

	NestID uuid.UUID `ssync:"ref=nests"`
}

// Nest references the hen that sits on it, nullable: the cycle is allowed.
type Nest struct {
	ssync.Record `ssync:"table=nests,order=6"`

	HenID *uuid.UUID `ssync:"ref=hens,ondelete=setnull"`
}

// Keeper keeps one coop, nil until it exists: a cycle with Coop through a
// nullable field that references a later table, which is allowed.
type Keeper struct {
	ssync.Record `ssync:"table=keepers,order=7"`

	CoopID *uuid.UUID `ssync:"ref=coops,ondelete=setnull"`
}

// Coop belongs to its keeper.
type Coop struct {
	ssync.Record `ssync:"table=coops,order=8"`

	KeeperID uuid.UUID `ssync:"ref=keepers"`
}
