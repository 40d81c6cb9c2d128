package evolvetest

import (
	"slices"
	"testing"

	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// ChangedPoints is v2 with Task.Points turned from an int into a string:
// a change no migration may apply.
func ChangedPoints(t testing.TB) *ssync.Registry {
	t.Helper()
	task := v2.TaskTable()
	task.Columns = slices.Clone(task.Columns)
	for i, c := range task.Columns {
		if c.Name == "points" {
			task.Columns[i].Kind, task.Columns[i].Size = ssync.KindText, 0
		}
	}
	reg, err := ssync.NewRegistry(task, v2.TagTable())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
