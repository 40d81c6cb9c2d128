// Package models is fine, but the schema.ssync.json in the output
// directory was not written by ssyncgen.
package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Task is a task.
type Task struct {
	ssync.Record `ssync:"table=ev_task,order=1"`

	Title string
}
