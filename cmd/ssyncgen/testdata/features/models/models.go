// Package models is the "features" golden case: named types, sql.Null
// types, JSON-text types, embedded structs from another package, client and
// server column names, foreign keys and indexes, with a second model
// package (billing) generated into the same output package.
package models

import (
	"database/sql"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/shared"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Project is a parent table; its fields can all be spelled, so its drift
// guard is one struct conversion.
type Project struct {
	ssync.Record `ssync:"table=projects,order=1"`

	// Name is indexed: the repository gets WhereName and ByName.
	Name string `json:"name" ssync:"index"`
	// Status is a named string, indexed.
	Status Status `json:"status" ssync:"index"`
	shared.Audit
}

// Task references Project twice and has a field of every new kind.
type Task struct {
	ssync.Record `ssync:"table=tasks,order=2"`

	ProjectID       uuid.UUID  `json:"projectId" ssync:"ref=projects"`
	ParentProjectID *uuid.UUID `json:"parentProjectId" ssync:"ref=projects"`
	// Title is "title" on the device and "task_title" on the server.
	Title string `json:"title" ssync:"server=task_title"`
	// Label is renamed on both sides.
	Label     string  `ssync:"name=label_text,server=label"`
	Level     Level   `json:"level" ssync:"index"`
	LevelPtr  *Level  `json:"levelPtr"`
	StatusPtr *Status `json:"statusPtr"`
	Blob      Blob    `json:"blob"`

	Tags     Tags   `json:"tags"`
	TagsPtr  *Tags  `json:"tagsPtr"`
	Where    Point  `json:"where"`
	WherePtr *Point `json:"wherePtr"`

	Note  sql.NullString  `json:"note"`
	Count sql.NullInt64   `json:"count"`
	Small sql.NullInt32   `json:"small"`
	Tiny  sql.NullInt16   `json:"tiny"`
	Octet sql.NullByte    `json:"octet"`
	Ratio sql.NullFloat64 `json:"ratio"`
	Done  sql.NullBool    `json:"done"`
	Due   sql.NullTime    `json:"due"`
	// Owner is a nullable UUID through sql.Null[T], indexed.
	Owner sql.Null[uuid.UUID] `json:"owner" ssync:"index"`
	Phase sql.Null[Status]    `json:"phase"`

	shared.Audit

	// scratch is not synchronized; being unexported, it makes the drift
	// guard check each synchronized field on its own.
	scratch int `ssync:"-"`
}

// Touch uses scratch, which is otherwise unused.
func (t *Task) Touch() { t.scratch++ }
