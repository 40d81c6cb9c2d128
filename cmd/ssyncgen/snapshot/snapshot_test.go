package snapshot

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// notes reads the snapshot of the example notes app (generated/).
func notes(t *testing.T) *Snapshot {
	t.Helper()
	b, err := os.ReadFile("../../../generated/" + FileName)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Fatal("the snapshot does not marshal back to the same bytes")
	}
	return s
}

// col returns the column name of table in s, failing when it is not
// there.
func col(t *testing.T, s *Snapshot, table, name string) *Column {
	t.Helper()
	for i := range s.Tables {
		if s.Tables[i].Name == table {
			for j := range s.Tables[i].Columns {
				if s.Tables[i].Columns[j].Name == name {
					return &s.Tables[i].Columns[j]
				}
			}
		}
	}
	t.Fatalf("no column %s.%s", table, name)
	return nil
}

func TestCompare(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, s *Snapshot)
		// want are the refused changes' keys and a word of each problem.
		want map[string]string
	}{
		{"nothing", func(*testing.T, *Snapshot) {}, nil},
		{"additive", func(t *testing.T, s *Snapshot) {
			note := &s.Tables[1]
			note.Columns = append(note.Columns,
				Column{Name: "priority", Field: "Priority", Wire: "priority", Kind: "int", Size: 64},
				Column{Name: "parent", Field: "Parent", Wire: "parent", Kind: "uuid", Nullable: true, Indexed: true, Ref: "ss_tb_note"})
			note.Indexes = nil
			note.Order = 7
			col(t, s, "ss_tb_note", "user_id").OnDelete = "setnull"
			col(t, s, "ss_tb_note", "message").Indexed = true
			s.Tables = append(s.Tables, Table{Name: "ss_tb_tag", Model: "models.Tag", Order: 3,
				Columns: []Column{{Name: "note_id", Wire: "noteId", Kind: "uuid", Ref: "ss_tb_note"}}})
		}, nil},
		{"type", func(t *testing.T, s *Snapshot) { c := col(t, s, "ss_tb_user", "age"); c.Kind, c.Size = "text", 0 },
			map[string]string{"ss_tb_user.age": "changed type: int(64) in the snapshot, text in the model"}},
		{"size", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_user", "age").Size = 32 },
			map[string]string{"ss_tb_user.age": "int(64) in the snapshot, int(32)"}},
		{"notnull", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_note", "user_id").Nullable = false },
			map[string]string{"ss_tb_note.user_id": "was nullable and is NOT NULL"}},
		{"nullable", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_user", "name").Nullable = true },
			map[string]string{"ss_tb_user.name": "was NOT NULL and is nullable"}},
		{"wire", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_user", "name").Wire = "fullName" },
			map[string]string{"ss_tb_user.name": `wire name from "name" to "fullName"`}},
		{"server", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_user", "name").Server = "full_name" },
			map[string]string{"ss_tb_user.name": `server column from "name" to "full_name"`}},
		{"ref", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_note", "user_id").Ref = "ss_tb_note" },
			map[string]string{"ss_tb_note.user_id": "references ss_tb_user in the snapshot, ss_tb_note"}},
		{"refnotnull", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_note", "message").Ref = "ss_tb_user" },
			map[string]string{"ss_tb_note.message": "NOT NULL, gained a reference"}},
		{"attachment", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_note", "file").Attachment = false },
			map[string]string{"ss_tb_note.file": "between an attachment and a plain value"}},
		{"removed", func(t *testing.T, s *Snapshot) {
			s.Tables[0].Columns = s.Tables[0].Columns[:1]
			s.Tables = s.Tables[:1]
		}, map[string]string{"ss_tb_user.age": "is no longer in model models.User", "ss_tb_note": "no longer in the models"}},
		{"renamed", func(t *testing.T, s *Snapshot) { col(t, s, "ss_tb_user", "age").Name = "years" },
			map[string]string{"ss_tb_user.age": "field Age (wire \"age\") is no longer"}},
		{"newrefnotnull", func(t *testing.T, s *Snapshot) {
			s.Tables[1].Columns = append(s.Tables[1].Columns, Column{Name: "owner_id", Field: "OwnerID", Wire: "ownerId", Kind: "uuid", Ref: "ss_tb_user"})
		}, map[string]string{"ss_tb_note.owner_id": "new NOT NULL reference to ss_tb_user"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev, cur := notes(t), notes(t)
			c.change(t, cur)
			got := Compare(prev, cur)
			var keys []string
			for _, ch := range got {
				keys = append(keys, ch.Key())
				want, ok := c.want[ch.Key()]
				if !ok {
					t.Errorf("refused %s: %v", ch.Key(), ch)
					continue
				}
				msg := ch.Error()
				if !strings.Contains(msg, want) || !strings.Contains(msg, "-accept "+ch.Key()) {
					t.Errorf("%s: %q does not say %q and how to accept it", ch.Key(), msg, want)
				}
			}
			for key := range c.want {
				if !slices.Contains(keys, key) {
					t.Errorf("%s is not refused (refused: %v)", key, keys)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{`{"tables": []}`, `not json`, `{"generator": "ssyncgen", "format": 1, "extra": 1}`} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), ErrNotSnapshot.Error()) {
			t.Errorf("Parse(%s) = %v, want %v", bad, err, ErrNotSnapshot)
		}
	}
	if _, err := Parse([]byte(`{"generator": "ssyncgen", "format": 2}`)); err == nil || !strings.Contains(err.Error(), "format 2") {
		t.Errorf("a format-2 snapshot: %v", err)
	}
	if !IsSnapshot([]byte(`{"generator": "ssyncgen", "format": 2}`)) || IsSnapshot([]byte(`{"tables": []}`)) {
		t.Error("IsSnapshot does not tell a snapshot from other JSON")
	}
}

// TestCheck: Check finds every difference between a snapshot and a
// registry's schema description.
func TestCheck(t *testing.T) {
	s := notes(t)
	text := ssync.Column{Name: "name", Wire: "name", Kind: ssync.KindText}
	reg, err := ssync.NewRegistry(&ssync.Table[struct{}]{Name: "ss_tb_user", Order: 1, Columns: []ssync.Column{text}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check(reg)
	for _, want := range []string{"fingerprint " + s.Fingerprint + " in the snapshot", "2 tables in the snapshot, 1 in the registry", "table ss_tb_user: 2 columns in the snapshot, 1 in the registry"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v, want %q", err, want)
		}
	}
	s.Tables = s.Tables[:1]
	s.Tables[0].Columns = s.Tables[0].Columns[:1]
	s.Fingerprint = reg.Fingerprint()
	if err := s.Check(reg); err != nil {
		t.Errorf("Check of a matching snapshot: %v", err)
	}
	s.Tables[0].Columns[0].Size = 10
	if err := s.Check(reg); err == nil || !strings.Contains(err.Error(), "table ss_tb_user column 0") {
		t.Errorf("Check of a changed column = %v", err)
	}
	s.Tables[0].Columns[0].Size = 0
	s.Tables[0].Columns[0].Default = `"nobody"`
	if err := s.Check(reg); err == nil || !strings.Contains(err.Error(), "table ss_tb_user column 0") {
		t.Errorf("Check of a snapshot with a default the registry lacks = %v", err)
	}
	if got := column(ssync.Column{Name: "n", Kind: ssync.KindInt, Size: 64, Default: int64(7)}, "N").Default; got != "7" {
		t.Errorf("an int64 default is written %q, want 7", got)
	}
}
