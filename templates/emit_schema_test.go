package templates

import (
	"bytes"
	"slices"
	"testing"

	"github.com/dave/jennifer/jen"
)

func schemaTable() *Table {
	return &Table{
		GoName:     "Note",
		Collection: "notes",
		Fields: []*Field{
			{GoName: "Message", Column: "message", Wire: "message", Kind: KindString},
			{GoName: "Score", Column: "score", Wire: "score", Kind: KindFloat32, Repr: ReprPointer},
		},
	}
}

func TestClientSQLite(t *testing.T) {
	got := clientSQLite(schemaTable())
	want := []string{
		"CREATE TABLE IF NOT EXISTS \"notes\" (\n" +
			"\t\"id\" TEXT NOT NULL PRIMARY KEY,\n" +
			"\t\"created_at\" TIMESTAMP NOT NULL,\n" +
			"\t\"updated_at\" TIMESTAMP NOT NULL,\n" +
			"\t\"deleted_at\" TIMESTAMP,\n" +
			"\t\"ss_sync_id\" TEXT NOT NULL,\n" +
			"\t\"message\" TEXT NOT NULL,\n" +
			"\t\"score\" REAL,\n" +
			"\t\"ss_dirty\" INTEGER NOT NULL DEFAULT 0,\n" +
			"\t\"ss_known\" INTEGER NOT NULL DEFAULT 0\n" +
			")",
		`CREATE INDEX IF NOT EXISTS "notes_ss_dirty" ON "notes" ("ss_dirty") WHERE "ss_dirty" > 0`,
		`CREATE INDEX IF NOT EXISTS "notes_ss_scope" ON "notes" ("ss_sync_id", "created_at")`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("clientSQLite:\n%q\nwant\n%q", got, want)
	}
}

func TestServerSQLite(t *testing.T) {
	got := serverSQLite(schemaTable())
	want := []string{
		"CREATE TABLE IF NOT EXISTS \"notes\" (\n" +
			"\t\"id\" TEXT NOT NULL PRIMARY KEY,\n" +
			"\t\"created_at\" TIMESTAMP NOT NULL,\n" +
			"\t\"updated_at\" TIMESTAMP NOT NULL,\n" +
			"\t\"deleted_at\" TIMESTAMP,\n" +
			"\t\"ss_sync_id\" TEXT NOT NULL,\n" +
			"\t\"message\" TEXT NOT NULL,\n" +
			"\t\"score\" REAL,\n" +
			"\t\"ss_version\" INTEGER NOT NULL,\n" +
			"\t\"ss_created_version\" INTEGER NOT NULL,\n" +
			"\t\"ss_origin\" TEXT NOT NULL DEFAULT '',\n" +
			"\t\"ss_writer\" TEXT NOT NULL DEFAULT ''\n" +
			")",
		`CREATE INDEX IF NOT EXISTS "notes_ss_version" ON "notes" ("ss_sync_id", "ss_version")`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("serverSQLite:\n%q\nwant\n%q", got, want)
	}
}

func TestSQLiteTypes(t *testing.T) {
	for k, want := range map[Kind]string{
		KindString: "TEXT", KindUUID: "TEXT", KindBool: "BOOLEAN", KindInt: "INTEGER", KindInt8: "INTEGER",
		KindInt16: "INTEGER", KindInt32: "INTEGER", KindInt64: "INTEGER", KindUint: "INTEGER", KindUint8: "INTEGER",
		KindUint16: "INTEGER", KindUint32: "INTEGER", KindUint64: "INTEGER", KindFloat32: "REAL",
		KindFloat64: "REAL", KindTime: "TIMESTAMP", KindBytes: "BLOB",
	} {
		if got := sqliteType(k); got != want {
			t.Errorf("sqliteType(%d) = %q, want %q", k, got, want)
		}
	}
}

func TestRawString(t *testing.T) {
	for in, want := range map[string]string{
		`a "b"`:  "`a \"b\"`",
		"a\nb":   "`a\nb`",
		"a`b":    "\"a`b\"",
		`quo"te`: "`quo\"te`",
	} {
		var buf bytes.Buffer
		if err := jen.Var().Id("_").Op("=").Add(rawString(in)).Render(&buf); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != "var _ = "+want {
			t.Errorf("rawString(%q) renders %q, want %q", in, got, "var _ = "+want)
		}
	}
}
