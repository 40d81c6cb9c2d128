// Package conflict is ssync's conflict policy, in one place: what the
// server does with a pushed write given what it stores of the row, and what
// a pull sends a device of a row. Both are pure functions of the row's
// server-side state (owner, deleted, the version and device of its last
// write, the version and device that created it), the pushing or pulling
// device and its checkpoint.
//
// The rules:
//
//   - Ownership: a row is written only by its owner or a user linked to it.
//     A write of a row the pusher may not write is refused the same way
//     whether its pushed owner is a stranger or its id is held by a
//     stranger's row; a delete of a stranger's row changes nothing, as the
//     delete of an id the server does not have.
//   - Delete wins: a write to a row deleted on the server is ignored (and
//     reported), however late the delete committed; the delete is sent to
//     the writing device again (the store stamps the tombstone anew).
//   - Last writer wins in server order. A write to a row that another device
//     changed after the pushing device's checkpoint is a conflict: the
//     server's resolver, when it has one, decides; without one the write
//     wins.
//   - Per field: an update that carries only the fields the device changed,
//     with the values it had seen of them (a field push), changes only
//     those fields; the others keep the server's values, so concurrent
//     edits of different fields both survive. The same field changed on
//     both sides: last writer wins, reported as overwritten (MergeFields).
//     A merged row goes back to the pushing device on its next pull.
//   - No echo: a pull leaves out the rows the pulling device wrote last, and
//     rows created and deleted since its checkpoint by other devices (it
//     never saw them).
//
// The store (runtime/server) applies these decisions inside its push and
// pull transactions, and the simulation's model (internal/sim) checks the
// server's answers against them. Devices follow the mirror rule when they
// apply a pull: a pulled row never overwrites a local change that has not
// been pushed yet (runtime/client).
package conflict

// Row is what the server stores of a row when a push or a pull reaches it.
type Row struct {
	// Found is false when the server has no such row; the other fields are
	// then zero.
	Found bool
	// Owner is the row's owner (its syncId).
	Owner string
	// Deleted reports a soft-deleted row (a tombstone).
	Deleted bool
	// Version is the version of the push that wrote the row last, Writer
	// the device that pushed it ("" when unknown, or for a merge).
	Version uint64
	Writer  string
	// CreatedVersion is the version of the push that created the row,
	// Origin the device that pushed it.
	CreatedVersion uint64
	Origin         string
}

// Push describes one pushed row.
type Push struct {
	// Delete is true for a delete, false for a create or an update.
	Delete bool
	// Owner is the owner the pushed row names (for a write; the store has
	// already filled in the pushing user when it named none).
	Owner string
	// Device is the pushing device ("" when it sent no id).
	Device string
	// Since is the version of the checkpoint the device had pulled for
	// the row's collection.
	Since uint64
	// Fields is true for a field push: an update that carries only the
	// fields the device changed (see Fields).
	Fields bool
}

// Verdict is what the server does with a pushed row.
type Verdict int

const (
	// Refuse: the row (stored or pushed) belongs to a user the pusher may
	// not write for. The answer is the same for a stored row and a pushed
	// owner: it must not tell which.
	Refuse Verdict = iota + 1
	// Insert: a new row.
	Insert
	// Overwrite: the write replaces the stored row (last writer wins).
	Overwrite
	// Conflict: the stored row changed after the device's checkpoint, by
	// another device. The resolver decides; without one, Overwrite.
	Conflict
	// IgnoreDeleted: the row is deleted on the server; delete wins, and
	// the write is reported as ignored.
	IgnoreDeleted
	// MarkDeleted: the delete is applied.
	MarkDeleted
	// Nothing: a delete of a row the server lacks, has deleted already, or
	// that belongs to a user the pusher may not write for (answered alike,
	// so that a delete does not tell whether a stranger's row exists).
	Nothing
)

var verdictNames = [...]string{Refuse: "refuse", Insert: "insert", Overwrite: "overwrite", Conflict: "conflict",
	IgnoreDeleted: "ignore-deleted", MarkDeleted: "mark-deleted", Nothing: "nothing"}

// String returns the verdict's name, e.g. "ignore-deleted".
func (v Verdict) String() string {
	if v > 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(?)"
}

// Decide returns what the server does with pushed row p given what it
// stores, r. may reports whether the pushing user may write for an owner
// (itself or a linked user).
func Decide(r Row, p Push, may func(owner string) bool) Verdict {
	if p.Delete {
		if !r.Found || !may(r.Owner) || r.Deleted {
			// Deleting what the server never had, or what the pusher cannot
			// see, changes nothing, and says so the same way.
			return Nothing
		}
		return MarkDeleted
	}
	if !may(p.Owner) || (r.Found && !may(r.Owner)) {
		return Refuse
	}
	switch {
	case !r.Found && p.Fields:
		// A device pushes fields only of rows the server acknowledged: one
		// the server lacks was deleted and purged since. Delete wins.
		return IgnoreDeleted
	case !r.Found:
		return Insert
	case r.Deleted:
		return IgnoreDeleted
	case Changed(r, p.Device, p.Since):
		return Conflict
	}
	return Overwrite
}

// Changed reports whether stored row r changed after checkpoint since by a
// device other than device (any device, when device is "").
func Changed(r Row, device string, since uint64) bool {
	return r.Found && r.Version > since && (device == "" || r.Writer != device)
}

// Send is what a pull sends a device of a row.
type Send int

const (
	// Omit: the device has the row as it is (it wrote it last), or never
	// saw a row that was created and deleted since its checkpoint.
	Omit Send = iota
	// Created: a row new to the device.
	Created
	// Updated: a row the device had.
	Updated
	// Deleted: a row the device had, now deleted.
	Deleted
)

var sendNames = [...]string{Omit: "omit", Created: "created", Updated: "updated", Deleted: "deleted"}

// String returns the kind's name, e.g. "created".
func (s Send) String() string {
	if s >= 0 && int(s) < len(sendNames) {
		return sendNames[s]
	}
	return "send(?)"
}

// Pull returns what a pull by device, from checkpoint version since, sends
// of stored row r (r.Found must be true). A device that sends no id ("")
// is taken to be none of the writers. Rows it classes Created or Updated
// still pass the collection's pull filter, if any.
func Pull(r Row, device string, since uint64) Send {
	newToDevice := r.CreatedVersion > since
	switch {
	case device != "" && r.Writer == device:
		return Omit
	case r.Deleted && newToDevice && (device == "" || r.Origin != device):
		return Omit
	case r.Deleted:
		return Deleted
	case newToDevice:
		return Created
	}
	return Updated
}

// Fields is what the server does with a field push: an update that carries
// only the fields the device changed, each with the value the device had
// last seen from the server (its base).
//
// The rules, per field:
//
//   - Fields the push leaves out keep the server's values: concurrent edits
//     of different fields of one row both survive.
//   - A pushed field is written (last writer wins in server order). When
//     the server's value differs from the pushed base and the row was last
//     written by another device, another device changed the field since
//     the pushing device saw it: the field is reported as overwritten.
//   - When the row changed after the pushing device's checkpoint by another
//     device (a Conflict verdict), the written row combines the server's
//     fields with the pushed ones: it is merged, and the pushing device
//     pulls it back (it lacks the other device's fields).
//
// Delete still wins: a field push of a deleted row is IgnoreDeleted as
// any write.
type Fields struct {
	// Merged reports that the written row holds fields the pushing device
	// has not seen: the device must pull it back.
	Merged bool
	// Overwritten are the pushed fields (their positions in the push's
	// list) whose server value another device had changed since the
	// pushing device's base.
	Overwritten []int
}

// MergeFields returns what a field push does to stored row r, whose verdict
// (Decide) is v, Overwrite or Conflict. differs reports for each pushed
// field, by position, whether the server's value differs from the pushed
// base.
func MergeFields(r Row, p Push, v Verdict, differs []bool) Fields {
	var f Fields
	f.Merged = v == Conflict
	if p.Device != "" && r.Writer == p.Device {
		// The last write is the pushing device's own: a value that differs
		// from the base is its own earlier push, not a concurrent edit.
		return f
	}
	for i, d := range differs {
		if d {
			f.Overwritten = append(f.Overwritten, i)
		}
	}
	return f
}
