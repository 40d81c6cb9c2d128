package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
)

// TestKeysetPagination: paging with After through 10,000 rows ordered by a
// column full of ties (descending, then NULLs) visits every row once and in
// order, also while rows are added between pages; Offset paging over the
// same changes skips or repeats rows, which is why After exists.
func TestKeysetPagination(t *testing.T) {
	ctx := context.Background()
	d := storetest.Device(t, storetest.Relations(t), "ann")
	repo := client.NewRepo(d, storetest.RelTable("rel_project"))
	const n = 10_000
	err := d.Transaction(ctx, func(ctx context.Context) error {
		for i := range n {
			node := &storetest.Node{Title: fmt.Sprint(i % 7)}
			if i%13 == 0 {
				p := uuid.New()
				node.A = &p // a nullable column with NULLs and values
			}
			if err := repo.Insert(ctx, node); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	orders := [][]client.SelectOption{
		{client.OrderBy("title", true)},
		{client.OrderBy("a", false), client.OrderBy("title", false)},
		{client.OrderBy("a", true)},
		nil,
	}
	for k, order := range orders {
		all, err := repo.Select(ctx, order...)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uuid.UUID]bool{}
		var visited []uuid.UUID
		var last *storetest.Node
		pages := 0
		for {
			opts := append([]client.SelectOption{client.Limit(333)}, order...)
			if last != nil {
				opts = append(opts, repo.After(last))
			}
			page, err := repo.Select(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages++
			for _, r := range page {
				if seen[r.ID] {
					t.Fatalf("order %d: row %s visited twice", k, r.ID)
				}
				seen[r.ID] = true
				visited = append(visited, r.ID)
			}
			last = page[len(page)-1]
			// Rows added while paging (during the first pages: one that
			// sorts last would be met again on every page): the pages
			// after them never repeat or skip the rows that were there.
			if pages <= 5 {
				if err := repo.Insert(ctx, &storetest.Node{Title: "3"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Every row that was there at the start, in the query's order.
		i := 0
		for _, id := range visited {
			if i < len(all) && id == all[i].ID {
				i++
			}
		}
		if i != len(all) {
			t.Fatalf("order %d: %d pages visited %d of the %d rows there at the start in order (%d rows in all)", k, pages, i, len(all), len(visited))
		}
	}
}
