package client

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// ErrUnknownColumn is returned (wrapped) by Select and Count when a Where or
// OrderBy option names a column the table does not have. Column names are
// checked against the table's descriptor; they never reach the SQL unchecked.
var ErrUnknownColumn = errors.New("ssync client: unknown column")

// Where makes Select and Count return only the rows whose column equals
// value; several Where options must all hold. column is a column's name on
// the device (ssync.Column.Name, or a metadata column such as
// ssync.ColumnID); value is bound as a query parameter, converted as
// database/sql converts arguments, and a value that converts to nil matches
// NULL. Generated repositories offer typed WhereXxx and ByXxx methods for
// indexed and foreign-key columns; prefer those.
func Where(column string, value any) SelectOption {
	return func(q *selectQuery) { q.where = append(q.where, condition{column: column, value: value}) }
}

// OrderBy makes Select return rows sorted by column, descending when desc.
// Several OrderBy options sort by each in turn; rows still tied are in
// creation order (CreatedAt, then ID), as without OrderBy. Generated
// repositories offer an OrderBy method taking typed column constants.
func OrderBy(column string, desc bool) SelectOption {
	return func(q *selectQuery) { q.order = append(q.order, ordering{column: column, desc: desc}) }
}

// Offset makes Select skip the first n rows; with Limit it pages through a
// result.
func Offset(n int) SelectOption { return func(q *selectQuery) { q.offset = n } }

// selectQuery is what the options of one Select or Count ask for.
type selectQuery struct {
	includeDeleted bool
	limit          int
	offset         int
	where          []condition
	order          []ordering
	conds          []Cond         // Match
	after          map[string]any // After: the row's values by column
}

type condition struct {
	column string
	value  any
}

type ordering struct {
	column string
	desc   bool
}

// queryColumns returns the set of column names a query may name: the
// metadata columns and the table's user columns.
func queryColumns(cols []ssync.Column) map[string]bool {
	known := map[string]bool{
		ssync.ColumnID: true, ssync.ColumnCreatedAt: true, ssync.ColumnUpdatedAt: true,
		ssync.ColumnDeletedAt: true, ssync.ColumnSyncID: true,
	}
	for _, c := range cols {
		known[c.Name] = true
	}
	return known
}

// sqlFor returns the statement (a SELECT of every column, or a COUNT) and
// its arguments for q, always scoped to the active and linked users.
func (q *selectQuery) sqlFor(table, selectAll, scope string, known map[string]bool, count bool) (string, []any, error) {
	var b strings.Builder
	if count {
		b.WriteString("SELECT COUNT(*) FROM " + quote(table))
	} else {
		b.WriteString(selectAll)
	}
	b.WriteString(" WHERE `ss_sync_id` IN (SELECT value FROM json_each(?))")
	args := []any{scope}
	if !q.includeDeleted {
		b.WriteString(" AND `deleted_at` IS NULL")
	}
	for _, c := range q.where {
		if !known[c.column] {
			return "", nil, fmt.Errorf("%w %q in Where on %s", ErrUnknownColumn, c.column, table)
		}
		v, err := driver.DefaultParameterConverter.ConvertValue(c.value)
		if err != nil {
			return "", nil, fmt.Errorf("where %s on %s: %w", c.column, table, err)
		}
		if v == nil {
			b.WriteString(" AND " + quote(c.column) + " IS NULL")
			continue
		}
		if t, ok := v.(time.Time); ok {
			v = ssync.StoredTime(t) // as every time is stored
		}
		b.WriteString(" AND " + quote(c.column) + " = ?")
		args = append(args, v)
	}
	conds := q.conds
	if q.after != nil {
		for _, o := range q.order {
			if !known[o.column] {
				return "", nil, fmt.Errorf("%w %q in OrderBy on %s", ErrUnknownColumn, o.column, table)
			}
		}
		conds = append(conds[:len(conds):len(conds)], afterCond(q.order, q.after))
	}
	for _, c := range conds {
		if c.err != nil {
			return "", nil, fmt.Errorf("select %s: %w", table, c.err)
		}
		for _, col := range c.cols {
			if !known[col] {
				return "", nil, fmt.Errorf("%w %q in a condition on %s", ErrUnknownColumn, col, table)
			}
		}
		if c.sql != "" {
			b.WriteString(" AND " + c.sql)
			args = append(args, c.args...)
		}
	}
	if count {
		return b.String(), args, nil
	}
	b.WriteString(" ORDER BY ")
	for _, o := range q.order {
		if !known[o.column] {
			return "", nil, fmt.Errorf("%w %q in OrderBy on %s", ErrUnknownColumn, o.column, table)
		}
		b.WriteString(quote(o.column))
		if o.desc {
			b.WriteString(" DESC")
		}
		b.WriteString(", ")
	}
	b.WriteString("`created_at`, `id`")
	if q.limit > 0 || q.offset > 0 {
		limit := q.limit
		if limit <= 0 {
			limit = -1 // SQLite: no limit
		}
		b.WriteString(" LIMIT " + strconv.Itoa(limit))
		if q.offset > 0 {
			b.WriteString(" OFFSET " + strconv.Itoa(q.offset))
		}
	}
	return b.String(), args, nil
}
