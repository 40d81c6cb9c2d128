package models

import (
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Paper has attachment tags in the wrong places.
type Paper struct {
	ssync.Record `ssync:"table=papers,order=1"`

	Title    string              `ssync:"attachment"`
	Scan     []byte              `ssync:"attachment"`
	Many     []*ssync.Attachment `ssync:"attachment"`
	Indexed  *ssync.Attachment   `ssync:"attachment,index"`
	Valued   *ssync.Attachment   `ssync:"attachment=yes"`
	Untagged *ssync.Attachment
	ByValue  ssync.Attachment `json:"byValue"`
}
