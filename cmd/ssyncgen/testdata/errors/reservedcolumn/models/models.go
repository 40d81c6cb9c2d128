package models

import (
	"time"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Thing has fields whose column or wire names belong to the sync metadata.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Created time.Time `ssync:"name=created_at"`
	Key     string    `json:"id"`
	Mirror  string    `ssync:"server=ss_version"`
	Dirty   bool      `ssync:"name=ss_dirty"`
}
