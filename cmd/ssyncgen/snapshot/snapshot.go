// Package snapshot is ssyncgen's schema snapshot: a JSON file beside the
// generated code (schema.ssync.json) that records the schema the code was
// generated for: every table with its columns (kinds, sizes, nullability,
// defaults, references) and indexes, the fingerprint and the app's schema version.
// It is committed with the generated code, so a model change shows up in
// review as a change of the snapshot, and ssyncgen reads it back at its next
// run to refuse a change that migrations at open cannot apply (Compare).
package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/templates"
)

// FileName is the snapshot's name in the output directory.
const FileName = "schema.ssync.json"

// Generator and Format mark a snapshot ssyncgen wrote, and its layout.
const (
	Generator = "ssyncgen"
	Format    = 1
)

// note is the snapshot's first field, for whoever opens the file.
const note = "Schema of the generated code, written by ssyncgen (go generate) and read back by its next run, " +
	"which refuses a model change that migrations at open cannot apply. Commit it with the generated code; do not edit."

// Snapshot is the schema of one output package.
type Snapshot struct {
	// Note says what the file is.
	Note string `json:"note"`
	// Generator is always "ssyncgen".
	Generator string `json:"generator"`
	// Format is the layout's version (Format).
	Format int `json:"format"`
	// SchemaVersion is the app's version of its models (-schema-version).
	SchemaVersion int `json:"schemaVersion"`
	// Fingerprint is ssync.SchemaFingerprint of the tables.
	Fingerprint string `json:"fingerprint"`
	// Tables are in the registry's order: by order, then name.
	Tables []Table `json:"tables"`
}

// Table is one synchronized table.
type Table struct {
	// Name is the collection and table name.
	Name string `json:"name"`
	// Model is the model type, package-qualified (models.Note).
	Model string `json:"model"`
	// Order is the foreign-key order.
	Order int `json:"order"`
	// Columns are the user columns in declaration order.
	Columns []Column `json:"columns"`
	// Indexes are the secondary indexes.
	Indexes []Index `json:"indexes,omitempty"`
}

// Column is one user column, as ssync.Column describes it, with the Go
// field it holds.
type Column struct {
	// Name is the device's column name.
	Name string `json:"name"`
	// Field is the Go field's path in the model (Audit.By).
	Field string `json:"field"`
	// Wire is the JSON field name.
	Wire string `json:"wire"`
	// Server is the server store's column name when it differs from Name.
	Server string `json:"server,omitempty"`
	// Kind is the storage kind (ssync.Kind's name).
	Kind string `json:"kind"`
	// Size is the width in bits, or a text column's maximum length.
	Size int `json:"size,omitempty"`
	// Nullable is true when the column accepts NULL.
	Nullable bool `json:"nullable"`
	// Default is the column's default as Go writes the value (0, "todo",
	// false), when the description has one; migrations at open give it to
	// the rows that exist when they add the column.
	Default string `json:"default,omitempty"`
	// Indexed is true when an index covers the column.
	Indexed bool `json:"indexed,omitempty"`
	// Ref is the referenced table of a foreign key.
	Ref string `json:"ref,omitempty"`
	// OnDelete is the reference's delete rule.
	OnDelete string `json:"onDelete,omitempty"`
	// Attachment is true for an attachment column.
	Attachment bool `json:"attachment,omitempty"`
}

// Index is one secondary index.
type Index struct {
	// Name is the index name.
	Name string `json:"name"`
	// Columns are the indexed columns.
	Columns []string `json:"columns"`
}

// Of returns the snapshot of m.
func Of(m *templates.Model) *Snapshot {
	s := &Snapshot{Note: note, Generator: Generator, Format: Format, SchemaVersion: m.SchemaVersion,
		Fingerprint: m.Fingerprint(), Tables: []Table{}}
	for _, t := range m.Tables {
		st := Table{Name: t.Collection, Model: t.ModelPkg + "." + t.GoName, Order: t.Order, Columns: []Column{}}
		for _, f := range t.Fields {
			st.Columns = append(st.Columns, column(f.Describe(), strings.Join(f.Path, ".")))
		}
		for _, ix := range t.Indexes {
			d := ix.Describe()
			st.Indexes = append(st.Indexes, Index{Name: d.Name, Columns: d.Columns})
		}
		s.Tables = append(s.Tables, st)
	}
	return s
}

func column(c ssync.Column, field string) Column {
	col := Column{Name: c.Name, Field: field, Wire: c.Wire, Server: c.Server, Kind: c.Kind.String(), Size: c.Size,
		Nullable: c.Nullable, Indexed: c.Indexed, Ref: c.Ref, OnDelete: string(c.OnDelete), Attachment: c.Attachment}
	if c.Default != nil {
		col.Default = fmt.Sprintf("%#v", c.Default)
	}
	return col
}

// Marshal returns the snapshot as indented JSON ending in a newline: the
// same bytes for the same models on every run.
func (s *Snapshot) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("schema snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrNotSnapshot is returned (wrapped) by Parse for content that is not a
// snapshot ssyncgen wrote.
var ErrNotSnapshot = errors.New("not a schema snapshot written by ssyncgen")

// IsSnapshot reports whether content is a snapshot ssyncgen wrote (of any
// format), so that ssyncgen may overwrite it.
func IsSnapshot(content []byte) bool {
	var head struct {
		Generator string `json:"generator"`
	}
	return json.Unmarshal(content, &head) == nil && head.Generator == Generator
}

// Parse reads a snapshot. It refuses content that is not a snapshot
// ssyncgen wrote, and a format this version does not read.
func Parse(content []byte) (*Snapshot, error) {
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSnapshot, err)
	}
	if s.Generator != Generator {
		return nil, fmt.Errorf("%w: generator %q", ErrNotSnapshot, s.Generator)
	}
	if s.Format != Format {
		return nil, fmt.Errorf("format %d of the schema snapshot is not %d, the one this ssyncgen reads", s.Format, Format)
	}
	return &s, nil
}

// Check reports how s differs from the schema a registry describes at run
// time (ssync.Registry.Schema) and from its fingerprint: nil when the
// snapshot describes exactly the tables, columns and indexes of the
// registry, with the registry's fingerprint. Tests of generated code call
// it to show that the committed snapshot is the schema the code runs with.
func (s *Snapshot) Check(reg *ssync.Registry) error {
	var errs []error
	if fp := reg.Fingerprint(); s.Fingerprint != fp {
		errs = append(errs, fmt.Errorf("fingerprint %s in the snapshot, %s in the registry", s.Fingerprint, fp))
	}
	schema := reg.Schema()
	if len(s.Tables) != len(schema) {
		errs = append(errs, fmt.Errorf("%d tables in the snapshot, %d in the registry", len(s.Tables), len(schema)))
	}
	for i := 0; i < len(s.Tables) && i < len(schema); i++ {
		st, rt := s.Tables[i], schema[i]
		if st.Name != rt.Name || st.Order != rt.Order {
			errs = append(errs, fmt.Errorf("table %d: %s (order %d) in the snapshot, %s (order %d) in the registry", i, st.Name, st.Order, rt.Name, rt.Order))
			continue
		}
		if len(st.Columns) != len(rt.Columns) {
			errs = append(errs, fmt.Errorf("table %s: %d columns in the snapshot, %d in the registry", st.Name, len(st.Columns), len(rt.Columns)))
		}
		for j := 0; j < len(st.Columns) && j < len(rt.Columns); j++ {
			want := column(rt.Columns[j], st.Columns[j].Field)
			if st.Columns[j] != want {
				errs = append(errs, fmt.Errorf("table %s column %d: %+v in the snapshot, %+v in the registry", st.Name, j, st.Columns[j], rt.Columns[j]))
			}
		}
		var idx []Index
		for _, ix := range rt.Indexes {
			idx = append(idx, Index{Name: ix.Name, Columns: ix.Columns})
		}
		if fmt.Sprint(idx) != fmt.Sprint(st.Indexes) {
			errs = append(errs, fmt.Errorf("table %s: indexes %v in the snapshot, %v in the registry", st.Name, st.Indexes, idx))
		}
	}
	return errors.Join(errs...)
}
