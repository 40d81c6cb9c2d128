package templates

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/dave/jennifer/jen"
)

func schemaTable() *Table {
	t := &Table{
		GoName:     "Note",
		Collection: "notes",
		Fields: []*Field{
			{GoName: "Message", Column: "message", Wire: "message", Kind: KindString},
			{GoName: "Score", Column: "score", Wire: "score", Kind: KindFloat32, Repr: ReprPointer},
		},
	}
	t.DeriveNames()
	return t
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

// keyedTable has a foreign key, an index and a server column name.
func keyedTable() *Table {
	user := &Field{GoName: "UserID", Column: "user_id", Wire: "userId", Kind: KindUUID, Repr: ReprPointer, Index: true, Ref: "users"}
	title := &Field{GoName: "Title", Column: "title", Server: "note_title", Wire: "title", Kind: KindString, Index: true}
	t := &Table{
		GoName:     "Note",
		Collection: "notes",
		Fields:     []*Field{user, title},
	}
	t.DeriveNames()
	return t
}

func TestKeysIndexesAndServerNames(t *testing.T) {
	tbl := keyedTable()
	contains := func(target string, stmts []string, want ...string) {
		t.Helper()
		all := strings.Join(stmts, "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s DDL lacks %q:\n%s", target, w, all)
			}
		}
	}
	contains("client", clientSQLite(tbl),
		`"user_id" TEXT REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED,`,
		"\"title\" TEXT NOT NULL,\n",
		`CREATE INDEX IF NOT EXISTS "notes_user_id" ON "notes" ("user_id")`,
		`CREATE INDEX IF NOT EXISTS "notes_title" ON "notes" ("title")`)
	contains("server SQLite", serverSQLite(tbl),
		`"note_title" TEXT NOT NULL,`,
		`CREATE INDEX IF NOT EXISTS "notes_title" ON "notes" ("note_title")`)
	contains("PostgreSQL", serverPostgres(tbl),
		`"user_id" UUID REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED,`,
		`"note_title" TEXT NOT NULL,`,
		`CREATE INDEX IF NOT EXISTS "notes_title" ON "notes" ("note_title")`)
	contains("MySQL", serverMySQL(tbl),
		"`note_title` VARCHAR(255) NOT NULL,",
		"INDEX `notes_title` (`note_title`)",
		"FOREIGN KEY (`user_id`) REFERENCES `users` (`id`)")
	for _, stmt := range clientSQLite(tbl) {
		if strings.Contains(stmt, "note_title") {
			t.Errorf("the device DDL uses the server's column name: %s", stmt)
		}
	}
}
