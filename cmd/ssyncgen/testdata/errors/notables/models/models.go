// Package models has no synchronized model.
package models

// Plain is an ordinary struct.
type Plain struct {
	Name string
}
