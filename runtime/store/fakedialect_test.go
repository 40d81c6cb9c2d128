package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
	_ "github.com/ssync-go/ssync/runtime/client/sqlite"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// A fourth dialect, defined in this file alone: no generated code changes
// and nothing is regenerated. It spells its own column types (after
// Oracle's) and writes its own CREATE TABLE (the primary and foreign keys as
// named table constraints). It runs on SQLite, which takes any type name, so
// it keeps SQLite's statements for the store's own work.
func fakeDialect() store.Dialect {
	d := ssqlite.Dialect()
	d.Name = "fake"
	d.ColumnType = fakeType
	d.CreateTable = fakeCreateTable
	return d
}

func fakeType(c ssync.Column) string {
	switch c.Kind {
	case ssync.KindText:
		if c.Size > 0 {
			return fmt.Sprintf("VARCHAR2(%d)", c.Size)
		}
		return "CLOB"
	case ssync.KindBool:
		return "BOOLEAN"
	case ssync.KindInt:
		return map[int]string{8: "NUMBER(3)", 16: "NUMBER(5)", 32: "NUMBER(10)", 64: "NUMBER(19)"}[c.Size]
	case ssync.KindUint:
		return map[int]string{8: "NUMBER(3)", 16: "NUMBER(5)", 32: "NUMBER(10)", 64: "NUMBER(20)"}[c.Size]
	case ssync.KindFloat:
		if c.Size == 32 {
			return "BINARY_FLOAT"
		}
		return "BINARY_DOUBLE"
	case ssync.KindTime:
		return "DATETIME" // go-sqlite3 reads it back as a time
	case ssync.KindBytes:
		return "BLOB"
	case ssync.KindUUID:
		return "CHAR(36)"
	}
	return "CLOB" // KindJSON
}

func fakeCreateTable(t store.TableDef) []string {
	q := func(n string) string { return `"` + n + `"` }
	var defs, keys []string
	for _, c := range t.Columns {
		def := q(c.Name) + " " + fakeType(c)
		if c.Default != nil {
			def += fmt.Sprintf(" DEFAULT '%v'", c.Default)
		}
		if !c.Nullable {
			def += " NOT NULL"
		}
		defs = append(defs, def)
		if c.Ref != "" {
			keys = append(keys, fmt.Sprintf("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s) DEFERRABLE INITIALLY DEFERRED",
				q(t.Name+"_"+c.Name+"_fk"), q(c.Name), q(c.Ref), q(ssync.ColumnID)))
		}
	}
	pk := make([]string, len(t.PrimaryKey))
	for i, c := range t.PrimaryKey {
		pk[i] = q(c)
	}
	defs = append(defs, fmt.Sprintf("CONSTRAINT %s PRIMARY KEY (%s)", q(t.Name+"_pk"), strings.Join(pk, ", ")))
	stmts := []string{"CREATE TABLE IF NOT EXISTS " + q(t.Name) + " (" + strings.Join(append(defs, keys...), ", ") + ")"}
	for _, ix := range t.Indexes {
		cols := make([]string, len(ix.Columns))
		for i, c := range ix.Columns {
			cols[i] = q(c)
		}
		stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+q(ix.Name)+" ON "+q(t.Name)+" ("+strings.Join(cols, ", ")+")")
	}
	return stmts
}

// TestFakeDialect opens a store of the example's tables with the fourth
// dialect, twice (setup is idempotent), and syncs rows through it.
func TestFakeDialect(t *testing.T) {
	d := fakeDialect()
	reg := generated.Registry()
	notes, err := reg.Lookup("ss_tb_note")
	if err != nil {
		t.Fatal(err)
	}
	ddl := strings.Join(d.DDL(notes), "\n")
	for _, want := range []string{
		`"id" CHAR(36) NOT NULL`, `"message" CLOB NOT NULL`, `"completed" BOOLEAN NOT NULL`, `"user_id" CHAR(36),`,
		`"ss_version" NUMBER(19) NOT NULL`, `"ss_origin" VARCHAR2(64) DEFAULT '' NOT NULL`,
		`CONSTRAINT "ss_tb_note_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "ss_tb_user" ("id")`,
		`CONSTRAINT "ss_tb_note_pk" PRIMARY KEY ("id")`,
		`CREATE INDEX IF NOT EXISTS "ss_tb_note_ss_version" ON "ss_tb_note" ("ss_sync_id", "ss_version")`,
		`CREATE INDEX IF NOT EXISTS "ss_tb_note_completed" ON "ss_tb_note" ("completed")`,
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("the fake dialect's DDL lacks %s:\n%s", want, ddl)
		}
	}

	db, err := sql.Open("sqlite3", ssqlite.DSN(filepath.Join(t.TempDir(), "fake.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := store.Open(ctx, db, d, reg); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db, d, reg)
	if err != nil {
		t.Fatalf("open again: %v", err)
	}
	var created string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'ss_tb_note'`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	// SQLite keeps the statement without IF NOT EXISTS.
	if want := strings.Replace(d.DDL(notes)[0], " IF NOT EXISTS", "", 1); created != want {
		t.Errorf("the store created\n%s\nwant\n%s", created, want)
	}

	// Two devices sync through a server on the fake store.
	url := storetest.Serve(t, st, server.Config{})
	ann, bob := storetest.Device(t, generated.Registry(), "ann"), storetest.Device(t, generated.Registry(), "ann")
	note := &models.Note{Message: "through the fake dialect", Completed: true}
	if err := generated.SyncNotes(ann).Insert(ctx, note); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*client.DB{ann, bob} {
		if _, err := d.Synchronize(ctx, storetest.Sync(url, "ann")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := generated.SyncNotes(bob).Get(ctx, note.ID)
	if err != nil || got.Message != note.Message || !got.Completed {
		t.Fatalf("the second device has %+v (%v), want %+v", got, err, note)
	}
	var stored string
	if err := db.QueryRow(`SELECT "message" FROM "ss_tb_note" WHERE "id" = ?`, note.ID.String()).Scan(&stored); err != nil || stored != note.Message {
		t.Fatalf("the store holds %q (%v)", stored, err)
	}
}
