package client

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// OutOfScope counts the local changes of one owner in one table that a
// sync cannot push: the owner is neither the signed-in user nor one of its
// linked users (a link removed from the user's credentials, or another
// user signed in since the change was made). They stay on the device,
// pending, and go with a sync of a user that may act for the owner.
type OutOfScope struct {
	// SyncID is the owner of the changed rows.
	SyncID string
	// Collection is the table's collection name.
	Collection string
	// Rows counts the changed rows.
	Rows int
}

// PendingOutOfScope reports the local changes that wait to be pushed but
// belong to owners outside the signed-in user's scope, by owner and then
// table in registry order; nil when there are none. Synchronize reports
// them in Result.OutOfScope.
func (db *DB) PendingOutOfScope(ctx context.Context) ([]OutOfScope, error) {
	_, scope, _, err := db.activeScope()
	if err != nil {
		return nil, err
	}
	var out []OutOfScope
	for _, c := range db.reg.Collections() {
		name := c.CollectionName()
		rows, err := db.sql.QueryContext(ctx, withColumns("SELECT `ss_sync_id`, COUNT(*) FROM "+quote(name)+
			" WHERE {dirty} > 0 AND `ss_sync_id` NOT IN (SELECT value FROM json_each(?)) GROUP BY `ss_sync_id`"), scope)
		if err != nil {
			return nil, fmt.Errorf("ssync client: count changes outside the scope in %s: %w", name, err)
		}
		for rows.Next() {
			o := OutOfScope{Collection: name}
			if err := rows.Scan(&o.SyncID, &o.Rows); err != nil {
				rows.Close()
				return nil, fmt.Errorf("ssync client: count changes outside the scope in %s: %w", name, err)
			}
			out = append(out, o)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("ssync client: count changes outside the scope in %s: %w", name, err)
		}
	}
	slices.SortStableFunc(out, func(a, b OutOfScope) int { return strings.Compare(a.SyncID, b.SyncID) })
	return out, nil
}
