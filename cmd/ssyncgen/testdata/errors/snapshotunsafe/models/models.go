// Package models changes the models of schema.ssync.json in ways that
// migrations at open cannot apply: a field's type, a nullable field made
// NOT NULL, a field removed, a json name changed, a table removed, and a
// new NOT NULL reference.
package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// List is a new table: that is fine.
type List struct {
	ssync.Record `ssync:"table=ev_list,order=1"`

	Name string
}

// Task was Title string, Points int, Owner *string, Legacy string and
// Note string with json:"note".
type Task struct {
	ssync.Record `ssync:"table=ev_task,order=2"`

	Title  string
	Points string
	Owner  string
	Note   string    `json:"text"`
	ListID uuid.UUID `ssync:"ref=ev_list"`
	// Done is a new field: that is fine.
	Done bool
}
