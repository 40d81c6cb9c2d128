package models

import (
	"encoding/json"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Thing indexes columns SQL cannot compare.
type Thing struct {
	ssync.Record `ssync:"table=things,order=1"`

	Blob []byte          `ssync:"index"`
	Raw  json.RawMessage `ssync:"index"`
}
