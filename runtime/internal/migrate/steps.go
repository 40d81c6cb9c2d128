package migrate

import (
	"fmt"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Step is a data migration as the bookkeeping sees it: its version and
// name, as the app's list has it or as a database recorded it.
type Step struct {
	// Version orders the migrations: it is at least 1, and each one in a
	// list is higher than the one before.
	Version int
	// Name says what the migration does, in errors and in the record.
	Name string
}

// CheckList checks an app's list of data migrations: every version at
// least 1, strictly increasing, every name set. The error wraps
// ssync.ErrMigrationList and names the migration at fault.
func CheckList(list []Step) error {
	for i, s := range list {
		switch {
		case s.Version < 1:
			return fmt.Errorf("%w: migration %q has version %d; versions start at 1", ssync.ErrMigrationList, s.Name, s.Version)
		case s.Name == "":
			return fmt.Errorf("%w: migration %d has no name", ssync.ErrMigrationList, s.Version)
		case i > 0 && s.Version <= list[i-1].Version:
			return fmt.Errorf("%w: migration %d %q follows %d %q; the list is in increasing version order, each version once",
				ssync.ErrMigrationList, s.Version, s.Name, list[i-1].Version, list[i-1].Name)
		}
	}
	return nil
}

// Pending returns the migrations of list (checked by CheckList) that a
// database which recorded applied has yet to run, in order. It refuses,
// with an error wrapping ssync.ErrMigrationList, a database whose record
// does not fit the list: a recorded migration the list does not have (an
// older app, or one removed from the list), one recorded under another
// name, or a new migration with a version below one the database already
// ran (it would run after migrations that come later in the list).
func Pending(list, applied []Step) ([]Step, error) {
	byVersion := make(map[int]Step, len(list))
	for _, s := range list {
		byVersion[s.Version] = s
	}
	done := make(map[int]bool, len(applied))
	var last Step
	for _, a := range applied {
		s, ok := byVersion[a.Version]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: the database ran migration %d %q, which the app's list does not have; "+
				"keep every migration in the list (an app older than the database cannot open it)", ssync.ErrMigrationList, a.Version, a.Name)
		case s.Name != a.Name:
			return nil, fmt.Errorf("%w: migration %d is %q in the database and %q in the app's list; a migration keeps its version and name",
				ssync.ErrMigrationList, a.Version, a.Name, s.Name)
		}
		done[a.Version] = true
		if a.Version > last.Version {
			last = a
		}
	}
	var out []Step
	for _, s := range list {
		if done[s.Version] {
			continue
		}
		if s.Version < last.Version {
			return nil, fmt.Errorf("%w: migration %d %q is new, but the database already ran %d %q; give a new migration a version above every one in the list",
				ssync.ErrMigrationList, s.Version, s.Name, last.Version, last.Name)
		}
		out = append(out, s)
	}
	return out, nil
}
