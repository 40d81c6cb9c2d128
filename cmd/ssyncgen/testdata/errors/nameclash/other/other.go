// Package other declares a model named like one in package models.
package other

import "github.com/ssync-go/ssync/runtime/ssync"

// Note clashes with models.Note.
type Note struct {
	ssync.Record `ssync:"table=other_notes,order=4"`

	Body string
}
