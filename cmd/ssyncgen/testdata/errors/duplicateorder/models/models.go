package models

import "github.com/ssync-go/ssync/runtime/ssync"

// First is synchronized first.
type First struct {
	ssync.Record `ssync:"table=first,order=1"`

	Name string
}

// Second claims the same order.
type Second struct {
	ssync.Record `ssync:"table=second,order=1"`

	Name string
}
