// Package models is version 2 of the task app's models (see package
// evolvetest): Task gains Assignee and Points, and Tag is new.
package models

import "github.com/ssync-go/ssync/runtime/ssync"

//go:generate go run ../../../../cmd/ssyncgen -out .. -pkg v2 -schema-version 2 .

// Task is a task to do.
type Task struct {
	ssync.Record `ssync:"table=ev_task,order=1"`

	// Title says what to do.
	Title string `json:"title"`
	// Done is true once it is done.
	Done bool `json:"done"`
	// Assignee is who does it; new in version 2.
	Assignee string `json:"assignee"`
	// Points is its size; new in version 2, and indexed.
	Points int `json:"points" ssync:"index"`
}

// Tag is a label; new in version 2.
type Tag struct {
	ssync.Record `ssync:"table=ev_tag,order=2"`

	// Name is the label.
	Name string `json:"name"`
}
