package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Thing has an unexported field without ssync:"-".
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Name   string
	secret string
}

var _ = Thing{}.secret
