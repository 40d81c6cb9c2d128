package sqlddl

import (
	"slices"
	"testing"

	"github.com/ssync-go/ssync/runtime/ssync"
)

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"", "''"}, {"it's", "'it''s'"}, {true, "TRUE"}, {false, "FALSE"},
		{int64(-3), "-3"}, {uint64(1 << 63), "9223372036854775808"}, {0.5, "0.5"},
	} {
		if got := Literal(tc.v); got != tc.want {
			t.Errorf("Literal(%#v) = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestCreate(t *testing.T) {
	got := Create(Table{
		Name: `t"1`,
		Columns: []ssync.Column{
			{Name: "id", Kind: ssync.KindUUID},
			{Name: "parent", Kind: ssync.KindUUID, Nullable: true, Ref: "p"},
			{Name: "n", Kind: ssync.KindInt, Size: 32, Default: int64(7)},
		},
		PrimaryKey: []string{"id"},
		Indexes: []Index{
			{Name: "t_parent", Columns: []string{"parent"}},
			{Name: "t_n", Columns: []string{"n", "id"}, Where: `"n" > 0`},
		},
	}, Quote, SQLiteType)
	want := []string{
		"CREATE TABLE IF NOT EXISTS \"t\"\"1\" (\n" +
			"\t\"id\" TEXT NOT NULL PRIMARY KEY,\n" +
			"\t\"parent\" TEXT REFERENCES \"p\" (\"id\") DEFERRABLE INITIALLY DEFERRED,\n" +
			"\t\"n\" INTEGER NOT NULL DEFAULT 7\n" +
			")",
		`CREATE INDEX IF NOT EXISTS "t_parent" ON "t""1" ("parent")`,
		`CREATE INDEX IF NOT EXISTS "t_n" ON "t""1" ("n", "id") WHERE "n" > 0`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Create:\n%q\nwant\n%q", got, want)
	}
}
