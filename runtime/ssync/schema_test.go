package ssync_test

import (
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/ssync"
)

type row struct{ ssync.Record }

func table(cols []ssync.Column, indexes ...ssync.Index) *ssync.Table[row] {
	return &ssync.Table[row]{Name: "rows", Order: 1, Columns: cols, Indexes: indexes}
}

func TestRegistryChecksSchema(t *testing.T) {
	text := ssync.Column{Name: "title", Wire: "title", Kind: ssync.KindText}
	for _, tc := range []struct {
		name string
		tbl  *ssync.Table[row]
		want string // "" when the table is fine
	}{
		{"ok", table([]ssync.Column{text,
			{Name: "n", Kind: ssync.KindInt, Size: 16, Default: int64(0)},
			{Name: "u", Kind: ssync.KindUint, Size: 64, Default: uint64(1)},
			{Name: "f", Kind: ssync.KindFloat, Size: 32, Nullable: true},
			{Name: "code", Kind: ssync.KindText, Size: 8, Default: "", Indexed: true},
		}, ssync.Index{Name: "rows_code", Columns: []string{"code"}}), ""},
		{"no kind", table([]ssync.Column{{Name: "title"}}), `column "title": invalid kind 0`},
		{"unknown kind", table([]ssync.Column{{Name: "title", Kind: ssync.KindJSON + 1}}), `invalid kind 10`},
		{"int size", table([]ssync.Column{{Name: "n", Kind: ssync.KindInt}}), `int of 0 bits`},
		{"float size", table([]ssync.Column{{Name: "f", Kind: ssync.KindFloat, Size: 16}}), `float of 16 bits`},
		{"sized time", table([]ssync.Column{{Name: "at", Kind: ssync.KindTime, Size: 6}}), `kind time takes no size`},
		{"default type", table([]ssync.Column{{Name: "b", Kind: ssync.KindBool, Default: int64(0)}}), `does not suit kind bool`},
		{"signed default", table([]ssync.Column{{Name: "n", Kind: ssync.KindInt, Size: 8, Default: uint64(1)}}), `does not suit kind int`},
		{"index on unknown column", table([]ssync.Column{text}, ssync.Index{Name: "rows_x", Columns: []string{"x"}}), `index "rows_x": unknown column "x"`},
		{"index without Indexed", table([]ssync.Column{text}, ssync.Index{Name: "rows_title", Columns: []string{"title"}}), `Indexed is false but the indexes say true`},
		{"ondelete without ref", table([]ssync.Column{{Name: "p", Kind: ssync.KindUUID, Nullable: true, OnDelete: ssync.OnDeleteSetNull}}), `references no table`},
		{"setnull not nullable", table([]ssync.Column{{Name: "p", Kind: ssync.KindUUID, Ref: "rows", OnDelete: ssync.OnDeleteSetNull}}), `setnull on a column that is not nullable`},
		{"unknown ondelete", table([]ssync.Column{{Name: "p", Kind: ssync.KindUUID, Ref: "rows", OnDelete: "drop"}}), `unknown OnDelete "drop"`},
		{"Indexed without index", table([]ssync.Column{{Name: "title", Kind: ssync.KindText, Indexed: true}}), `Indexed is true but the indexes say false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ssync.NewRegistry(tc.tbl)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewRegistry: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("NewRegistry: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[ssync.Kind]string{
		ssync.KindText: "text", ssync.KindUint: "uint", ssync.KindUUID: "uuid", ssync.KindJSON: "json", 0: "Kind(0)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestRecordColumns(t *testing.T) {
	cols := ssync.RecordColumns()
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
		if c.Kind == 0 {
			t.Errorf("record column %s has no kind", c.Name)
		}
	}
	if got, want := strings.Join(names, ","), "id,created_at,updated_at,deleted_at,ss_sync_id"; got != want {
		t.Errorf("RecordColumns: %s, want %s", got, want)
	}
	cols[0].Name = "changed"
	if ssync.RecordColumns()[0].Name != ssync.ColumnID {
		t.Error("RecordColumns returns a shared slice")
	}
}
