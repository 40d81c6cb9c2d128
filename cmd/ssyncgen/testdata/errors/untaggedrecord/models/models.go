package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing embeds ssync.Record but has no table tag.
type Thing struct {
	ssync.Record

	Name string
}
