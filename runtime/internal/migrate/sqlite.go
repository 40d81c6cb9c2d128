package migrate

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ssync-go/ssync/runtime/internal/sqlddl"
)

// Queryer runs queries: a *sql.DB, *sql.Tx or *sql.Conn.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// SQLiteZeroTime is the zero time as SQLite columns hold it: go-sqlite3
// reads it back as time.Time{}.
const SQLiteZeroTime = "0001-01-01 00:00:00+00:00"

// InspectSQLite reads the named tables of a SQLite database (PRAGMA
// table_info and index_list); a table it does not have is left out.
func InspectSQLite(ctx context.Context, q Queryer, tables []string) (Schema, error) {
	s := Schema{}
	for _, name := range tables {
		t, err := inspectSQLiteTable(ctx, q, name)
		if err != nil {
			return nil, fmt.Errorf("inspect table %s: %w", name, err)
		}
		if len(t.Columns) > 0 {
			s[name] = t
		}
	}
	return s, nil
}

func inspectSQLiteTable(ctx context.Context, q Queryer, name string) (*Table, error) {
	t := &Table{Name: name}
	rows, err := q.QueryContext(ctx, "PRAGMA table_info("+sqlddl.QuoteSQLite(name)+")")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var cid, notNull, pk int
		var c Column
		var dflt sql.NullString
		if err := rows.Scan(&cid, &c.Name, &c.Type, &notNull, &dflt, &pk); err != nil {
			rows.Close()
			return nil, err
		}
		c.Nullable, c.HasDefault = notNull == 0 && pk == 0, dflt.Valid
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, "PRAGMA index_list("+sqlddl.QuoteSQLite(name)+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		// seq, name, unique, origin, partial
		dest := make([]any, len(cols))
		var ixName string
		for i := range dest {
			dest[i] = new(any)
		}
		dest[1] = &ixName
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		t.Indexes = append(t.Indexes, ixName)
	}
	return t, rows.Err()
}
