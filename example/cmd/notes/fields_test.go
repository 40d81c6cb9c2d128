package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// showNote runs show and decodes its JSON.
func (d *device) showNote(id string) map[string]any {
	d.t.Helper()
	out := d.must("show", id)
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil || strings.Count(out, "\n") != 1 {
		d.t.Fatalf("device %s: show printed %q, want one JSON object line (%v)", d.name, out, err)
	}
	return fields
}

// TestShowSet: show prints every field of a note, set changes one by its
// wire name (text as it is, others as JSON), and the change syncs; bad
// fields and values are refused with a message and change nothing.
func TestShowSet(t *testing.T) {
	srv := startServer(t)
	a := newDevice(t, "a", srv, "alice")
	b := newDevice(t, "b", srv, "alice")
	id := a.add("buy milk")

	got := a.showNote(id)
	if got["id"] != id || got["message"] != "buy milk" || got["completed"] != false || got["userName"] != "alice" {
		t.Fatalf("show printed %v", got)
	}
	a.must("set", id, "completed", "true")
	a.must("set", id, "message", "buy oat milk, 2 l")
	a.must("set", id, "userName", "5")
	got = a.showNote(id)
	if got["completed"] != true || got["message"] != "buy oat milk, 2 l" || got["userName"] != "5" || got["id"] != id {
		t.Fatalf("after set, show printed %v", got)
	}
	if list := a.must("list"); list != id+" [x] buy oat milk, 2 l\n" {
		t.Errorf("list after set: %q", list)
	}

	refused := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"set", id, "priority", "5"}, exitUsage, `a note has no field "priority" that set changes (fields: completed, message, userId, userName`},
		{[]string{"set", id, "id", "5"}, exitUsage, `a note has no field "id"`},
		{[]string{"set", id, "file", "null"}, exitUsage, `attach sets the file`},
		{[]string{"set", id, "completed", "yes"}, exitUsage, `completed takes a JSON value`},
		{[]string{"set", id, "completed", `"yes"`}, exitError, `set: completed: invalid value "yes"`},
		{[]string{"set", id, "message"}, exitUsage, `set takes three arguments`},
		{[]string{"show", "x"}, exitUsage, `invalid note id "x"`},
	}
	for _, r := range refused {
		code, out, errs := a.exec(r.args...)
		if code != r.code || out != "" || !strings.Contains(errs, r.msg) {
			t.Errorf("notes %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(r.args, " "), code, out, errs, r.code, r.msg)
		}
	}
	if after := a.showNote(id); after["completed"] != true || after["message"] != "buy oat milk, 2 l" {
		t.Errorf("a refused set changed the note: %v", after)
	}

	a.sync()
	b.sync()
	if onB := b.showNote(id); onB["message"] != "buy oat milk, 2 l" || onB["completed"] != true || onB["userName"] != "5" {
		t.Errorf("device b shows %v", onB)
	}
}
