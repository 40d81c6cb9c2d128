package templates

import (
	"go/types"
	"reflect"
	"slices"
	"testing"

	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Every kind has its row in the table of kinds, and the loader finds each
// basic and named base type again.
func TestKinds(t *testing.T) {
	if got, want := len(kinds), int(KindJSON)+1; got != want {
		t.Fatalf("kinds has %d rows, want one per Kind (%d)", got, want)
	}
	for k := range Kind(len(kinds)) {
		ki := k.info()
		if ki.name == "" || !ki.storage.Valid() {
			t.Errorf("kind %d has no name or no storage kind: %+v", k, *ki)
		}
		// The column description generated for the kind passes the
		// runtime's checks.
		storage, size := k.Storage()
		if storageConst(storage) == "" {
			t.Errorf("kind %s: storage kind %s has no constant name", k, storage)
		}
		col := ssync.Column{Name: "c", Kind: storage, Size: size}
		if _, err := ssync.NewRegistry(&ssync.Table[struct{ ssync.Record }]{Name: "t", Columns: []ssync.Column{col}}); err != nil {
			t.Errorf("kind %s: %v", k, err)
		}
		if k == KindJSON {
			continue
		}
		if ki.base == nil || ki.codec == "" {
			t.Errorf("kind %s has no base type or codec", k)
		}
		if ki.basic != types.Invalid {
			if got, ok := KindOfBasic(ki.basic); !ok || got != k {
				t.Errorf("KindOfBasic(%v) = %s, %v; want %s", ki.basic, got, ok, k)
			}
		}
		if ki.pkgPath != "" {
			if got, ok := KindOfNamed(ki.pkgPath, ki.typeName); !ok || got != k {
				t.Errorf("KindOfNamed(%s, %s) = %s, %v; want %s", ki.pkgPath, ki.typeName, got, ok, k)
			}
		}
	}
	if _, ok := KindOfBasic(types.Complex128); ok {
		t.Error("KindOfBasic(complex128) found a kind")
	}
	if _, ok := KindOfNamed("", ""); ok {
		t.Error("KindOfNamed of no type found a kind")
	}
}

// storageConsts names every storage kind, each once.
func TestStorageConsts(t *testing.T) {
	seen := map[string]bool{}
	for k := ssync.KindText; k.Valid(); k++ {
		name := storageConst(k)
		if name == "" || seen[name] {
			t.Errorf("storage kind %s has constant name %q", k, name)
		}
		seen[name] = true
	}
}

// RecordColumns lists the fields of ssync.Record, in order, with their
// types.
func TestRecordColumns(t *testing.T) {
	rec := reflect.TypeFor[ssync.Record]()
	if len(RecordColumns) != rec.NumField() {
		t.Fatalf("RecordColumns has %d columns, ssync.Record %d fields", len(RecordColumns), rec.NumField())
	}
	for i, rc := range RecordColumns {
		f := rec.Field(i)
		if rc.Field != f.Name || rc.Type != f.Type.String() || rc.Column == "" || rc.Wire == "" {
			t.Errorf("RecordColumns[%d] = %+v, ssync.Record's field %d is %s %s", i, rc, i, f.Name, f.Type)
		}
		if !ReservedColumn(rc.Column) || !ReservedWire(rc.Wire) {
			t.Errorf("%s: column %q or wire name %q is not reserved", rc.Field, rc.Column, rc.Wire)
		}
	}
	for _, name := range []string{"ss_dirty", "ss_version", "ss_anything"} {
		if !ReservedColumn(name) {
			t.Errorf("ReservedColumn(%q) = false", name)
		}
	}
	for _, name := range []string{"message", "identity", "sync_id"} {
		if ReservedColumn(name) {
			t.Errorf("ReservedColumn(%q) = true", name)
		}
	}
}

// clientRepoMethods is the method set of client.Repo, which generated
// repositories embed.
func TestClientRepoMethods(t *testing.T) {
	repo := reflect.TypeFor[*client.Repo[struct{}]]()
	var got []string
	for i := range repo.NumMethod() {
		got = append(got, repo.Method(i).Name)
	}
	if !slices.Equal(got, clientRepoMethods) {
		t.Errorf("client.Repo has the methods %v; clientRepoMethods lists %v", got, clientRepoMethods)
	}
}

func TestDeriveNames(t *testing.T) {
	file := &Field{GoName: "File", Column: "file", Kind: KindJSON, Repr: ReprPointer, Attachment: true}
	user := &Field{GoName: "UserID", Column: "user_id", Kind: KindUUID, Repr: ReprPointer, Index: true, Ref: "users"}
	tbl := &Table{GoName: "Category", Collection: "cats", Fields: []*Field{file, user}}
	tbl.DeriveNames()
	tbl.DeriveNames() // idempotent
	if got, want := tbl.Idents(), []string{"CategoryTable", "CategoryRepo", "SyncCategories", "CategoryColumn", "CategoryFields",
		"categoryRecord", "categoryValues", "categoryTargets", "encodeCategory", "decodeCategory", "categoryAttachments",
		"CategoryColumnID", "CategoryColumnCreatedAt", "CategoryColumnUpdatedAt", "CategoryColumnFile", "CategoryColumnUserID"}; !slices.Equal(got, want) {
		t.Errorf("Idents() = %v\nwant %v", got, want)
	}
	if got, want := tbl.IndexNames(), []string{"cats_ss_dirty", "cats_ss_scope", "cats_ss_version", "cats_user_id", "cats_file_content"}; !slices.Equal(got, want) {
		t.Errorf("IndexNames() = %v, want %v", got, want)
	}
	if got, want := tbl.ServerIndexNames(), []string{"cats_ss_version", "cats_user_id"}; !slices.Equal(got, want) {
		t.Errorf("ServerIndexNames() = %v, want %v", got, want)
	}
	if tbl.FileName != "category.ssync.go" || file.Attach != "Attach" || file.Open != "Open" || user.Where != "WhereUserID" || user.By != "ByUserID" || file.Where != "" {
		t.Errorf("derived %q, %q %q, %q %q, %q", tbl.FileName, file.Attach, file.Open, user.Where, user.By, file.Where)
	}
}

// Every ondelete rule is one of the runtime's, named once, and derived to
// its constant; a field without one gets none.
func TestOnDeleteRules(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range onDeleteRules {
		if got, ok := OnDeleteRule(string(r.rule)); !ok || got != r.rule {
			t.Errorf("OnDeleteRule(%q) = %q, %v", r.rule, got, ok)
		}
		if r.konst == "" || seen[r.konst] {
			t.Errorf("rule %q has constant name %q", r.rule, r.konst)
		}
		seen[r.konst] = true
		// The runtime accepts the rule on a nullable reference.
		col := ssync.Column{Name: "p", Kind: ssync.KindUUID, Nullable: true, Indexed: true, Ref: "t", OnDelete: r.rule}
		tbl := &ssync.Table[struct{ ssync.Record }]{Name: "t", Columns: []ssync.Column{col},
			Indexes: []ssync.Index{{Name: "t_p", Columns: []string{"p"}}}}
		if _, err := ssync.NewRegistry(tbl); err != nil {
			t.Errorf("rule %q: %v", r.rule, err)
		}
	}
	for _, s := range []string{"", "drop", "Cascade", "set_null"} {
		if _, ok := OnDeleteRule(s); ok {
			t.Errorf("OnDeleteRule(%q) found a rule", s)
		}
	}
	if got, want := OnDeleteRules(), "cascade, restrict or setnull"; got != want {
		t.Errorf("OnDeleteRules() = %q, want %q", got, want)
	}
	set := &Field{GoName: "ParentID", Kind: KindUUID, Repr: ReprPointer, Ref: "tasks", OnDelete: ssync.OnDeleteSetNull}
	plain := &Field{GoName: "OwnerID", Kind: KindUUID, Ref: "people"}
	(&Table{GoName: "Task", Collection: "tasks", Fields: []*Field{set, plain}}).DeriveNames()
	if set.OnDeleteConst != "OnDeleteSetNull" || plain.OnDeleteConst != "" {
		t.Errorf("derived %q and %q, want OnDeleteSetNull and nothing", set.OnDeleteConst, plain.OnDeleteConst)
	}
}
