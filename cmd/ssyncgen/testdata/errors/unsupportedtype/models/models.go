package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has fields whose types cannot be synchronized.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Counts map[string]int
	Events chan int
}
