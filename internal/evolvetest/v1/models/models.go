// Package models is version 1 of the task app's models (see package
// evolvetest).
package models

import "github.com/ssync-go/ssync/runtime/ssync"

//go:generate go run ../../../../cmd/ssyncgen -out .. -pkg v1 -schema-version 1 .

// Task is a task to do.
type Task struct {
	ssync.Record `ssync:"table=ev_task,order=1"`

	// Title says what to do.
	Title string `json:"title"`
	// Done is true once it is done.
	Done bool `json:"done"`
}
