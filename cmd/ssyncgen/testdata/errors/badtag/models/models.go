package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Audit is embedded in Thing.
type Audit struct {
	By string
}

// Thing has malformed field tags.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1,order=2"`

	Empty   string `ssync:""`
	NoName  string `ssync:"name="`
	BadName string `ssync:"name=9lives"`
	Index   string `ssync:"index=yes"`
	Skip    string `ssync:"-,index"`
	Twice   string `ssync:"name=a,name=b"`
	Comma   string `ssync:"name=c,,index"`
	NoRef   string `ssync:"ref"`
	Audit   `ssync:"name=audit"`
}
