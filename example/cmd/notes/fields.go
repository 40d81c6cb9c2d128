package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// show and set work on a note's fields by their wire names, through the
// generated codec (generated.NoteTable's Encode and Decode), so that a
// field added to models.Note is shown and set by a rebuilt binary without
// a change here.

// noteJSON returns the note as the wire carries it: one JSON object with
// every field the app's model has.
func noteJSON(note *models.Note) ([]byte, error) {
	var w jwriter.Writer
	generated.NoteTable().Encode(&w, note)
	return w.BuildBytes()
}

func (a *app) show(ctx context.Context, id uuid.UUID) error {
	note, err := a.get(ctx, "show", id)
	if err != nil {
		return err
	}
	b, err := noteJSON(note)
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// settable returns the column of the note field set may change, by its
// wire name: a user field that is not an attachment.
func settable(wireName string) (ssync.Column, error) {
	var names []string
	for _, c := range generated.NoteTable().Columns {
		if c.Attachment {
			continue
		}
		if c.Wire == wireName {
			return c, nil
		}
		names = append(names, c.Wire)
	}
	slices.Sort(names)
	return ssync.Column{}, usagef("set: a note has no field %q that set changes (fields: %s; attach sets the file)", wireName, strings.Join(names, ", "))
}

// fieldValue turns set's argument into the field's JSON value: a text
// field takes the argument as it is; any other field takes a JSON value
// (5, true, null, "a1b2...").
func fieldValue(c ssync.Column, arg string) (json.RawMessage, error) {
	if c.Kind == ssync.KindText && !c.Nullable {
		b, err := json.Marshal(arg)
		return b, err
	}
	if !json.Valid([]byte(arg)) {
		return nil, usagef("set: %s takes a JSON value (e.g. 5, true, null or a quoted string), not %q", c.Wire, arg)
	}
	return json.RawMessage(arg), nil
}

func (a *app) set(ctx context.Context, id uuid.UUID, c ssync.Column, value json.RawMessage) error {
	note, err := a.get(ctx, "set", id)
	if err != nil {
		return err
	}
	b, err := noteJSON(note)
	if err != nil {
		return fmt.Errorf("set: %w", err)
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	fields[c.Wire] = value
	if b, err = json.Marshal(fields); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	changed := *note
	l := jlexer.Lexer{Data: b}
	if err := generated.NoteTable().Decode(&l, &changed, ssync.DecodeOptions{Strict: true}); err != nil {
		return fmt.Errorf("set: %s: invalid value %s: %w", c.Wire, value, err)
	}
	if err := a.notes.Update(ctx, &changed); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	return nil
}
