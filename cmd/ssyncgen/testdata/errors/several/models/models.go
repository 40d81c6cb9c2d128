package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has three problems.
type Thing struct {
	ssync.Record `ssync:"table=t,order=-1"`

	Counts map[string]int
	UpdatedAt string
}

// Other has one more.
type Other struct {
	ssync.Record `ssync:"table=o,order=2,size=3"`

	Name string
}
