package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Audit is a struct of fields shared by models.
type Audit struct {
	By string
}

type hidden struct {
	Secret string
}

// Nested embeds the record a second time.
type Nested struct {
	ssync.Record
	Extra string
}

// Thing embeds structs in ways ssyncgen cannot flatten.
type Thing struct {
	ssync.Record `ssync:"table=things,order=1"`
	*Audit
	hidden
	Nested

	Name string
}
