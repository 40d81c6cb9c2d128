package storetest

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite" // the device's driver
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/ssyncimpl"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Node is the row of every table of Relations: a title and two references.
type Node struct {
	ssync.Record
	Title string
	A, B  *uuid.UUID
}

// RelTable returns the descriptor of one table of Relations:
//
//	rel_project                                 (no references)
//	rel_task     a → rel_project (cascade), b → rel_task (cascade: subtasks)
//	rel_tag      a → rel_project (setnull)
//	rel_comment  a → rel_task (restrict)
func RelTable(name string) *ssync.Table[Node] {
	switch name {
	case "rel_task":
		return relTable(name, 2, "rel_project", ssync.OnDeleteCascade, "rel_task", ssync.OnDeleteCascade)
	case "rel_tag":
		return relTable(name, 2, "rel_project", ssync.OnDeleteSetNull, "", "")
	case "rel_comment":
		return relTable(name, 3, "rel_task", ssync.OnDeleteRestrict, "", "")
	}
	return relTable("rel_project", 1, "", "", "", "")
}

// Relations is a schema of references of every ondelete rule, a
// self-reference included, independent of the example app.
func Relations(t testing.TB) *ssync.Registry {
	t.Helper()
	reg, err := ssync.NewRegistry(RelTable("rel_project"), RelTable("rel_task"), RelTable("rel_tag"), RelTable("rel_comment"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func relTable(name string, order int, refA string, ruleA ssync.OnDelete, refB string, ruleB ssync.OnDelete) *ssync.Table[Node] {
	col := func(n, ref string, rule ssync.OnDelete) ssync.Column {
		return ssync.Column{Name: n, Wire: n, Kind: ssync.KindUUID, Nullable: true, Indexed: ref != "", Ref: ref, OnDelete: rule}
	}
	t := &ssync.Table[Node]{Name: name, Order: order,
		Columns: []ssync.Column{{Name: "title", Wire: "title", Kind: ssync.KindText}, col("a", refA, ruleA), col("b", refB, ruleB)},
		Record:  func(r *Node) *ssync.Record { return &r.Record },
		Values:  func(r *Node, dst []any) []any { return append(dst, r.Title, r.A, r.B) },
		Targets: func(r *Node, dst []any) []any { return append(dst, &r.Title, &r.A, &r.B) },
		Encode:  encodeNode,
		Decode:  decodeNode,
	}
	for _, c := range t.Columns {
		if c.Ref != "" {
			t.Indexes = append(t.Indexes, ssync.Index{Name: name + "_" + c.Name, Columns: []string{c.Name}})
		}
	}
	return t
}

func encodeNode(w *jwriter.Writer, r *Node) {
	ssyncimpl.WriteRecord(w, &r.Record)
	w.RawString(`,"title":`)
	w.String(r.Title)
	w.RawString(`,"a":`)
	ssyncimpl.WritePtr(w, r.A, ssyncimpl.WriteUUID)
	w.RawString(`,"b":`)
	ssyncimpl.WritePtr(w, r.B, ssyncimpl.WriteUUID)
	w.RawByte('}')
}

func decodeNode(l *jlexer.Lexer, r *Node, opts ssync.DecodeOptions) error {
	l.Delim('{')
	for l.Ok() && !l.IsDelim('}') {
		key := l.UnsafeFieldName(false)
		l.WantColon()
		switch key {
		case "title":
			r.Title = l.String()
		case "a":
			r.A = ssyncimpl.ReadPtr(l, ssyncimpl.ReadUUID)
		case "b":
			r.B = ssyncimpl.ReadPtr(l, ssyncimpl.ReadUUID)
		default:
			if !ssyncimpl.ReadRecordField(l, &r.Record, key) {
				ssyncimpl.UnknownField(l, key, opts)
			}
		}
		if !l.Ok() {
			return ssyncimpl.NewFieldError(key, l.Error())
		}
		l.WantComma()
	}
	l.Delim('}')
	return l.Error()
}

// Device opens a device database of reg in a temporary folder, signed in
// as user, closed when the test ends.
func Device(t testing.TB, reg *ssync.Registry, user string) *client.DB {
	t.Helper()
	d, err := client.Open(context.Background(), filepath.Join(t.TempDir(), "device.db"), reg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetUser(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	return d
}

// Sync returns the options that sync a device with the server at url as
// user (server.InsecureHeaderAuth).
func Sync(url, user string) client.SyncOptions {
	return client.SyncOptions{ServerURL: url, RetryDelay: 1, Decorate: func(r *http.Request) error {
		r.Header.Set(wire.HeaderUser, user)
		return nil
	}}
}
