package templates

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// sqliteType is the declared SQLite type of a kind.
func sqliteType(k Kind) string { return k.info().sqlite }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// references is the inline foreign-key clause of a referencing column on
// SQLite and PostgreSQL. The check is deferred to commit, so that rows
// applied in one transaction may arrive in any order; rows are never
// hard-deleted, so a soft-deleted parent still satisfies it.
func references(parent string) string {
	return " REFERENCES " + quoteIdent(parent) + ` ("id") DEFERRABLE INITIALLY DEFERRED`
}

// sqliteColumns returns the column definitions shared by client and server;
// server selects the server-side column names.
func sqliteColumns(t *Table, server bool) []string {
	cols := []string{
		`"id" TEXT NOT NULL PRIMARY KEY`,
		`"created_at" TIMESTAMP NOT NULL`,
		`"updated_at" TIMESTAMP NOT NULL`,
		`"deleted_at" TIMESTAMP`,
		`"ss_sync_id" TEXT NOT NULL`,
	}
	for _, f := range t.Fields {
		def := quoteIdent(columnName(f, server)) + " " + sqliteType(f.Kind)
		if !f.Nullable() {
			def += " NOT NULL"
		}
		if f.Ref != "" {
			def += references(f.Ref)
		}
		cols = append(cols, def)
	}
	return cols
}

// columnName is a field's column name on the device or on the server.
func columnName(f *Field, server bool) string {
	if server {
		return f.ServerName()
	}
	return f.Column
}

// createIndexes returns a CREATE INDEX statement per secondary index of t.
func createIndexes(t *Table, server bool) []string {
	var stmts []string
	for _, ix := range t.Indexes {
		stmts = append(stmts, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s)`,
			quoteIdent(ix.Name), quoteIdent(t.Collection), quoteIdent(columnName(ix.Field, server))))
	}
	return stmts
}

func createTable(name string, cols []string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n\t%s\n)", quoteIdent(name), strings.Join(cols, ",\n\t"))
}

// clientSQLite is the device's DDL: the shared columns plus the change
// counter and the known flag, an index of pending changes, one for scoped
// reads, and the model's own indexes.
func clientSQLite(t *Table) []string {
	cols := append(sqliteColumns(t, false),
		`"ss_dirty" INTEGER NOT NULL DEFAULT 0`,
		`"ss_known" INTEGER NOT NULL DEFAULT 0`,
	)
	q := quoteIdent(t.Collection)
	stmts := append([]string{
		createTable(t.Collection, cols),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_dirty") WHERE "ss_dirty" > 0`, quoteIdent(t.DirtyIndex), q),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_sync_id", "created_at")`, quoteIdent(t.ScopeIndex), q),
	}, createIndexes(t, false)...)
	// The rows that hold content: each sync checks only those for content
	// the device lacks.
	for _, f := range t.Fields {
		if f.Attachment {
			c := quoteIdent(f.Column)
			stmts = append(stmts, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s) WHERE %s`,
				quoteIdent(f.ContentIndex), q, c, attachmentPresent(f.Column)))
		}
	}
	return stmts
}

// attachmentPresent is the SQL condition, on the device, that an attachment
// column holds content (the runtime uses the same text, so that SQLite picks
// the partial index it matches).
func attachmentPresent(column string) string {
	c := quoteIdent(column)
	return c + ` IS NOT NULL AND ` + c + ` <> 'null'`
}

// serverSQLite is the server store's DDL on SQLite: the shared columns (by
// their server names) plus the server-owned versions, the index pulls range
// over, and the model's own indexes.
func serverSQLite(t *Table) []string {
	cols := append(sqliteColumns(t, true),
		`"ss_version" INTEGER NOT NULL`,
		`"ss_created_version" INTEGER NOT NULL`,
		`"ss_origin" TEXT NOT NULL DEFAULT ''`,
		`"ss_writer" TEXT NOT NULL DEFAULT ''`,
	)
	q := quoteIdent(t.Collection)
	return append([]string{
		createTable(t.Collection, cols),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_sync_id", "ss_version")`, quoteIdent(t.VersionIndex), q),
	}, createIndexes(t, true)...)
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
