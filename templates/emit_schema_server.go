package templates

import (
	"fmt"
	"strings"
)

// postgresType is the PostgreSQL type of a kind.
func postgresType(k Kind) string { return k.info().postgres }

// serverPostgres is the server store's DDL on PostgreSQL.
func serverPostgres(t *Table) []string {
	cols := []string{
		`"id" UUID NOT NULL PRIMARY KEY`,
		`"created_at" TIMESTAMPTZ NOT NULL`,
		`"updated_at" TIMESTAMPTZ NOT NULL`,
		`"deleted_at" TIMESTAMPTZ`,
		`"ss_sync_id" TEXT NOT NULL`,
	}
	for _, f := range t.Fields {
		def := quoteIdent(f.ServerName()) + " " + postgresType(f.Kind)
		if !f.Nullable() {
			def += " NOT NULL"
		}
		if f.Ref != "" {
			def += references(f.Ref)
		}
		cols = append(cols, def)
	}
	cols = append(cols, `"ss_version" BIGINT NOT NULL`, `"ss_created_version" BIGINT NOT NULL`,
		`"ss_origin" TEXT NOT NULL DEFAULT ''`, `"ss_writer" TEXT NOT NULL DEFAULT ''`)
	return append([]string{
		createTable(t.Collection, cols),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s ("ss_sync_id", "ss_version")`,
			quoteIdent(t.VersionIndex), quoteIdent(t.Collection)),
	}, createIndexes(t, true)...)
}

// mysqlType is the MariaDB/MySQL type of a field. An indexed string is a
// VARCHAR(255): InnoDB cannot index a whole LONGTEXT.
func mysqlType(f *Field) string {
	if ki := f.Kind.info(); f.Index && ki.mysqlIndexed != "" {
		return ki.mysqlIndexed
	}
	return f.Kind.info().mysql
}

func quoteMySQL(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// serverMySQL is the server store's DDL on MariaDB/MySQL (InnoDB, utf8mb4).
// Times are DATETIME(6) in UTC: open the database with parseTime=true and
// loc=UTC.
func serverMySQL(t *Table) []string {
	cols := []string{
		"`id` CHAR(36) NOT NULL PRIMARY KEY",
		"`created_at` DATETIME(6) NOT NULL",
		"`updated_at` DATETIME(6) NOT NULL",
		"`deleted_at` DATETIME(6) NULL",
		"`ss_sync_id` VARCHAR(255) NOT NULL",
	}
	for _, f := range t.Fields {
		def := quoteMySQL(f.ServerName()) + " " + mysqlType(f)
		if f.Nullable() {
			def += " NULL"
		} else {
			def += " NOT NULL"
		}
		cols = append(cols, def)
	}
	cols = append(cols, "`ss_version` BIGINT NOT NULL", "`ss_created_version` BIGINT NOT NULL",
		"`ss_origin` VARCHAR(64) NOT NULL DEFAULT ''", "`ss_writer` VARCHAR(64) NOT NULL DEFAULT ''",
		"INDEX "+quoteMySQL(t.VersionIndex)+" (`ss_sync_id`, `ss_version`)")
	for _, ix := range t.Indexes {
		cols = append(cols, "INDEX "+quoteMySQL(ix.Name)+" ("+quoteMySQL(ix.Field.ServerName())+")")
	}
	// MySQL ignores REFERENCES written on a column: the keys are table
	// constraints. They are checked at once (InnoDB has no deferred
	// constraints); pushes apply parents first.
	for _, f := range t.Fields {
		if f.Ref != "" {
			cols = append(cols, "FOREIGN KEY ("+quoteMySQL(f.ServerName())+") REFERENCES "+quoteMySQL(f.Ref)+" (`id`)")
		}
	}
	return []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n\t%s\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			quoteMySQL(t.Collection), strings.Join(cols, ",\n\t")),
	}
}
