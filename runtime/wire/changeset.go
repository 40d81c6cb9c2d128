package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// ChangeSet is the changes of one collection: one element of the wire array.
type ChangeSet struct {
	// Collection is the collection name.
	Collection string
	// Checkpoint is the server checkpoint the changes lead to (in a pull
	// response) or the checkpoint the client last pulled (in a push body).
	// It is the "timestamp" field on the wire (as in SSync); checkpoints are
	// opaque strings the server makes, never clocks.
	Checkpoint string
	// Created holds rows new to the receiver, as pointers to the model type.
	Created []any
	// Updated holds rows the receiver already had, as pointers to the model
	// type.
	Updated []any
	// Deleted holds the ids of deleted rows.
	Deleted []uuid.UUID
	// DeletedAt holds, when not nil, when each row of Deleted was deleted,
	// one entry per id (the "deletedAt" object on the wire, keyed by id; see
	// EncodeDeletedAt). A zero time is not known: the sender (an older
	// client or server) did not say, and is left out of the object.
	DeletedAt []time.Time
	// Absent lists, for the rows of Created and Updated (by pointer) whose
	// object leaves out some of the collection's user fields, the device
	// names of those columns, in column order: the sender's schema lacks
	// them (an older app), or the sender does not know their values. The
	// encoder leaves them out; the decoder fills it under
	// ssync.DecodeOptions.TrackAbsent. Nil when every row is whole.
	Absent map[any][]string
	// Fields holds, for the rows of Updated pushed as field changes (a
	// field push), the fields the device changed and the values it last
	// saw of them from the server. The encoder writes such a row with only
	// its record fields and its changed fields, and their values seen in
	// the change set's "base" object, keyed by row id; the decoder fills
	// it from that object. Nil when every row is pushed whole.
	Fields map[any]*FieldChange
}

// FieldChange is what a field push says of one updated row.
type FieldChange struct {
	// Changed are the device names of the user columns the device
	// changed, in column order.
	Changed []string
	// Base is a row (a pointer to the model type) whose Changed fields
	// hold the values the device last saw from the server; its other
	// fields mean nothing.
	Base any
}

// Len returns the number of rows and ids in the change set.
func (c *ChangeSet) Len() int { return len(c.Created) + len(c.Updated) + len(c.Deleted) }

// EncodeChangeSet writes one change set object. Rows are encoded by coll.
func EncodeChangeSet(w *jwriter.Writer, coll ssync.Collection, cs *ChangeSet) {
	w.RawString(`{"collection":`)
	w.String(cs.Collection)
	w.RawString(`,"timestamp":`)
	w.String(cs.Checkpoint)
	w.RawString(`,"changes":{"created":[`)
	for i, row := range cs.Created {
		if i > 0 {
			w.RawByte(',')
		}
		encodeRow(w, coll, row, cs.Absent[row])
	}
	w.RawString(`],"updated":[`)
	for i, row := range cs.Updated {
		if i > 0 {
			w.RawByte(',')
		}
		if f := cs.Fields[row]; f != nil {
			encodeFields(w, coll, row, f.Changed, cs.Absent[row], true)
		} else {
			encodeRow(w, coll, row, cs.Absent[row])
		}
	}
	w.RawString(`],"deleted":[`)
	for i, id := range cs.Deleted {
		if i > 0 {
			w.RawByte(',')
		}
		WriteUUID(w, id)
	}
	w.RawByte(']')
	n := 0
	for i, at := range cs.DeletedAt {
		if i >= len(cs.Deleted) || at.IsZero() {
			continue
		}
		if n == 0 {
			w.RawString(`,"deletedAt":{`)
		} else {
			w.RawByte(',')
		}
		EncodeDeletedAt(w, cs.Deleted[i], at)
		n++
	}
	if n > 0 {
		w.RawByte('}')
	}
	w.RawByte('}')
	if len(cs.Fields) > 0 {
		encodeBase(w, coll, cs)
	}
	w.RawByte('}')
}

// EncodeDeletedAt writes one member of a change set's "deletedAt" object:
// the id of a deleted row and when it was deleted, in UTC.
func EncodeDeletedAt(w *jwriter.Writer, id uuid.UUID, at time.Time) {
	WriteUUID(w, id)
	w.RawByte(':')
	var buf [40]byte
	b := append(buf[:0], '"')
	b = at.UTC().AppendFormat(b, TimeLayout)
	w.Buffer.AppendBytes(append(b, '"'))
}

// EncodeChangeSets writes the whole wire array. Every change set's
// collection must be in reg.
func EncodeChangeSets(w *jwriter.Writer, reg *ssync.Registry, sets []ChangeSet) error {
	w.RawByte('[')
	for i := range sets {
		coll, err := reg.Lookup(sets[i].Collection)
		if err != nil {
			return err
		}
		if i > 0 {
			w.RawByte(',')
		}
		EncodeChangeSet(w, coll, &sets[i])
	}
	w.RawByte(']')
	return w.Error
}

// ErrMalformed is wrapped by every error about a change-set document that is
// not well formed or does not fit the schema.
var ErrMalformed = errors.New("malformed change set")

// DecodeError tells where in a change-set document decoding failed.
type DecodeError struct {
	// Collection is the change set's collection, when known.
	Collection string
	// Part is "created", "updated" or "deleted", when inside changes.
	Part string
	// Index is the row's position within Part, or -1.
	Index int
	// ID is the row's id, when the error is about a row that was read
	// whole (uuid.Nil otherwise).
	ID uuid.UUID
	// Err is what went wrong.
	Err error
}

// invalidUTF8At returns the offset of the first byte of data that is not
// part of a valid UTF-8 sequence.
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// Error names the change set and says what is wrong.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("malformed change set")
	if e.Collection != "" {
		fmt.Fprintf(&b, ": collection %q", echo.Clip(e.Collection))
	}
	if e.Part != "" {
		fmt.Fprintf(&b, ": %s", e.Part)
		if e.Index >= 0 {
			fmt.Fprintf(&b, "[%d]", e.Index)
		}
	}
	if e.ID != uuid.Nil {
		fmt.Fprintf(&b, " row %s", e.ID)
	}
	fmt.Fprintf(&b, ": %s", lexerReason(e.Err))
	return b.String()
}

// Unwrap returns the cause and [ErrMalformed], so both match with errors.Is.
func (e *DecodeError) Unwrap() []error { return []error{e.Err, ErrMalformed} }

// DecodeChangeSets reads a whole wire array. Every collection must be in reg
// (else the error wraps [ssync.ErrUnknownCollection]) and appear once; rows
// are decoded by the collection's generated decoder with opts.
func DecodeChangeSets(data []byte, reg *ssync.Registry, opts ssync.DecodeOptions) ([]ChangeSet, error) {
	// The rows are decoded in one pass by lenient lexers; the text is
	// checked apart (UTF-8 and strict JSON), on another core for a large
	// body, and a failed check wins over the decoder's error.
	checked := make(chan error, 1)
	if len(data) >= concurrentCheck {
		go func() { checked <- checkText(data) }()
	} else {
		checked <- checkText(data)
	}
	sets, err := decodeSets(data, reg, opts)
	cerr := <-checked
	var invalidUTF8 *invalidUTF8Error
	if errors.As(cerr, &invalidUTF8) {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	return sets, nil
}

// concurrentCheck is the body size from which DecodeChangeSets checks the
// text while it decodes the rows.
const concurrentCheck = 64 << 10

// invalidUTF8Error is the error of a body that is not UTF-8.
type invalidUTF8Error struct{ at int }

func (e *invalidUTF8Error) Error() string {
	return fmt.Sprintf("the body is not valid UTF-8 (first invalid byte at offset %d)", e.at)
}

// checkText checks that data is UTF-8 and JSON as RFC 8259 has it (the
// row decoders take some malformed text, such as a raw control character
// in a string).
func checkText(data []byte) error {
	if !utf8.Valid(data) {
		// JSON text is UTF-8 (RFC 8259); the decoder would pass the bytes
		// through to the store, which keeps or refuses them per database.
		return &DecodeError{Index: -1, Err: &invalidUTF8Error{at: invalidUTF8At(data)}}
	}
	if json.Valid(data) {
		return nil
	}
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		return &DecodeError{Index: -1, Err: fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())}
	}
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return &DecodeError{Index: -1, Err: err}
}

// decodeSets decodes the wire array of data (see DecodeChangeSets),
// without checking its text.
func decodeSets(data []byte, reg *ssync.Registry, opts ssync.DecodeOptions) ([]ChangeSet, error) {
	l := &jlexer.Lexer{Data: data}
	var sets []ChangeSet
	seen := make(map[string]bool)
	if l.IsNull() {
		return nil, &DecodeError{Index: -1, Err: errors.New("expected an array of change sets, got null")}
	}
	l.Delim('[')
	if !l.Ok() {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, &DecodeError{Index: -1, Err: errors.New("empty body: expected a JSON array of change sets")}
		}
		return nil, &DecodeError{Index: -1, Err: errors.New("expected a JSON array of change sets")}
	}
	for l.Ok() && !l.IsDelim(']') {
		cs, err := decodeChangeSet(l, reg, opts)
		if err != nil {
			return nil, err
		}
		if seen[cs.Collection] {
			return nil, &DecodeError{Collection: cs.Collection, Index: -1, Err: errors.New("collection appears twice")}
		}
		seen[cs.Collection] = true
		sets = append(sets, cs)
		l.WantComma()
	}
	l.Delim(']')
	l.Consumed()
	if err := l.Error(); err != nil {
		return nil, &DecodeError{Index: -1, Err: err}
	}
	return sets, nil
}

func decodeChangeSet(l *jlexer.Lexer, reg *ssync.Registry, opts ssync.DecodeOptions) (ChangeSet, error) {
	var cs ChangeSet
	var coll ssync.Collection
	var changes, base []byte
	var deletedAt map[uuid.UUID]time.Time
	haveCollection, haveChanges, decoded, null := false, false, false, false
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeFieldName(false)
		l.WantColon()
		switch key {
		case "collection", "changes":
			// The rows of "changes" are decoded as the collection says:
			// each key once.
			if key == "collection" && haveCollection || key == "changes" && haveChanges {
				return cs, &DecodeError{Collection: cs.Collection, Index: -1, Err: fmt.Errorf("%q appears twice in a change set", key)}
			}
		}
		switch key {
		case "collection":
			cs.Collection = l.String()
			haveCollection = true
		case "timestamp":
			if l.IsNull() {
				l.Skip()
			} else {
				cs.Checkpoint = l.String()
			}
		case "changes":
			haveChanges = true
			if l.IsNull() {
				l.Skip()
				null = true
				break
			}
			if !haveCollection || !l.Ok() {
				// The collection comes later: keep the changes until it
				// is known.
				changes = l.Raw()
				break
			}
			// The collection came first (as every encoder here writes
			// it): decode the rows in place, in one pass over them.
			var err error
			if coll, err = lookupCollection(reg, cs.Collection); err != nil {
				return cs, err
			}
			if deletedAt, err = decodeChanges(l, coll, opts, &cs); err != nil {
				return cs, err
			}
			decoded = true
		case "base":
			base = l.Raw()
		default:
			if opts.Strict {
				l.AddError(fmt.Errorf("%w %q in change set", ErrUnknownField, echo.Clip(key)))
			} else {
				l.SkipRecursive()
			}
		}
		if !l.Ok() {
			return cs, &DecodeError{Collection: cs.Collection, Index: -1, Err: l.Error()}
		}
		l.WantComma()
	}
	l.Delim('}')
	if err := l.Error(); err != nil {
		return cs, &DecodeError{Collection: cs.Collection, Index: -1, Err: err}
	}
	if !haveCollection || cs.Collection == "" {
		return cs, &DecodeError{Index: -1, Err: errors.New(`missing "collection"`)}
	}
	if coll == nil {
		var err error
		if coll, err = lookupCollection(reg, cs.Collection); err != nil {
			return cs, err
		}
	}
	if !haveChanges {
		if base != nil {
			return cs, &DecodeError{Collection: cs.Collection, Part: "base", Index: -1, Err: errors.New(`"base" without "changes"`)}
		}
		return cs, nil
	}
	if null {
		return cs, nil
	}
	if !decoded {
		cl := &jlexer.Lexer{Data: changes}
		var err error
		if deletedAt, err = decodeChanges(cl, coll, opts, &cs); err != nil {
			return cs, err
		}
	}
	if err := pairDeletedAt(&cs, deletedAt, opts.Strict); err != nil {
		return cs, err
	}
	if base != nil {
		if err := decodeBase(base, coll, opts, &cs); err != nil {
			return cs, err
		}
	}
	return cs, nil
}

// lookupCollection returns the collection name names in reg, or a
// DecodeError naming it (cut short: the name is the sender's).
func lookupCollection(reg *ssync.Registry, name string) (ssync.Collection, error) {
	coll, err := reg.Lookup(name)
	if err != nil {
		if errors.Is(err, ssync.ErrUnknownCollection) {
			err = fmt.Errorf("%w %q", ssync.ErrUnknownCollection, echo.Clip(name))
		}
		return nil, &DecodeError{Collection: name, Index: -1, Err: err}
	}
	return coll, nil
}

// decodeChanges reads a change set's "changes" object from cl into cs,
// and returns the deletedAt stamps it names, paired with the deleted ids by
// the caller.
func decodeChanges(cl *jlexer.Lexer, coll ssync.Collection, opts ssync.DecodeOptions, cs *ChangeSet) (map[uuid.UUID]time.Time, error) {
	var deletedAt map[uuid.UUID]time.Time
	cl.Delim('{')
	for cl.Ok() && !cl.IsDelim('}') {
		part := strings.Clone(cl.UnsafeFieldName(false))
		cl.WantColon()
		switch part {
		case "created", "updated":
			rows, err := decodeRows(cl, coll, part, opts, cs)
			if err != nil {
				return nil, err
			}
			if part == "created" {
				cs.Created = rows
			} else {
				cs.Updated = rows
			}
		case "deleted":
			ids, err := decodeIDs(cl, cs.Collection)
			if err != nil {
				return nil, err
			}
			cs.Deleted = ids
		case "deletedAt":
			var err error
			if deletedAt, err = decodeDeletedAt(cl, cs.Collection); err != nil {
				return nil, err
			}
		default:
			if opts.Strict {
				cl.AddError(fmt.Errorf("%w %q in changes (want created, updated, deleted, deletedAt)", ErrUnknownField, echo.Clip(part)))
			} else {
				cl.SkipRecursive()
			}
		}
		if !cl.Ok() {
			return nil, &DecodeError{Collection: cs.Collection, Part: part, Index: -1, Err: cl.Error()}
		}
		cl.WantComma()
	}
	cl.Delim('}')
	if err := cl.Error(); err != nil {
		return nil, &DecodeError{Collection: cs.Collection, Index: -1, Err: err}
	}
	return deletedAt, nil
}

// decodeDeletedAt reads a "deletedAt" object: deleted row ids to times.
func decodeDeletedAt(l *jlexer.Lexer, collection string) (map[uuid.UUID]time.Time, error) {
	fail := func(err error) error {
		return &DecodeError{Collection: collection, Part: "deletedAt", Index: -1, Err: err}
	}
	if l.IsNull() {
		l.Skip()
		return nil, nil
	}
	out := map[uuid.UUID]time.Time{}
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeFieldName(false)
		id, err := uuid.Parse(key)
		if err != nil {
			return nil, fail(fmt.Errorf("invalid UUID %q", echo.Clip(key)))
		}
		l.WantColon()
		s := l.UnsafeString()
		if !l.Ok() {
			return nil, fail(fmt.Errorf("row %s: %w", id, l.Error()))
		}
		at, err := ParseTime(s)
		if err != nil {
			return nil, fail(fmt.Errorf("row %s: %w", id, err))
		}
		out[id] = at
		l.WantComma()
	}
	l.Delim('}')
	if err := l.Error(); err != nil {
		return nil, fail(err)
	}
	return out, nil
}

// pairDeletedAt fills cs.DeletedAt from the "deletedAt" object, in the
// order of cs.Deleted. A strict decoder refuses a time for an id that
// "deleted" does not hold.
func pairDeletedAt(cs *ChangeSet, deletedAt map[uuid.UUID]time.Time, strict bool) error {
	if len(deletedAt) == 0 {
		return nil
	}
	cs.DeletedAt = make([]time.Time, len(cs.Deleted))
	for i, id := range cs.Deleted {
		cs.DeletedAt[i] = deletedAt[id]
	}
	if strict {
		in := make(map[uuid.UUID]bool, len(cs.Deleted))
		for _, id := range cs.Deleted {
			in[id] = true
		}
		for id := range deletedAt {
			if !in[id] {
				return &DecodeError{Collection: cs.Collection, Part: "deletedAt", Index: -1,
					Err: fmt.Errorf("row %s is not in \"deleted\"", id)}
			}
		}
	}
	return nil
}

func decodeRows(l *jlexer.Lexer, coll ssync.Collection, part string, opts ssync.DecodeOptions, cs *ChangeSet) ([]any, error) {
	if l.IsNull() {
		l.Skip()
		return nil, nil
	}
	var rows []any
	l.Delim('[')
	for l.Ok() && !l.IsDelim(']') {
		var absent []string
		if opts.TrackAbsent {
			absent = absentFields(*l, coll)
		}
		row := coll.NewRow()
		if err := coll.DecodeRow(l, row, opts); err != nil {
			return nil, &DecodeError{Collection: coll.CollectionName(), Part: part, Index: len(rows), Err: err}
		}
		id := coll.RecordOf(row).ID
		if id == uuid.Nil {
			return nil, &DecodeError{Collection: coll.CollectionName(), Part: part, Index: len(rows), Err: errors.New(`missing or nil "id"`)}
		}
		if opts.RefuseNUL {
			if err := checkNUL(coll, row); err != nil {
				return nil, &DecodeError{Collection: coll.CollectionName(), Part: part, Index: len(rows), ID: id, Err: err}
			}
		}
		if absent != nil {
			if cs.Absent == nil {
				cs.Absent = map[any][]string{}
			}
			cs.Absent[row] = absent
		}
		rows = append(rows, row)
		l.WantComma()
	}
	l.Delim(']')
	if err := l.Error(); err != nil {
		return nil, &DecodeError{Collection: coll.CollectionName(), Part: part, Index: len(rows), Err: err}
	}
	return rows, nil
}

func decodeIDs(l *jlexer.Lexer, collection string) ([]uuid.UUID, error) {
	if l.IsNull() {
		l.Skip()
		return nil, nil
	}
	var ids []uuid.UUID
	l.Delim('[')
	for l.Ok() && !l.IsDelim(']') {
		id := ReadUUID(l)
		if !l.Ok() {
			return nil, &DecodeError{Collection: collection, Part: "deleted", Index: len(ids), Err: l.Error()}
		}
		ids = append(ids, id)
		l.WantComma()
	}
	l.Delim(']')
	if err := l.Error(); err != nil {
		return nil, &DecodeError{Collection: collection, Part: "deleted", Index: len(ids), Err: err}
	}
	return ids, nil
}
