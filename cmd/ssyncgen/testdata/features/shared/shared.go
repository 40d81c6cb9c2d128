// Package shared holds structs that models in several packages embed. It
// has no model of its own.
package shared

// Audit records who made a row; models embed it and its fields become
// their columns.
type Audit struct {
	// CreatedBy is who created the row.
	CreatedBy string `json:"createdBy" ssync:"index"`
	// Stamp is embedded in turn: its fields are flattened too.
	Stamp
}

// Stamp is a revision counter with an optional comment.
type Stamp struct {
	// Revision counts edits.
	Revision int `json:"revision"`
	// Comment is optional.
	Comment *string `json:"comment"`
}
