// Package models is the "cycles" golden case: tables that reference each
// other through nullable fields. A user's favorite task and pinned step
// point forward to tables of greater order (back references), a task
// belongs to its user, and a step to its task: a cycle of two tables
// (users and tk_task) inside one of three (users, tk_task, tk_step).
package models

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// User owns tasks.
type User struct {
	ssync.Record `ssync:"table=users,order=1"`

	Name string `json:"name"`
	// FavoriteTaskID is nil until the user picks a task; deleting the task
	// clears it.
	FavoriteTaskID *uuid.UUID `json:"favoriteTaskId" ssync:"ref=tk_task,ondelete=setnull"`
	// PinnedStepID: a step a user has pinned cannot be deleted.
	PinnedStepID *uuid.UUID `json:"pinnedStepId" ssync:"ref=tk_step,ondelete=restrict"`
}

// Task belongs to a user: deleting the user deletes their tasks.
type Task struct {
	ssync.Record `ssync:"table=tk_task,order=2"`

	Title   string    `json:"title"`
	OwnerID uuid.UUID `json:"ownerId" ssync:"ref=users"`
}

// Step is a step of a task: deleting the task deletes its steps.
type Step struct {
	ssync.Record `ssync:"table=tk_step,order=3"`

	Text   string    `json:"text"`
	TaskID uuid.UUID `json:"taskId" ssync:"ref=tk_task"`
}
