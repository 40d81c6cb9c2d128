package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Checkpoint is a position in a store's commit order: every change with a
// version up to Version has been seen, except, when After is set, the rows
// of Version whose id sorts after After (a stream interrupted inside one
// version). Clients treat its string form as opaque.
type Checkpoint struct {
	// Version is the counter value reached.
	Version uint64
	// After is the last row id seen within Version, or uuid.Nil when all of
	// Version was seen.
	After uuid.UUID
}

// String formats the checkpoint as the checkpoint clients store: "<version>" or
// "<version>.<uuid>".
func (c Checkpoint) String() string {
	if c.After == uuid.Nil {
		return strconv.FormatUint(c.Version, 10)
	}
	return strconv.FormatUint(c.Version, 10) + "." + c.After.String()
}

// ErrBadCheckpoint is wrapped by the error for a checkpoint the server did
// not produce.
var ErrBadCheckpoint = errors.New("invalid checkpoint")

// ParseCheckpoint reads a checkpoint. Empty, and the zero time
// "0001-01-01T00:00:00" in any precision or zone, mean "from the start".
func ParseCheckpoint(s string) (Checkpoint, error) {
	if s == "" {
		return Checkpoint{}, nil
	}
	if strings.HasPrefix(s, "0001-01-01") {
		if t, err := wire.ParseTime(s); err == nil && t.IsZero() {
			return Checkpoint{}, nil
		}
	}
	bad := fmt.Errorf("%w %q: use the timestamp of the last pull, or empty for everything", ErrBadCheckpoint, echo.Clip(s))
	vs, after, hasAfter := strings.Cut(s, ".")
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || v > 1<<62 {
		return Checkpoint{}, bad
	}
	c := Checkpoint{Version: v}
	if hasAfter {
		id, err := uuid.Parse(after)
		if err != nil || id == uuid.Nil || len(after) != 36 {
			return Checkpoint{}, bad
		}
		c.After = id
	}
	return c, nil
}
