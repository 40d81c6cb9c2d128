// Package models holds the annotated models of the example notes app: users
// and the notes they write. Running go generate in this folder regenerates
// the typed repositories, schema and server mappers in ../../generated.
package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

//go:generate go run ../../cmd/ssyncgen -out ../../generated -pkg generated -schema-version 1 .

// User is a person who writes notes.
type User struct {
	ssync.Record `ssync:"table=ss_tb_user,order=1"`

	// Name is the user's display name.
	Name string `json:"name"`
	// Age is the user's age in years.
	Age int `json:"age"`
}

// Note is one note of a user.
type Note struct {
	ssync.Record `ssync:"table=ss_tb_note,order=2"`

	// Message is the note's text.
	Message string `json:"message"`
	// Completed is true once the note is done; it is indexed, so the
	// generated NoteRepo has WhereCompleted and ByCompleted.
	Completed bool `json:"completed" ssync:"index"`
	// UserID references the user who wrote the note, if any: a foreign key
	// to ss_tb_user (NoteRepo.WhereUserID, ByUserID).
	UserID *uuid.UUID `json:"userId" ssync:"ref=ss_tb_user"`
	// UserName is the writer's name as shown on the note.
	UserName string `json:"userName"`
	// File is a file attached to the note, if any: NoteRepo.Attach stores
	// it and Open reads it back; Synchronize moves its content.
	File *ssync.Attachment `json:"file" ssync:"attachment"`
}
