// Package mysql is the dialect of a MariaDB or MySQL server store, through
// github.com/go-sql-driver/mysql, which it imports (to read server error
// numbers) and so registers as database/sql driver "mysql". Open the
// database with parseTime=true and loc=UTC.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ssync-go/ssync/runtime/internal/migrate"
	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
)

// Dialect returns the MariaDB/MySQL dialect.
//
// Pushes take their version last from the counter row, as on PostgreSQL,
// and also record it in ss_versions. Pulls run in REPEATABLE READ (one
// InnoDB snapshot), but an InnoDB snapshot can show push N+1 without push N
// although N committed first (its read view is not taken atomically), so a
// pull does not trust the counter: it serves versions only up to the first
// one missing from ss_versions in its own snapshot (see
// store.Dialect.VersionLog). A snapshot that holds a push's log row holds
// all of that push's rows, because both are one transaction.
func Dialect() store.Dialect {
	return store.Dialect{
		Name:        "mysql",
		Placeholder: func(int) string { return "?" },
		Quote:       quote,
		ColumnType:  ColumnType,
		CreateTable: createTable,
		Upsert:      upsert,
		VersionLog:  true,
		// No UPDATE ... RETURNING: LAST_INSERT_ID(expr) hands the value
		// back in the statement's answer.
		NextVersion: func(ctx context.Context, tx *sql.Tx) (uint64, error) {
			res, err := tx.ExecContext(ctx, "UPDATE ss_counter SET value = LAST_INSERT_ID(value + 1) WHERE name = 'global'")
			if err != nil {
				return 0, err
			}
			v, err := res.LastInsertId()
			return uint64(v), err
		},
		// Serializes schema setup between server instances starting at the
		// same time: each DDL statement commits by itself, so a row lock
		// would not last; a named lock of the session, one per database,
		// does (waited for up to 10 minutes), released when setup ends.
		SetupBegin: "BEGIN",
		Setup:      []string{"SELECT GET_LOCK(CONCAT('ssync_setup:', DATABASE()), 600)"},
		SetupEnd:   []string{"SELECT RELEASE_LOCK(CONCAT('ssync_setup:', DATABASE()))"},
		ForUpdate:  " FOR UPDATE",
		ForShare:   " LOCK IN SHARE MODE",
		PullTx:     &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		Inspect: store.InspectQueries(
			`SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_DEFAULT IS NOT NULL AND COLUMN_DEFAULT <> 'NULL'
			FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION`,
			`SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()`),
		// Each DDL statement commits by itself: a setup stopped between
		// creating a table and adding its back reference's key left it
		// without the key, which the next open adds.
		ForeignKeys: store.ForeignKeysQuery(`SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE
			WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL`),
		SameType:  sameType,
		AddColumn: addColumn,
		AddForeignKey: func(table string, c ssync.Column) string {
			return "ALTER TABLE " + quote(table) + " ADD FOREIGN KEY (" + quote(c.Name) + ") REFERENCES " + quote(c.Ref) + " (" + quote(ssync.ColumnID) + ")"
		},
		CreateIndex: createIndex,
		DropNotNull: dropNotNull,
		ZeroTime:    "0001-01-01 00:00:00",
		// ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, and ER_DUP_ENTRY: two
		// pushes created one id at once (see package postgres).
		Transient: errorIn(1213, 1205, 1062),
		// ER_NO_REFERENCED_ROW_2
		ForeignKey: errorIn(1452),
	}
}

func quote(n string) string { return "`" + strings.ReplaceAll(n, "`", "``") + "`" }

// ColumnType is the MariaDB/MySQL type of a column. Times are DATETIME(6)
// in UTC. An indexed string is a VARCHAR(255): InnoDB cannot index a whole
// LONGTEXT.
func ColumnType(c ssync.Column) string {
	switch c.Kind {
	case ssync.KindText:
		switch {
		case c.Size > 0:
			return "VARCHAR(" + strconv.Itoa(c.Size) + ")"
		case c.Indexed:
			return "VARCHAR(255)"
		}
		return "LONGTEXT"
	case ssync.KindBool:
		return "BOOLEAN"
	case ssync.KindInt, ssync.KindUint:
		t := map[int]string{8: "TINYINT", 16: "SMALLINT", 32: "INT"}[c.Size]
		if t == "" {
			t = "BIGINT"
		}
		if c.Kind == ssync.KindUint {
			t += " UNSIGNED"
		}
		return t
	case ssync.KindFloat:
		if c.Size == 32 {
			return "FLOAT"
		}
		return "DOUBLE"
	case ssync.KindTime:
		return "DATETIME(6)"
	case ssync.KindBytes:
		return "LONGBLOB"
	case ssync.KindUUID:
		return "CHAR(36)"
	}
	// KindJSON.
	return "LONGTEXT"
}

// createTable writes one CREATE TABLE (InnoDB, utf8mb4, binary collation)
// with the indexes and foreign keys inside it. MySQL ignores REFERENCES
// written on a column, so the keys are table constraints; they are checked
// at once (InnoDB has no deferred constraints), and pushes apply parents
// first.
func createTable(t store.TableDef) []string {
	var defs []string
	for _, c := range t.Columns {
		defs = append(defs, columnDef(c, len(t.PrimaryKey) == 1 && c.Name == t.PrimaryKey[0]))
	}
	if len(t.PrimaryKey) > 1 {
		defs = append(defs, "PRIMARY KEY ("+sqlddl.QuoteAll(t.PrimaryKey, quote)+")")
	}
	for _, ix := range t.Indexes {
		defs = append(defs, "INDEX "+quote(ix.Name)+" ("+sqlddl.QuoteAll(ix.Columns, quote)+")")
	}
	for _, c := range t.Columns {
		if c.Ref != "" {
			defs = append(defs, "FOREIGN KEY ("+quote(c.Name)+") REFERENCES "+quote(c.Ref)+" ("+quote(ssync.ColumnID)+")")
		}
	}
	return []string{"CREATE TABLE IF NOT EXISTS " + quote(t.Name) + " (\n\t" + strings.Join(defs, ",\n\t") +
		"\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"}
}

// columnDef is the definition of column c in CREATE TABLE and ALTER
// TABLE; foreign keys are table constraints.
func columnDef(c ssync.Column, primary bool) string {
	def := quote(c.Name) + " " + ColumnType(c)
	if c.Nullable {
		def += " NULL"
	} else {
		def += " NOT NULL"
	}
	if primary {
		def += " PRIMARY KEY"
	}
	if c.Default != nil {
		def += " DEFAULT " + literal(c.Default)
	}
	return def
}

// addColumn adds column c to table, with its foreign key.
func addColumn(table string, c ssync.Column) []string {
	stmt := "ALTER TABLE " + quote(table) + " ADD COLUMN " + columnDef(c, false)
	if c.Ref != "" {
		stmt += ", ADD FOREIGN KEY (" + quote(c.Name) + ") REFERENCES " + quote(c.Ref) + " (" + quote(ssync.ColumnID) + ")"
	}
	return []string{stmt}
}

// createIndex creates ix on table (MySQL has no CREATE INDEX IF NOT
// EXISTS; the migration creates only indexes it found missing).
func createIndex(table string, ix ssync.Index) string {
	return "CREATE INDEX " + quote(ix.Name) + " ON " + quote(table) + " (" + sqlddl.QuoteAll(ix.Columns, quote) + ")"
}

// dropNotNull makes the columns of table nullable: each column's
// definition as SHOW CREATE TABLE writes it (type, default, character
// set, comment), without NOT NULL, in one ALTER TABLE ... MODIFY.
func dropNotNull(ctx context.Context, tx store.Execer, table string, columns []string) error {
	rows, err := tx.QueryContext(ctx, "SHOW CREATE TABLE "+quote(table))
	if err != nil {
		return err
	}
	var name, create string
	for rows.Next() {
		if err := rows.Scan(&name, &create); err != nil {
			rows.Close()
			return err
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var modify []string
	for _, c := range columns {
		var def string
		if create, def, err = migrate.RelaxColumn(create, c); err != nil {
			return err
		}
		modify = append(modify, "MODIFY "+def)
	}
	_, err = tx.ExecContext(ctx, "ALTER TABLE "+quote(table)+" "+strings.Join(modify, ", "))
	return err
}

// intWidth matches the display width MariaDB reports for integer types,
// as in "bigint(20)".
var intWidth = regexp.MustCompile(`^(tinyint|smallint|mediumint|int|bigint)\(\d+\)`)

// sameType reports whether COLUMN_TYPE as information_schema spells it
// ("bigint(20) unsigned", "tinyint(1)") is the type ColumnType spells
// ("BIGINT UNSIGNED", "BOOLEAN").
func sameType(want, have string) bool {
	want, have = strings.ToLower(want), strings.ToLower(have)
	if want == "boolean" {
		want = "tinyint(1)"
	} else {
		have = intWidth.ReplaceAllString(have, "$1")
	}
	return want == have
}

// upsert is INSERT IGNORE, or INSERT ... ON DUPLICATE KEY UPDATE.
func upsert(table string, columns, _, update []string) string {
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ")
	if len(update) == 0 {
		return "INSERT IGNORE INTO " + quote(table) + " (" + sqlddl.QuoteAll(columns, quote) + ") VALUES (" + ph + ")"
	}
	set := make([]string, len(update))
	for i, c := range update {
		set[i] = quote(c) + " = VALUES(" + quote(c) + ")"
	}
	return "INSERT INTO " + quote(table) + " (" + sqlddl.QuoteAll(columns, quote) + ") VALUES (" + ph +
		") ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
}

// literal is sqlddl.Literal with backslashes escaped, which MySQL reads as
// escapes in a string.
func literal(v any) string {
	if s, ok := v.(string); ok {
		v = strings.ReplaceAll(s, `\`, `\\`)
	}
	return sqlddl.Literal(v)
}

// errorIn returns a check for server errors with one of the numbers.
func errorIn(numbers ...uint16) func(error) bool {
	return func(err error) bool {
		var e *driver.MySQLError
		return errors.As(err, &e) && slices.Contains(numbers, e.Number)
	}
}
