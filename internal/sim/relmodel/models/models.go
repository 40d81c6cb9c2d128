// Package models holds the models of the simulation's relations app
// (internal/sim, ModelRelations): projects, their tasks, which form trees
// through a self-reference, and comments on tasks, with every ondelete
// rule. Running go generate in this folder regenerates package relmodel.
package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

//go:generate go run ../../../../cmd/ssyncgen -out .. -pkg relmodel .

// Project groups tasks.
type Project struct {
	ssync.Record `ssync:"table=rm_project,order=1"`

	// Name names the project.
	Name string `json:"name"`
}

// Task is a task of a project, possibly a subtask of another task.
type Task struct {
	ssync.Record `ssync:"table=rm_task,order=2"`

	// Title says what to do.
	Title string `json:"title"`
	// ProjectID is the task's project: deleting the project deletes its
	// tasks (ondelete=cascade, the default).
	ProjectID uuid.UUID `json:"projectId" ssync:"ref=rm_project"`
	// ParentID is the task this one is a subtask of, nil for a top-level
	// task: deleting a task deletes its subtasks, the whole tree.
	ParentID *uuid.UUID `json:"parentId" ssync:"ref=rm_task"`
	// BlockedBy is a task to finish first, if any: deleting that task
	// clears it (ondelete=setnull).
	BlockedBy *uuid.UUID `json:"blockedBy" ssync:"ref=rm_task,ondelete=setnull"`
}

// Comment is a remark on a task: a task with live comments cannot be
// deleted (ondelete=restrict).
type Comment struct {
	ssync.Record `ssync:"table=rm_comment,order=3"`

	// Body is the comment's text.
	Body string `json:"body"`
	// TaskID is the task commented on.
	TaskID uuid.UUID `json:"taskId" ssync:"ref=rm_task,ondelete=restrict"`
}
