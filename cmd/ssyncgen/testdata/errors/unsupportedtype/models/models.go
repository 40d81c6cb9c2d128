package models

import (
	"database/sql"
	"database/sql/driver"

	"github.com/ssync-go/ssync/runtime/ssync"
)

// Thing has fields whose types cannot be synchronized.
type Thing struct {
	ssync.Record `ssync:"table=t,order=1"`

	Counts map[string]int
	Events chan int
}

// Counts is a named map.
type Counts map[string]int

// Money can be stored but has no JSON form.
type Money struct{ cents int64 }

// Scan implements sql.Scanner.
func (m *Money) Scan(src any) error { return nil }

// Value implements driver.Valuer.
func (m Money) Value() (driver.Value, error) { return m.cents, nil }

// More has more fields of unsupported types.
type More struct {
	ssync.Record `ssync:"table=more,order=2"`

	Named   Counts
	NullMap sql.Null[map[string]int]
	BlobPtr *[]byte
	Price   Money
	PtrNull *sql.NullString
}
