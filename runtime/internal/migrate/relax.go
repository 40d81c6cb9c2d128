package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Relax is a column of an existing table to make nullable: the model
// made its field nullable, or dropped a field whose column is NOT NULL
// without a default (inserts, which leave it out, would fail).
type Relax struct {
	// Table and Column name it.
	Table, Column string
}

// Execer runs statements and queries: a *sql.Tx or a *sql.Conn in a
// transaction.
type Execer interface {
	Queryer
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// RelaxSQLite drops the NOT NULL constraint of the columns of one SQLite
// table in tx, the way SQLite documents for removing a NOT NULL
// constraint (https://sqlite.org/lang_altertable.html, "otheralter"):
// the table's CREATE TABLE text in sqlite_schema is rewritten without it
// under writable_schema, and the schema version bumped so that every
// connection reads it again. No row is rewritten, so the table's content,
// indexes and foreign keys stay as they are, and the change is part of
// tx: a rollback undoes it.
func RelaxSQLite(ctx context.Context, tx Execer, table string, columns []string) error {
	var text string
	var version int
	rows, err := tx.QueryContext(ctx, "SELECT sql, (SELECT schema_version FROM pragma_schema_version) FROM sqlite_schema WHERE type = 'table' AND name = ?", table)
	if err != nil {
		return fmt.Errorf("relax %s: %w", table, err)
	}
	found := false
	for rows.Next() {
		found = true
		if err := rows.Scan(&text, &version); err != nil {
			rows.Close()
			return fmt.Errorf("relax %s: %w", table, err)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("relax %s: %w", table, err)
	}
	if !found {
		return fmt.Errorf("relax %s: no such table", table)
	}
	for _, c := range columns {
		if text, _, err = RelaxColumn(text, c); err != nil {
			return fmt.Errorf("relax %s: %w", table, err)
		}
	}
	for _, stmt := range []struct {
		q    string
		args []any
	}{
		{q: "PRAGMA writable_schema = ON"},
		{q: "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?", args: []any{text, table}},
		{q: "PRAGMA schema_version = " + strconv.Itoa(version+1)},
		{q: "PRAGMA writable_schema = OFF"},
	} {
		if _, err := tx.ExecContext(ctx, stmt.q, stmt.args...); err != nil {
			tx.ExecContext(ctx, "PRAGMA writable_schema = OFF")
			return fmt.Errorf("relax %s: %w", table, err)
		}
	}
	return nil
}

// notNull matches NOT NULL as a constraint: the words at top level of a
// column definition (what quotes and parentheses hold is blanked first).
var notNull = regexp.MustCompile(`(?i)\s*\bNOT\s+NULL\b`)

// RelaxColumn returns create, a CREATE TABLE statement (as SQLite keeps
// it, or as SHOW CREATE TABLE writes it on MySQL), with the NOT NULL
// constraint of column removed, and the column's new definition. It fails
// when create has no such column, or the column no NOT NULL.
func RelaxColumn(create, column string) (string, string, error) {
	open := topLevel(create, 0, "(")
	if open < 0 {
		return "", "", fmt.Errorf("no column list in %q", create)
	}
	start := open + 1
	for start < len(create) {
		end := topLevel(create, start, ",)")
		if end < 0 {
			return "", "", fmt.Errorf("unterminated column list in %q", create)
		}
		def := create[start:end]
		if name, ok := leadingName(def); ok && strings.EqualFold(name, column) {
			loc := notNull.FindStringIndex(outside(def))
			if loc == nil {
				return "", "", fmt.Errorf("column %q has no NOT NULL constraint in %q", column, def)
			}
			relaxed := def[:loc[0]] + def[loc[1]:]
			return create[:start] + relaxed + create[end:], strings.TrimSpace(relaxed), nil
		}
		if create[end] == ')' {
			break
		}
		start = end + 1
	}
	return "", "", fmt.Errorf("no column %q in %q", column, create)
}

// topLevel returns the index of the first byte of any at or after from
// that is outside quotes and outside parentheses opened after from (an
// opening parenthesis is found at any depth); -1 when there is none.
func topLevel(s string, from int, any string) int {
	b := blanked(s[from:])
	depth := 0
	for i := 0; i < len(b); i++ {
		if strings.IndexByte(any, b[i]) >= 0 && (depth == 0 || b[i] == '(') {
			return from + i
		}
		switch b[i] {
		case '(':
			depth++
		case ')':
			depth--
		}
	}
	return -1
}

// blanked returns s with the content of its quoted parts ('text', "name",
// `name`, [name]) replaced by spaces, so that nothing inside them matches.
func blanked(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		closing := map[byte]byte{'\'': '\'', '"': '"', '`': '`', '[': ']'}[b[i]]
		if closing == 0 {
			continue
		}
		for i++; i < len(b); i++ {
			if b[i] == closing {
				if closing != ']' && i+1 < len(b) && b[i+1] == closing { // doubled: escaped
					b[i], b[i+1] = ' ', ' '
					i++
					continue
				}
				break
			}
			b[i] = ' '
		}
	}
	return string(b)
}

// outside returns s blanked (see blanked), and with what its parentheses
// hold blanked too: what is left is the definition's own words.
func outside(s string) string {
	b := []byte(blanked(s))
	depth := 0
	for i, c := range b {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth > 0:
			b[i] = ' '
		}
	}
	return string(b)
}

// leadingName returns the identifier a column definition starts with,
// unquoted.
func leadingName(def string) (string, bool) {
	def = strings.TrimSpace(def)
	if def == "" {
		return "", false
	}
	closing := map[byte]byte{'"': '"', '`': '`', '[': ']'}[def[0]]
	if closing == 0 {
		end := strings.IndexAny(def, " \t\r\n")
		if end < 0 {
			end = len(def)
		}
		return def[:end], true
	}
	var b strings.Builder
	for i := 1; i < len(def); i++ {
		if def[i] == closing {
			if closing != ']' && i+1 < len(def) && def[i+1] == closing {
				b.WriteByte(closing)
				i++
				continue
			}
			return b.String(), true
		}
		b.WriteByte(def[i])
	}
	return "", false
}
