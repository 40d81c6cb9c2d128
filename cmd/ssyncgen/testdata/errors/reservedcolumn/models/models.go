package models

import (
	"time"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Thing has fields whose column or wire names belong to the sync metadata.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	CreatedAt time.Time
	Key       string `json:"id"`
}
