package client

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Cond is a condition on a table's rows, for Match: built by the typed
// columns of a generated repository (NoteRepo.Fields) or by Raw, and
// combined with And, Or and Not. The zero Cond holds for every row.
type Cond struct {
	sql  string // an SQL boolean expression with ? parameters; "" is TRUE
	args []any
	cols []string // the columns named, checked against the table
	err  error
}

// Match makes Select and Count return only the rows for which every cond
// holds (and every Where), still only in the active scope and without
// deleted rows unless IncludeDeleted.
func Match(conds ...Cond) SelectOption {
	c := And(conds...)
	return func(q *selectQuery) { q.conds = append(q.conds, c) }
}

// Raw is a condition in SQL on the device's table, with ? parameters: a
// scoped raw query, for what typed columns do not say
// (Match(Raw("length(message) > ?", 10))). Select still reads whole rows
// into the model type, only in the active scope and without deleted rows
// unless IncludeDeleted. Column names are the device's (ssync.Column.Name);
// sql is the caller's and is not checked: never build it from input.
func Raw(sql string, args ...any) Cond {
	vals := make([]any, len(args))
	for i, a := range args {
		v, err := bindArg(a)
		if err != nil {
			return Cond{err: fmt.Errorf("Raw argument %d: %w", i+1, err)}
		}
		vals[i] = v
	}
	return Cond{sql: "(" + sql + ")", args: vals}
}

// And holds when every cond holds (and for no cond at all).
func And(conds ...Cond) Cond { return join(" AND ", conds) }

// Or holds when any cond holds; Or() holds for no row.
func Or(conds ...Cond) Cond {
	if len(conds) == 0 {
		return Cond{sql: "0"}
	}
	return join(" OR ", conds)
}

// Not holds when c does not (a NULL comparison is not "true", so
// Not(f.Eq(v)) keeps the rows whose value differs from v and is not NULL).
func Not(c Cond) Cond {
	if c.err != nil {
		return c
	}
	return Cond{sql: "NOT (" + c.text() + ")", args: c.args, cols: c.cols}
}

func join(op string, conds []Cond) Cond {
	var out Cond
	var parts []string
	for _, c := range conds {
		if c.err != nil {
			return c
		}
		parts = append(parts, c.text())
		out.args = append(out.args, c.args...)
		out.cols = append(out.cols, c.cols...)
	}
	if len(parts) > 0 {
		out.sql = "(" + strings.Join(parts, op) + ")"
	}
	return out
}

// text is c's SQL, "1" for the zero Cond.
func (c Cond) text() string {
	if c.sql == "" {
		return "1"
	}
	return c.sql
}

// bindArg converts a value to what the device stores, as database/sql
// converts arguments, with times and floats as every store keeps them.
func bindArg(v any) (any, error) {
	if u, ok := v.(uint64); ok {
		return u, nil // as the row binders pass it: the driver stores it
	}
	d, err := driver.DefaultParameterConverter.ConvertValue(v)
	if err != nil {
		return nil, err
	}
	switch x := d.(type) {
	case time.Time:
		return ssync.StoredTime(x), nil
	case float64:
		return ssync.StoredFloat(x), nil
	}
	return d, nil
}

// Field is a typed column of a table, for conditions; generated
// repositories return one per column (NoteRepo.Fields). V is the field's
// type (the element type of a pointer field).
type Field[V any] struct{ column string }

// NewField returns the typed column named column (the device's name).
func NewField[V any](column string) Field[V] { return Field[V]{column: column} }

// Column returns the column's name on the device.
func (f Field[V]) Column() string { return f.column }

func (f Field[V]) compare(op string, v V) Cond {
	a, err := bindArg(v)
	if err != nil {
		return Cond{err: fmt.Errorf("%s %s: %w", f.column, op, err)}
	}
	if a == nil {
		return Cond{err: fmt.Errorf("%s %s nil: use IsNull", f.column, op)}
	}
	return Cond{sql: quote(f.column) + " " + op + " ?", args: []any{a}, cols: []string{f.column}}
}

// Eq holds for the rows whose value equals v.
func (f Field[V]) Eq(v V) Cond { return f.compare("=", v) }

// Ne holds for the rows whose value is not NULL and differs from v.
func (f Field[V]) Ne(v V) Cond { return f.compare("<>", v) }

// Lt holds for the rows whose value is less than v (times: earlier).
func (f Field[V]) Lt(v V) Cond { return f.compare("<", v) }

// Le holds for the rows whose value is at most v.
func (f Field[V]) Le(v V) Cond { return f.compare("<=", v) }

// Gt holds for the rows whose value is greater than v (times: later).
func (f Field[V]) Gt(v V) Cond { return f.compare(">", v) }

// Ge holds for the rows whose value is at least v.
func (f Field[V]) Ge(v V) Cond { return f.compare(">=", v) }

// In holds for the rows whose value is one of vs; In() holds for none.
func (f Field[V]) In(vs ...V) Cond {
	if len(vs) == 0 {
		return Cond{sql: "0", cols: []string{f.column}}
	}
	args := make([]any, len(vs))
	for i, v := range vs {
		a, err := bindArg(v)
		if err != nil || a == nil {
			return Cond{err: fmt.Errorf("%s IN: value %d: %v", f.column, i+1, orNil(err))}
		}
		args[i] = a
	}
	return Cond{sql: quote(f.column) + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vs)), ", ") + ")",
		args: args, cols: []string{f.column}}
}

func orNil(err error) error {
	if err == nil {
		return fmt.Errorf("nil: use IsNull")
	}
	return err
}

// IsNull holds for the rows whose value is NULL (a nil pointer field).
func (f Field[V]) IsNull() Cond {
	return Cond{sql: quote(f.column) + " IS NULL", cols: []string{f.column}}
}

// IsNotNull holds for the rows whose value is not NULL.
func (f Field[V]) IsNotNull() Cond {
	return Cond{sql: quote(f.column) + " IS NOT NULL", cols: []string{f.column}}
}

// TextField is a typed text column: Field's conditions and text matches.
type TextField[V ~string] struct{ Field[V] }

// NewTextField returns the typed text column named column.
func NewTextField[V ~string](column string) TextField[V] {
	return TextField[V]{Field[V]{column: column}}
}

// HasPrefix holds for the rows whose value begins with prefix, compared
// exactly (case-sensitive).
func (f TextField[V]) HasPrefix(prefix string) Cond {
	c := quote(f.column)
	return Cond{sql: "(" + c + " >= ? AND substr(" + c + ", 1, ?) = ?)",
		args: []any{prefix, int64(len([]rune(prefix))), prefix}, cols: []string{f.column}}
}

// Contains holds for the rows whose value contains s, compared exactly
// (case-sensitive).
func (f TextField[V]) Contains(s string) Cond {
	return Cond{sql: "instr(" + quote(f.column) + ", ?) > 0", args: []any{s}, cols: []string{f.column}}
}

// Like holds for the rows whose value matches pattern, SQL LIKE's way: %
// matches any run of characters, _ one character, \ escapes the next one;
// letters of ASCII match in either case (SQLite's LIKE).
func (f TextField[V]) Like(pattern string) Cond {
	return Cond{sql: quote(f.column) + ` LIKE ? ESCAPE '\'`, args: []any{pattern}, cols: []string{f.column}}
}

// After makes Select return only the rows that come after row in the
// query's order (its OrderBy options, then creation order): keyset
// pagination. With Limit it pages through a table of any size, visiting
// each row once even while rows are added, at the cost of an index range
// instead of Offset's skipped rows:
//
//	page, _ := notes.Select(ctx, client.Limit(100))
//	next, _ := notes.Select(ctx, client.Limit(100), notes.After(page[len(page)-1]))
func (r *Repo[T]) After(row *T) SelectOption {
	rec := r.table.Record(row)
	vals := map[string]any{ssync.ColumnID: rec.ID.String(), ssync.ColumnCreatedAt: ssync.StoredTime(rec.CreatedAt),
		ssync.ColumnUpdatedAt: ssync.StoredTime(rec.UpdatedAt), ssync.ColumnSyncID: rec.SyncID, ssync.ColumnDeletedAt: nil}
	if rec.DeletedAt != nil {
		vals[ssync.ColumnDeletedAt] = ssync.StoredTime(*rec.DeletedAt)
	}
	for i, v := range r.table.Values(row, nil) {
		a, err := bindArg(v)
		if err != nil {
			return func(q *selectQuery) { q.conds = append(q.conds, Cond{err: fmt.Errorf("After: %w", err)}) }
		}
		vals[r.table.Columns[i].Name] = a
	}
	return func(q *selectQuery) { q.after = vals }
}

// afterCond is the condition of After over the ordering: the rows whose
// order key is greater (or, descending, smaller) than the row's, NULLs
// ordered as SQLite does (first ascending, last descending).
func afterCond(order []ordering, vals map[string]any) Cond {
	order = append(order, ordering{column: ssync.ColumnCreatedAt}, ordering{column: ssync.ColumnID})
	var alts []Cond
	var equal []Cond
	for _, o := range order {
		v := vals[o.column]
		c := quote(o.column)
		var past Cond
		switch {
		case v == nil && !o.desc:
			past = Cond{sql: c + " IS NOT NULL"}
		case v == nil:
			past = Cond{sql: "0"} // nothing sorts after NULL descending
		case o.desc:
			past = Cond{sql: "(" + c + " < ? OR " + c + " IS NULL)", args: []any{v}}
		default:
			past = Cond{sql: c + " > ?", args: []any{v}}
		}
		alts = append(alts, And(append(equal[:len(equal):len(equal)], past)...))
		if v == nil {
			equal = append(equal, Cond{sql: c + " IS NULL"})
		} else {
			equal = append(equal, Cond{sql: c + " = ?", args: []any{v}})
		}
	}
	return Or(alts...)
}
