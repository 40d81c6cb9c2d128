// Package models changes the type of Task.Points, which -accept names, and
// removes Task.Legacy, which it does not; -accept also names a change that
// did not happen.
package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Task was Title string, Points int, Owner *string, Legacy string and
// Note string with json:"note".
type Task struct {
	ssync.Record `ssync:"table=ev_task,order=2"`

	Title  string
	Points string
	Owner  *string
	Note   string `json:"note"`
}

// Label is as it was.
type Label struct {
	ssync.Record `ssync:"table=ev_label,order=3"`

	Name string
}
