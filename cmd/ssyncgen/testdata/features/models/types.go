package models

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
)

// Status is a named string: it travels and is stored as its string.
type Status string

// The statuses of a project or task.
const (
	StatusOpen Status = "open"
	StatusDone Status = "done"
)

// Level is a named int8.
type Level int8

// Blob is a named []byte.
type Blob []byte

// Tags is a list stored as JSON text: it implements sql.Scanner,
// driver.Valuer, json.Marshaler and json.Unmarshaler.
type Tags []string

// Value implements driver.Valuer: the JSON text.
func (t Tags) Value() (driver.Value, error) {
	b, err := json.Marshal([]string(t))
	return string(b), err
}

// Scan implements sql.Scanner.
func (t *Tags) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = nil
		return nil
	case string:
		return json.Unmarshal([]byte(v), (*[]string)(t))
	case []byte:
		return json.Unmarshal(v, (*[]string)(t))
	}
	return errors.New("tags: unsupported column value")
}

// MarshalJSON implements json.Marshaler.
func (t Tags) MarshalJSON() ([]byte, error) { return json.Marshal([]string(t)) }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Tags) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, (*[]string)(t)) }

// Point is a struct stored as JSON text; its Value method has a pointer
// receiver.
type Point struct {
	X, Y float64
}

type point Point // without the methods, for encoding/json

// Value implements driver.Valuer.
func (p *Point) Value() (driver.Value, error) {
	b, err := json.Marshal(point(*p))
	return string(b), err
}

// Scan implements sql.Scanner.
func (p *Point) Scan(src any) error {
	switch v := src.(type) {
	case string:
		return json.Unmarshal([]byte(v), (*point)(p))
	case []byte:
		return json.Unmarshal(v, (*point)(p))
	}
	return errors.New("point: unsupported column value")
}

// MarshalJSON implements json.Marshaler.
func (p Point) MarshalJSON() ([]byte, error) { return json.Marshal(point(p)) }

// UnmarshalJSON implements json.Unmarshaler.
func (p *Point) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, (*point)(p)) }
