package snapshot

import (
	"fmt"
	"sort"
)

// Change is a difference between the previous snapshot and the models that
// migrations at open do not apply, or that breaks apps still running the
// previous models.
type Change struct {
	// Table names the table; Column the column, empty for the whole table.
	Table, Column string
	// Problem says what changed and why it is refused.
	Problem string
	// Fix says what to do instead.
	Fix string
}

// Key is how -accept names the change: "table.column", or "table" for a
// change of the whole table.
func (c *Change) Key() string {
	if c.Column == "" {
		return c.Table
	}
	return c.Table + "." + c.Column
}

// Error names the table and column, says what changed, what to do, and how
// to accept the change deliberately.
func (c *Change) Error() string {
	where := fmt.Sprintf("table %q", c.Table)
	if c.Column != "" {
		where += fmt.Sprintf(" column %q", c.Column)
	}
	return fmt.Sprintf("%s: %s; %s (to make this change deliberately, having planned how every database and older app copes, run ssyncgen once with -accept %s)",
		where, c.Problem, c.Fix, c.Key())
}

// Compare returns the changes from prev to cur that ssyncgen refuses,
// sorted by table and column:
//
//   - a table removed, or renamed (table=): databases keep the old table,
//     the renamed one starts empty everywhere, and older apps still push to
//     the old one;
//   - a column removed (the field, or a rename of it): older apps still
//     push it and servers decode strictly, and a NOT NULL column would make
//     every insert fail;
//   - a column's kind or size changed, or its nullability either way:
//     migrations at open refuse it (*ssync.SchemaChangeError);
//   - a column's wire name or server name changed: older apps and the
//     server's existing column go on using the old one;
//   - a reference to another table, a new reference on a NOT NULL column
//     (existing rows have no parent), and an attachment column that is no
//     longer one or the reverse.
//
// Everything else is applied by migrations at open or needs nothing: new
// tables, new columns (a NOT NULL one gets its kind's zero value), new or
// dropped indexes, a new order, another delete rule.
func Compare(prev, cur *Snapshot) []*Change {
	var out []*Change
	tables := make(map[string]*Table, len(cur.Tables))
	for i := range cur.Tables {
		tables[cur.Tables[i].Name] = &cur.Tables[i]
	}
	for _, pt := range prev.Tables {
		ct, ok := tables[pt.Name]
		if !ok {
			out = append(out, &Change{Table: pt.Name,
				Problem: fmt.Sprintf("the table (model %s) is no longer in the models: removed, or renamed with table=", pt.Model),
				Fix: "databases keep the old table and its rows, a renamed table starts empty on every device and server, " +
					"and older apps still push to the old one, which servers refuse; keep the model with its table= name " +
					"(a model that is no longer used can stay), or copy the rows to the new table in a data migration"})
			continue
		}
		out = append(out, compareTable(pt, ct)...)
	}
	for _, ct := range cur.Tables {
		for _, c := range ct.Columns {
			if c.Ref != "" && !c.Nullable && !hasColumn(prev, ct.Name, c.Name) && hasTable(prev, ct.Name) {
				out = append(out, &Change{Table: ct.Name, Column: c.Name,
					Problem: fmt.Sprintf("field %s is a new NOT NULL reference to %s, which the rows that exist cannot hold", c.Field, c.Ref),
					Fix:     "make the field nullable (*uuid.UUID), or add it nullable, fill it in a data migration, then make it NOT NULL"})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		return out[i].Column < out[j].Column
	})
	return out
}

// compareTable returns the refused changes of one table's columns.
func compareTable(pt Table, ct *Table) []*Change {
	var out []*Change
	cols := make(map[string]Column, len(ct.Columns))
	for _, c := range ct.Columns {
		cols[c.Name] = c
	}
	for _, pc := range pt.Columns {
		cc, ok := cols[pc.Name]
		if !ok {
			out = append(out, &Change{Table: pt.Name, Column: pc.Name,
				Problem: fmt.Sprintf("field %s (wire %q) is no longer in model %s: removed, or renamed", pc.Field, pc.Wire, ct.Model),
				Fix: "older apps still push it, and servers refuse fields they do not know; a NOT NULL column also makes every insert fail " +
					"and a renamed one starts empty; keep the field (it may stay unused), or copy its values to the new field in a data migration"})
			continue
		}
		if problem, fix := compareColumn(pc, cc); problem != "" {
			out = append(out, &Change{Table: pt.Name, Column: pc.Name, Problem: problem, Fix: fix})
		}
	}
	return out
}

// compareColumn says what changed between the column as it was (p) and as
// it is (c) that ssyncgen refuses, and what to do; empty when nothing.
func compareColumn(p, c Column) (problem, fix string) {
	switch {
	case p.Kind != c.Kind || p.Size != c.Size:
		return fmt.Sprintf("field %s changed type: %s in the snapshot, %s in the model", c.Field, kindText(p), kindText(c)),
			"migrations at open do not change a column's type, so every existing database would refuse to open; " +
				"revert the field's type, or add a new field (a new column) and copy the values over in a data migration"
	case p.Nullable && !c.Nullable:
		return fmt.Sprintf("field %s was nullable and is NOT NULL in the model", c.Field),
			"existing rows may hold NULL, and migrations at open refuse it; keep the field nullable (a pointer or sql.Null type), " +
				"or fill the NULLs and change the column in a data migration"
	case !p.Nullable && c.Nullable:
		return fmt.Sprintf("field %s was NOT NULL and is nullable in the model", c.Field),
			"older apps cannot read a NULL, and migrations at open refuse it; keep the field non-nullable, " +
				"or add a new nullable field and copy the values over in a data migration"
	case p.Wire != c.Wire:
		return fmt.Sprintf("field %s changed its wire name from %q to %q", c.Field, p.Wire, c.Wire),
			"older apps still push and read the old name, and servers refuse fields they do not know; keep the json tag"
	case p.Server != c.Server:
		return fmt.Sprintf("field %s changed its server column from %q to %q", c.Field, serverName(p), serverName(c)),
			"servers would add a new, empty column and keep the old one with its values; keep the server= name"
	case p.Ref != c.Ref && p.Ref != "":
		return fmt.Sprintf("field %s references %s in the snapshot, %s in the model", c.Field, p.Ref, refText(c.Ref)),
			"existing values hold ids of the old table; keep the reference, or add a new field for the new one"
	case p.Ref == "" && c.Ref != "" && !c.Nullable:
		return fmt.Sprintf("field %s, NOT NULL, gained a reference to %s", c.Field, c.Ref),
			"existing rows hold ids that may have no parent in it; make the field nullable (*uuid.UUID) first"
	case p.Attachment != c.Attachment:
		return fmt.Sprintf("field %s changed between an attachment and a plain value", c.Field),
			"existing values are held the old way; add a new field instead"
	}
	return "", ""
}

func kindText(c Column) string {
	if c.Size != 0 {
		return fmt.Sprintf("%s(%d)", c.Kind, c.Size)
	}
	return c.Kind
}

func serverName(c Column) string {
	if c.Server != "" {
		return c.Server
	}
	return c.Name
}

func refText(ref string) string {
	if ref == "" {
		return "no table"
	}
	return ref
}

func hasTable(s *Snapshot, table string) bool {
	for _, t := range s.Tables {
		if t.Name == table {
			return true
		}
	}
	return false
}

func hasColumn(s *Snapshot, table, column string) bool {
	for _, t := range s.Tables {
		if t.Name == table {
			for _, c := range t.Columns {
				if c.Name == column {
					return true
				}
			}
		}
	}
	return false
}
