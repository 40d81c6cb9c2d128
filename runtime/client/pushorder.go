package client

import (
	"slices"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/internal/refval"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// parentsFirst orders the changed rows of one table so that each row comes
// after the changed rows of the same table it references (a
// self-reference: subtasks, threaded comments). A push split in parts
// (SyncOptions.PushBatchRows) then never carries a reference to a row the
// server does not have yet, which it refuses (dangling_reference) on every
// retry. Rows keep their order otherwise; a cycle, which concurrent moves
// can make, is broken where the walk closes it. Tables without a
// self-reference are returned as they are.
func parentsFirst(c ssync.Collection, rows []dirtyRow) []dirtyRow {
	var self []int
	for i, col := range c.UserColumns() {
		if col.Ref == c.CollectionName() {
			self = append(self, i)
		}
	}
	if len(self) == 0 || len(rows) < 2 {
		return rows
	}
	at := make(map[uuid.UUID]int, len(rows))
	for i, r := range rows {
		at[r.id] = i
	}
	const (
		unseen = iota
		walking
		placed
	)
	state := make([]int, len(rows))
	out := make([]dirtyRow, 0, len(rows))
	var values []any
	var visit func(i int)
	visit = func(i int) {
		if state[i] != unseen {
			return
		}
		state[i] = walking
		if r := rows[i].row; r != nil {
			values = c.AppendValues(r, values[:0])
			var parents []int
			for _, k := range self {
				if id, ok := refval.ID(values[k]); ok {
					if j, ok := at[id]; ok && j != i {
						parents = append(parents, j)
					}
				}
			}
			for _, j := range parents {
				visit(j)
			}
		}
		state[i] = placed
		out = append(out, rows[i])
	}
	for i := range rows {
		visit(i)
	}
	return out
}

// forwardReach returns, for each row of all (the rows of a push, in the
// order they go), the position of the last row after it that it
// references, or its own position. A reference to a row later in the push
// is one of a cycle (rows that reference each other, in one table or
// through tables that reference each other): a part of the push must not
// end between the two, or the server gets a reference to a row it does
// not have yet and refuses the part on every retry.
func forwardReach(reg *ssync.Registry, all []dirtyRow) []int {
	reach := make([]int, len(all))
	pos := make(map[string]map[uuid.UUID]int)
	for i, r := range all {
		reach[i] = i
		if pos[r.coll] == nil {
			pos[r.coll] = map[uuid.UUID]int{}
		}
		pos[r.coll][r.id] = i
	}
	var values []any
	for i, r := range all {
		if r.row == nil || r.op == "" || r.op == "deleted" {
			continue
		}
		c, err := reg.Lookup(r.coll)
		if err != nil {
			continue
		}
		values = c.AppendValues(r.row, values[:0])
		for k, col := range c.UserColumns() {
			if col.Ref == "" || slices.Contains(r.absent, col.Name) {
				continue
			}
			if id, ok := refval.ID(values[k]); ok {
				if j, ok := pos[col.Ref][id]; ok && j > reach[i] {
					reach[i] = j
				}
			}
		}
	}
	return reach
}
