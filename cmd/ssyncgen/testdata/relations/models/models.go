// Package models is the "relations" golden case: references with each
// ondelete rule, spelled out or left to the default (cascade), and a table
// that references itself through a nullable field (subtasks).
package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Person owns projects and is assigned tasks.
type Person struct {
	ssync.Record `ssync:"table=people,order=1"`

	Name string `json:"name"`
}

// Project belongs to a person.
type Project struct {
	ssync.Record `ssync:"table=projects,order=2"`

	Name string `json:"name"`
	// OwnerID: a person who still owns projects cannot be deleted.
	OwnerID uuid.UUID `json:"ownerId" ssync:"ref=people,ondelete=restrict"`
}

// Task is a task of a project, possibly a subtask of another task.
type Task struct {
	ssync.Record `ssync:"table=tasks,order=3"`

	Title string `json:"title"`
	// ProjectID: deleting a project deletes its tasks (the default rule,
	// spelled out).
	ProjectID uuid.UUID `json:"projectId" ssync:"ref=projects,ondelete=cascade"`
	// ParentID is the task this one is a subtask of, nil for a top-level
	// task: deleting a task deletes its subtasks (the default rule).
	ParentID *uuid.UUID `json:"parentId" ssync:"ref=tasks"`
	// AssigneeID: deleting a person leaves their tasks unassigned.
	AssigneeID *uuid.UUID `json:"assigneeId" ssync:"ref=people,ondelete=setnull"`
}
