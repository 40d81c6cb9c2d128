package templates

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// sqliteType is the declared SQLite type of a kind. go-sqlite3 reads
// TIMESTAMP columns back as time.Time and BOOLEAN columns as bool.
func sqliteType(k Kind) string {
	switch k {
	case KindString, KindUUID:
		return "TEXT"
	case KindBool:
		return "BOOLEAN"
	case KindFloat32, KindFloat64:
		return "REAL"
	case KindTime:
		return "TIMESTAMP"
	case KindBytes:
		return "BLOB"
	default:
		return "INTEGER"
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// sqliteColumns returns the column definitions shared by client and server.
func sqliteColumns(t *Table) []string {
	cols := []string{
		`"id" TEXT NOT NULL PRIMARY KEY`,
		`"created_at" TIMESTAMP NOT NULL`,
		`"updated_at" TIMESTAMP NOT NULL`,
		`"deleted_at" TIMESTAMP`,
		`"ss_sync_id" TEXT NOT NULL`,
	}
	for _, f := range t.Fields {
		def := quoteIdent(f.Column) + " " + sqliteType(f.Kind)
		if !f.Nullable {
			def += " NOT NULL"
		}
		cols = append(cols, def)
	}
	return cols
}

func createTable(name string, cols []string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n\t%s\n)", quoteIdent(name), strings.Join(cols, ",\n\t"))
}

// clientSQLite is the device's DDL: the shared columns plus the change
// counter and the known flag, an index of pending changes, and one for
// scoped reads.
func clientSQLite(t *Table) []string {
	cols := append(sqliteColumns(t),
		`"ss_dirty" INTEGER NOT NULL DEFAULT 0`,
		`"ss_known" INTEGER NOT NULL DEFAULT 0`,
	)
	q := quoteIdent(t.Collection)
	return []string{
		createTable(t.Collection, cols),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_dirty") WHERE "ss_dirty" > 0`, quoteIdent(t.Collection+"_ss_dirty"), q),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_sync_id", "created_at")`, quoteIdent(t.Collection+"_ss_scope"), q),
	}
}

// serverSQLite is the server store's DDL on SQLite: the shared columns plus
// the server-owned versions, and the index pulls range over.
func serverSQLite(t *Table) []string {
	cols := append(sqliteColumns(t),
		`"ss_version" INTEGER NOT NULL`,
		`"ss_created_version" INTEGER NOT NULL`,
		`"ss_origin" TEXT NOT NULL DEFAULT ''`,
		`"ss_writer" TEXT NOT NULL DEFAULT ''`,
	)
	q := quoteIdent(t.Collection)
	return []string{
		createTable(t.Collection, cols),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_sync_id", "ss_version")`, quoteIdent(t.Collection+"_ss_version"), q),
	}
}

// ddlValues renders DDL statements as a string slice of raw literals.
func ddlValues(stmts []string) jen.Code {
	var vals []jen.Code
	for _, s := range stmts {
		vals = append(vals, rawString(s))
	}
	return jen.ValuesFunc(func(g *jen.Group) {
		for _, v := range vals {
			g.Line().Add(v)
		}
		g.Line()
	})
}

// rawString renders s as a back-quoted literal when it can be, which keeps
// multi-line SQL readable in the generated file.
func rawString(s string) jen.Code {
	if strings.Contains(s, "`") {
		// One quoted literal per line, joined with +.
		lines := strings.SplitAfter(s, "\n")
		st := jen.Lit(lines[0])
		for _, l := range lines[1:] {
			st = st.Op("+").Line().Lit(l)
		}
		return st
	}
	return jen.Op("`" + s + "`")
}
