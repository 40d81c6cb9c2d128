package templates

import (
	"reflect"
	"strings"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// RecordColumn is a metadata column that the embedded ssync.Record gives
// every table.
type RecordColumn struct {
	// Field is the ssync.Record field, e.g. "CreatedAt".
	Field string
	// Type spells the field's type, e.g. "time.Time", read from
	// ssync.Record itself.
	Type string
	// Column and Wire are the column's name and its name on the wire.
	Column, Wire string
	// OrderBy is set for the columns that generated repositories have an
	// OrderBy constant for; Doc then describes the column.
	OrderBy bool
	Doc     string
}

// RecordColumns lists the columns of ssync.Record in field order. The names
// are the runtime's own constants; TestRecordColumns checks the list
// against the struct.
var RecordColumns = recordColumns()

func recordColumns() []RecordColumn {
	cols := []RecordColumn{
		{Field: "ID", Column: ssync.ColumnID, Wire: ssync.WireID, OrderBy: true, Doc: "the row's id"},
		{Field: "CreatedAt", Column: ssync.ColumnCreatedAt, Wire: ssync.WireCreatedAt, OrderBy: true, Doc: "when the row was created"},
		{Field: "UpdatedAt", Column: ssync.ColumnUpdatedAt, Wire: ssync.WireUpdatedAt, OrderBy: true, Doc: "when the row was last changed"},
		{Field: "DeletedAt", Column: ssync.ColumnDeletedAt, Wire: ssync.WireDeletedAt},
		{Field: "SyncID", Column: ssync.ColumnSyncID, Wire: ssync.WireSyncID},
	}
	rec := reflect.TypeFor[ssync.Record]()
	for i := range cols {
		if f, ok := rec.FieldByName(cols[i].Field); ok {
			cols[i].Type = f.Type.String()
		}
	}
	return cols
}

// ReservedPrefix starts the names of the columns the runtime adds to a
// table besides those of ssync.Record (ss_sync_id, ss_dirty, ss_version,
// ...): no user column may start with it.
const ReservedPrefix = "ss_"

// ReservedColumn reports whether name is a column name the sync machinery
// uses: a column of ssync.Record, or one starting with ReservedPrefix.
func ReservedColumn(name string) bool {
	if strings.HasPrefix(name, ReservedPrefix) {
		return true
	}
	for _, rc := range RecordColumns {
		if rc.Column == name {
			return true
		}
	}
	return false
}

// ReservedWire reports whether name is the wire name of a column of
// ssync.Record.
func ReservedWire(name string) bool {
	for _, rc := range RecordColumns {
		if rc.Wire == name {
			return true
		}
	}
	return false
}

// RecordField returns the column of the ssync.Record field named name.
func RecordField(name string) (RecordColumn, bool) {
	for _, rc := range RecordColumns {
		if rc.Field == name {
			return rc, true
		}
	}
	return RecordColumn{}, false
}

// clientRepoMethods are the methods of client.Repo, which every generated
// repository embeds. TestClientRepoMethods checks the list against the
// method set of *client.Repo.
var clientRepoMethods = []string{"After", "AttachWith", "Count", "Delete", "Get", "Insert", "OpenWith", "Select", "Table", "Update", "Watch"}

// orderByMethod is the repository method that takes typed column constants.
const orderByMethod = "OrderBy"

// fieldsMethod is the repository method that returns the typed columns.
const fieldsMethod = "Fields"

// RepoMethods returns the methods every generated repository has besides
// the per-field ones (WhereXxx, ByXxx, Attach, Open): client.Repo's and
// OrderBy.
func RepoMethods() []string {
	return append(append([]string(nil), clientRepoMethods...), orderByMethod, fieldsMethod)
}

// onDeleteRules are the values of `ondelete=`, each with the runtime
// constant generated code writes it as. The golden case "relations" uses
// every one, so a renamed constant fails its build.
var onDeleteRules = []struct {
	rule  ssync.OnDelete
	konst string
}{
	{ssync.OnDeleteCascade, "OnDeleteCascade"},
	{ssync.OnDeleteRestrict, "OnDeleteRestrict"},
	{ssync.OnDeleteSetNull, "OnDeleteSetNull"},
}

// OnDeleteRule returns the rule that `ondelete=<s>` names.
func OnDeleteRule(s string) (ssync.OnDelete, bool) {
	for _, r := range onDeleteRules {
		if string(r.rule) == s {
			return r.rule, true
		}
	}
	return "", false
}

// OnDeleteRules lists the values `ondelete=` takes, for messages:
// "cascade, restrict or setnull".
func OnDeleteRules() string {
	var names []string
	for _, r := range onDeleteRules {
		names = append(names, string(r.rule))
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// onDeleteConst returns the runtime constant of rule; empty for no rule.
func onDeleteConst(rule ssync.OnDelete) string {
	for _, r := range onDeleteRules {
		if r.rule == rule {
			return r.konst
		}
	}
	return ""
}

// DeriveNames computes every identifier, file name and index name generated
// for t from its Go name, collection and fields. Index names come from
// runtime/ssync's naming functions, which the runtimes use for the indexes
// they add themselves. The loader calls it once
// the fields are filled; emitters and checks read the results and derive
// nothing themselves.
func (t *Table) DeriveNames() {
	t.TableFunc = t.GoName + "Table"
	t.RepoType = t.GoName + "Repo"
	t.Accessor = "Sync" + Plural(t.GoName)
	t.Lower = LowerCamel(t.GoName)
	t.FileName = SnakeCase(t.GoName) + ".ssync.go"
	t.RecordFunc = t.Lower + "Record"
	t.ValuesFunc = t.Lower + "Values"
	t.TargetsFunc = t.Lower + "Targets"
	t.Encode = "encode" + t.GoName
	t.Decode = "decode" + t.GoName
	t.ColumnType = t.GoName + "Column"
	t.FieldsType = t.GoName + "Fields"
	t.MetaColumns = nil
	for _, rc := range RecordColumns {
		if rc.OrderBy {
			t.MetaColumns = append(t.MetaColumns, MetaColumn{Column: rc.Column, Const: t.ColumnType + rc.Field, Doc: rc.Doc})
		}
	}
	t.DirtyIndex = ssync.DirtyIndexName(t.Collection)
	t.ScopeIndex = ssync.ScopeIndexName(t.Collection)
	t.VersionIndex = ssync.VersionIndexName(t.Collection)
	t.Indexes = nil
	var attachments []*Field
	for _, f := range t.Fields {
		f.Const = t.ColumnType + f.GoName
		f.Where, f.By = "", ""
		if f.Index {
			f.Where = "Where" + f.GoName
			f.By = "By" + f.GoName
			t.Indexes = append(t.Indexes, &Index{Name: ssync.IndexName(t.Collection, f.Column), Field: f})
		}
		f.OnDeleteConst = onDeleteConst(f.OnDelete)
		f.Attach, f.Open, f.ContentIndex = "", "", ""
		if f.Attachment {
			attachments = append(attachments, f)
			f.ContentIndex = ssync.ContentIndexName(t.Collection, f.Column)
		}
	}
	for _, f := range attachments {
		// One attachment field: Attach and Open; several: AttachXxx and
		// OpenXxx.
		f.Attach, f.Open = "Attach", "Open"
		if len(attachments) > 1 {
			f.Attach, f.Open = "Attach"+f.GoName, "Open"+f.GoName
		}
	}
	t.AttachmentsFunc = ""
	if len(attachments) > 0 {
		t.AttachmentsFunc = t.Lower + "Attachments"
	}
}

// Idents returns the package-level identifiers generated for t: functions,
// types and constants.
func (t *Table) Idents() []string {
	ids := []string{t.TableFunc, t.RepoType, t.Accessor, t.ColumnType, t.FieldsType,
		t.RecordFunc, t.ValuesFunc, t.TargetsFunc, t.Encode, t.Decode}
	if t.AttachmentsFunc != "" {
		ids = append(ids, t.AttachmentsFunc)
	}
	for _, mc := range t.MetaColumns {
		ids = append(ids, mc.Const)
	}
	for _, f := range t.Fields {
		ids = append(ids, f.Const)
	}
	return ids
}

// IndexNames returns the name of every index created for t, on the device
// or in a server store.
func (t *Table) IndexNames() []string {
	names := []string{t.DirtyIndex, t.ScopeIndex, t.VersionIndex}
	for _, ix := range t.Indexes {
		names = append(names, ix.Name)
	}
	for _, f := range t.Fields {
		if f.ContentIndex != "" {
			names = append(names, f.ContentIndex)
		}
	}
	return names
}

// ServerIndexNames returns the names of the indexes created for t in a
// server store, whose names PostgreSQL and MySQL limit to 63 characters.
func (t *Table) ServerIndexNames() []string {
	names := []string{t.VersionIndex}
	for _, ix := range t.Indexes {
		names = append(names, ix.Name)
	}
	return names
}
