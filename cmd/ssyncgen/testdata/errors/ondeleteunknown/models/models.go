package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Project is a parent.
type Project struct {
	ssync.Record `ssync:"table=projects,order=1"`

	Name string
}

// Task names rules that do not exist.
type Task struct {
	ssync.Record `ssync:"table=tasks,order=2"`

	ProjectID uuid.UUID  `ssync:"ref=projects,ondelete=delete"`
	MovedFrom *uuid.UUID `ssync:"ref=projects,ondelete="`
}
