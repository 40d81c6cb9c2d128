package ssync

import (
	"context"
	"database/sql"
	"fmt"
)

// Execer is the part of *sql.DB and *sql.Tx that applying a schema needs.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ApplySchema runs the DDL of every collection of r for target, parents
// first. Every statement is idempotent (CREATE ... IF NOT EXISTS), so it is
// safe to call on every start.
func ApplySchema(ctx context.Context, db Execer, r *Registry, target SchemaTarget) error {
	for _, c := range r.ordered {
		ddl := c.DDL(target)
		if len(ddl) == 0 {
			return fmt.Errorf("ssync: collection %q has no %s schema", c.CollectionName(), target)
		}
		for _, stmt := range ddl {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("ssync: create %s (%s): %w", c.CollectionName(), target, err)
			}
		}
	}
	return nil
}
