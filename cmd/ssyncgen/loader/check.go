package loader

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/ssync-go/ssync/templates"
)

// checkTables reports the problems between tables: duplicate table names
// and orders, foreign keys to unknown tables, non-nullable self-references,
// cycles between tables that no nullable field breaks, references against
// the order, and generated
// identifiers that clash. out is the output package when it is one of the
// loaded packages.
func (l *loader) checkTables(out *packages.Package) {
	byName := map[string]*table{}
	byOrder := map[int]*table{}
	var unique []*table
	for _, t := range l.tables {
		if prev := byName[t.Collection]; prev != nil {
			l.errorf(t.tagPos, "table %q of %s is already used by %s (table names must be unique)", t.Collection, l.modelName(t), l.modelName(prev))
			continue
		}
		byName[t.Collection] = t
		unique = append(unique, t)
		if prev := byOrder[t.Order]; prev != nil {
			l.errorf(t.tagPos, "order %d of %s is already used by %s (give every table its own order, parents before children)", t.Order, l.modelName(t), l.modelName(prev))
			continue
		}
		byOrder[t.Order] = t
	}
	l.checkRefs(unique, byName)
	l.checkNames(unique, out)
}

// modelName names a model in messages: its type name, qualified by its
// package when another loaded package has a model of the same name.
func (l *loader) modelName(t *table) string {
	qual := ""
	for _, o := range l.tables {
		if o.GoName == t.GoName && o.ModelPath != t.ModelPath {
			qual = t.ModelPkg + "."
			if o.ModelPkg == t.ModelPkg {
				qual = t.ModelPath + "."
			}
		}
	}
	return qual + t.GoName
}

// checkRefs checks the foreign keys: each names a known table; a table
// references itself (a tree: subtasks, threaded comments) only through a
// nullable field; every cycle of references between tables passes through
// at least one nullable field; and each child's order is greater than its
// parent's, except for a nullable reference inside a cycle (a back
// reference), whose value the runtimes write once the referenced row is
// there.
func (l *loader) checkRefs(tables []*table, byName map[string]*table) {
	var known []string
	for _, t := range tables {
		known = append(known, t.Collection)
	}
	sort.Strings(known)
	// edges are the references between distinct tables, strict those that
	// cannot be NULL; a self-reference is no edge: its rows are in one
	// table, written in one order.
	edges, strict := map[*table][]*table{}, map[*table][]*table{}
	for _, t := range tables {
		for _, r := range t.refs {
			parent := byName[r.field.Ref]
			switch {
			case parent == nil:
				l.errorf(r.pos, "ref=%s of field %s.%s names no table (known tables: %s)",
					r.field.Ref, t.GoName, strings.Join(r.field.Path, "."), strings.Join(known, ", "))
			case parent == t:
				if !r.field.Nullable() {
					l.errorf(r.pos, "field %s.%s references its own table %s but cannot be NULL, so no first row could ever be written: it would need a parent row that does not exist yet (make it *uuid.UUID, nil for a root row)",
						t.GoName, strings.Join(r.field.Path, "."), t.Collection)
				}
			default:
				edges[t] = append(edges[t], parent)
				if !r.field.Nullable() {
					strict[t] = append(strict[t], parent)
				}
			}
		}
	}
	comp, strictComp := components(tables, edges), components(tables, strict)
	cyclic := map[int]bool{}
	for _, t := range tables {
		for _, r := range t.refs {
			parent := byName[r.field.Ref]
			if parent == nil || parent == t || r.field.Nullable() || strictComp[t] != strictComp[parent] || cyclic[strictComp[t]] {
				continue
			}
			// The first reference of a cycle reports the whole cycle.
			cyclic[strictComp[t]] = true
			l.errorf(r.pos, "foreign keys form a cycle between tables through fields that cannot be NULL: %s (no row of these tables could be written first: "+
				"make one of these fields *uuid.UUID, nil until the row it references exists, or drop its ref=, which keeps the id but not the foreign key)",
				cycleText(tables, byName, strictComp, strictComp[t], true))
		}
	}
	for _, t := range tables {
		for _, r := range t.refs {
			parent := byName[r.field.Ref]
			if parent == nil || parent == t || t.Order > parent.Order || cyclic[strictComp[t]] && strictComp[t] == strictComp[parent] {
				continue
			}
			if comp[t] == comp[parent] {
				if r.field.Nullable() {
					continue // a back reference inside a cycle
				}
				l.errorf(r.pos, "field %s.%s references %s (%s, order %d), but %s has order %d: a field that cannot be NULL must reference a table of smaller order, also inside a cycle of references, where only nullable fields may reference a later table (give %s an order greater than %d)",
					t.GoName, strings.Join(r.field.Path, "."), parent.Collection, l.modelName(parent), parent.Order,
					l.modelName(t), t.Order, l.modelName(t), parent.Order)
				continue
			}
			l.errorf(r.pos, "field %s.%s references %s (%s, order %d), but %s has order %d: a child must come after its parent (give %s an order greater than %d)",
				t.GoName, strings.Join(r.field.Path, "."), parent.Collection, l.modelName(parent), parent.Order,
				l.modelName(t), t.Order, l.modelName(t), parent.Order)
		}
	}
}

// cycleText lists the references between the tables of one strongly
// connected component; with strict, only those that cannot be NULL.
func cycleText(tables []*table, byName map[string]*table, comp map[*table]int, c int, strict bool) string {
	var parts []string
	for _, t := range tables {
		if comp[t] != c {
			continue
		}
		for _, r := range t.refs {
			if p := byName[r.field.Ref]; p != nil && p != t && comp[p] == c && !(strict && r.field.Nullable()) {
				parts = append(parts, fmt.Sprintf("%s.%s → %s", t.GoName, strings.Join(r.field.Path, "."), p.Collection))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// components numbers the strongly connected components of the reference
// graph between distinct tables (Tarjan): two tables share a component
// exactly when their references form a cycle.
func components(tables []*table, edges map[*table][]*table) map[*table]int {
	index := map[*table]int{}
	low := map[*table]int{}
	onStack := map[*table]bool{}
	comp := map[*table]int{}
	var stack []*table
	next, ncomp := 0, 0
	var visit func(t *table)
	visit = func(t *table) {
		index[t], low[t] = next, next
		next++
		stack = append(stack, t)
		onStack[t] = true
		for _, p := range edges[t] {
			if _, seen := index[p]; !seen {
				visit(p)
				low[t] = min(low[t], low[p])
			} else if onStack[p] {
				low[t] = min(low[t], index[p])
			}
		}
		if low[t] == index[t] {
			for {
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[top] = false
				comp[top] = ncomp
				if top == t {
					break
				}
			}
			ncomp++
		}
	}
	for _, t := range tables {
		if _, seen := index[t]; !seen {
			visit(t)
		}
	}
	return comp
}

// packageIdents are the package-level identifiers the registry file
// declares.
var packageIdents = []string{"Registry", "SchemaFingerprint", "SchemaVersion"}

// checkNames reports generated identifiers, files and index names that
// clash: between two models, with the registry's functions, with
// declarations of the output package that ssyncgen did not write, and
// within one model.
func (l *loader) checkNames(tables []*table, out *packages.Package) {
	owner := map[string]*table{}
	for _, id := range packageIdents {
		owner[id] = nil
	}
	files := map[string]*table{}
	indexes := map[string]*table{}
	clashes := map[[2]*table][]string{}
	var pairs [][2]*table
	for _, t := range tables {
		ids := t.Idents()
		methods := map[string]bool{}
		for _, m := range templates.RepoMethods() {
			methods[m] = true
		}
		consts := map[string]bool{}
		for _, f := range t.Fields {
			if consts[f.Const] {
				l.errorf(t.tagPos, "two fields of %s are named %s, so generated identifiers such as %s clash (rename one of the fields)", l.modelName(t), f.GoName, f.Const)
			}
			consts[f.Const] = true
			for _, m := range []string{f.Where, f.By, f.Attach, f.Open} {
				if m == "" {
					continue
				}
				if methods[m] {
					l.errorf(t.tagPos, "generated method %s.%s for field %s clashes with another method of %s (rename the field)", t.RepoType, m, strings.Join(f.Path, "."), t.RepoType)
				}
				methods[m] = true
			}
		}
		for _, id := range ids {
			prev, taken := owner[id]
			switch {
			case !taken:
				owner[id] = t
			case prev == nil:
				l.errorf(t.tagPos, "generated identifier %s of model %s clashes with the generated function %s (rename the model)", id, l.modelName(t), id)
			case prev != t:
				key := [2]*table{prev, t}
				if clashes[key] == nil {
					pairs = append(pairs, key)
				}
				clashes[key] = append(clashes[key], id)
			}
		}
		if prev := files[t.FileName]; prev != nil {
			key := [2]*table{prev, t}
			if clashes[key] == nil {
				pairs = append(pairs, key)
			}
			clashes[key] = append(clashes[key], "file "+t.FileName)
		} else {
			files[t.FileName] = t
		}
		for _, n := range t.IndexNames() {
			if prev := indexes[n]; prev != nil && prev != t {
				l.errorf(t.tagPos, "index %s of table %s has the name of an index of table %s (rename a column with name= or a table)", n, t.Collection, prev.Collection)
			}
			indexes[n] = t
		}
		for _, n := range t.ServerIndexNames() {
			if len(n) > 63 {
				l.errorf(t.tagPos, "index name %s of table %s is longer than 63 characters, the limit of PostgreSQL and MySQL (shorten the table or column name)", n, t.Collection)
			}
		}
		if out != nil {
			for _, id := range ids {
				obj := out.Types.Scope().Lookup(id)
				if obj == nil || l.generated[l.fset.Position(obj.Pos()).Filename] {
					continue
				}
				l.errorf(obj.Pos(), "%s is declared here, but ssyncgen generates %s for model %s in this package (rename it, or generate into another package with -out)",
					id, id, l.modelName(t))
			}
		}
	}
	if out != nil {
		for _, id := range packageIdents {
			if obj := out.Types.Scope().Lookup(id); obj != nil && !l.generated[l.fset.Position(obj.Pos()).Filename] {
				l.errorf(obj.Pos(), "%s is declared here, but ssyncgen generates %s in this package (rename it, or generate into another package with -out)", id, id)
			}
		}
	}
	for _, key := range pairs {
		a, b := key[0], key[1]
		l.errorf(b.tagPos, "generated identifiers of %s clash with those of %s: %s (give the models distinct names)",
			l.modelName(b), l.modelName(a), strings.Join(clashes[key], ", "))
	}
}
