package evolvetest

import (
	"testing"

	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// ChangedPoints is v2 with Task.Points turned from an int into a string:
// a change no migration may apply.
func ChangedPoints(t testing.TB) *ssync.Registry {
	t.Helper()
	return withTask(t, func(c *ssync.Column) bool {
		if c.Name == "points" {
			c.Kind, c.Size = ssync.KindText, 0
		}
		return true
	})
}

// JSONTitle is v2 with Task.Title turned from a string into JSON: every
// store spells both kinds with one type (TEXT, LONGTEXT), so only the
// kinds recorded at an earlier open show the change.
func JSONTitle(t testing.TB) *ssync.Registry {
	t.Helper()
	return withTask(t, func(c *ssync.Column) bool {
		if c.Name == "title" {
			c.Kind = ssync.KindJSON
		}
		return true
	})
}

// NullablePoints is v2 with Task.Points made nullable (an int turned into
// a *int): migrations at open drop the column's NOT NULL constraint.
func NullablePoints(t testing.TB) *ssync.Registry {
	t.Helper()
	return withTask(t, func(c *ssync.Column) bool {
		if c.Name == "points" {
			c.Nullable = true
		}
		return true
	})
}

// DroppedDone is NullablePoints without Task.Done, whose column is NOT
// NULL without a default: migrations at open make it nullable, so that
// inserts, which leave it out, work.
func DroppedDone(t testing.TB) *ssync.Registry {
	t.Helper()
	return withTask(t, func(c *ssync.Column) bool {
		c.Nullable = c.Nullable || c.Name == "points"
		return c.Name != "done"
	})
}

// withTask is v2 with Task's columns passed through keep, which may change
// a column and says whether to keep it.
func withTask(t testing.TB, keep func(c *ssync.Column) bool) *ssync.Registry {
	t.Helper()
	task := v2.TaskTable()
	var cols []ssync.Column
	for _, c := range task.Columns {
		if keep(&c) {
			cols = append(cols, c)
		}
	}
	task.Columns = cols
	reg, err := ssync.NewRegistry(task, v2.TagTable())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
