package store

import (
	"context"

	"github.com/google/uuid"
)

// Hooks are per-collection extension points, like SSync's pull and push
// handlers. Every hook runs on the server, inside the pull's or push's
// transaction; rows are pointers to the model type.
type Hooks struct {
	// FilterPull decides whether a row goes out in a pull; nil sends every
	// row the user may read. Params are the request's custom pull
	// parameters (see Config.ParameterDecoder). A row filtered out is not
	// sent again later unless it changes.
	FilterPull func(ctx context.Context, p PullContext, row any) bool
	// BeforeWrite validates or transforms an incoming change before it is
	// written. Changing *w.Row changes what is stored. An error refuses the
	// whole push (422, or 403 when it wraps ErrForbidden) and its message is
	// sent to the client.
	BeforeWrite func(ctx context.Context, w *Write) error
}

// PullContext is what a pull filter knows about the request.
type PullContext struct {
	// Identity is who pulls.
	Identity Identity
	// Params are the decoded custom pull parameters, or nil.
	Params any
}

// Op is the kind of an incoming change.
type Op int

// The kinds of change a push carries.
const (
	// OpCreate writes a row the server does not have.
	OpCreate Op = iota + 1
	// OpUpdate writes over a row the server has.
	OpUpdate
	// OpDelete soft-deletes a row.
	OpDelete
)

// String returns create, update or delete.
func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// Write is one incoming change offered to Hooks.BeforeWrite.
type Write struct {
	// Identity is who pushes.
	Identity Identity
	// Collection is the row's collection.
	Collection string
	// Op is what the change does.
	Op Op
	// ID is the row's id.
	ID uuid.UUID
	// Row is the incoming row (nil for OpDelete); the hook may change it.
	Row any
	// Existing is the row as the server has it (nil for OpCreate).
	Existing any
	// Absent names the user columns (device names) the pushing app's row
	// left out: its schema lacks them, or it pushed only the fields it
	// changed (a field push). In an update Row holds the server's values
	// of them, and the write leaves them as they are unless the hook
	// changes them; in a create, zero values.
	Absent []string
}

// Conflict is an incoming change to a row that changed on the server after
// the pushing client last pulled it.
type Conflict struct {
	// Identity is who pushes.
	Identity Identity
	// Collection is the row's collection.
	Collection string
	// Server is the row as the server has it.
	Server any
	// Incoming is the row the client sent. For a field push (the client
	// sent only the fields it changed, Changed) its other fields hold the
	// server's values: it is the row the default merge writes.
	Incoming any
	// Base is, for a field push, the row as the pushing device last saw
	// it from the server: Server's values but for the Changed fields,
	// which hold the device's base. Nil for a whole-row push.
	Base any
	// Changed names (device names, in column order) the fields the
	// pushing device changed, for a field push; nil for a whole-row push.
	Changed []string
	// ServerChanged names those of the Changed fields whose server value
	// differs from the base: another device changed them too. Changes of
	// the server's row to other fields are in Server, but the server does
	// not know the device's base of them.
	ServerChanged []string
	// ClientCheckpoint is what the client had pulled of the collection.
	ClientCheckpoint Checkpoint
	// ServerVersion is the version of the server's row.
	ServerVersion uint64
}

// Action is what a Resolver decides.
type Action int

// The decisions a Resolver can make.
const (
	// TakeIncoming writes the client's row (last writer wins); for a
	// field push, its changed fields.
	TakeIncoming Action = iota
	// KeepServer ignores the client's row; it is reported back as ignored.
	KeepServer
	// Merge writes Resolution.Row, which the pushing device then pulls
	// (every field of it, also for a field push).
	Merge
	// Refuse refuses the whole push with 409 and Resolution.Reason.
	Refuse
)

// Resolution is a Resolver's decision.
type Resolution struct {
	// Action is the decision.
	Action Action
	// Row is the merged row for Merge: a pointer to the model type.
	Row any
	// Reason explains a Refuse or KeepServer to the client.
	Reason string
}

// Resolver decides conflicts. It runs inside the push transaction; an error
// fails the push with 500.
type Resolver func(ctx context.Context, c Conflict) (Resolution, error)
