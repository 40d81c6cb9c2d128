// Package models has models with attachments: one with a single attachment
// (Attach and Open), one with several, held by pointer and by value and in
// an embedded struct (AttachXxx and OpenXxx).
package models

import (
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Doc is a document with one file.
type Doc struct {
	ssync.Record `ssync:"table=docs,order=1"`

	Title string            `json:"title"`
	File  *ssync.Attachment `json:"file" ssync:"attachment"`
}

// Media holds a clip; it is embedded in Album.
type Media struct {
	Clip *ssync.Attachment `json:"clip" ssync:"attachment"`
}

// Album has several attachments.
type Album struct {
	ssync.Record `ssync:"table=albums,order=2"`

	Name  string            `json:"name"`
	Cover *ssync.Attachment `json:"cover" ssync:"attachment"`
	Back  ssync.Attachment  `json:"back" ssync:"attachment,name=back_side"`
	Media
}
