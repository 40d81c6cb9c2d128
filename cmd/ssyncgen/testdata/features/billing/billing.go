// Package billing is a second model package of the "features" case: its
// model references a table of package models.
package billing

import (
	"github.com/google/uuid"

	"github.com/ssync-go/ssync/cmd/ssyncgen/testdata/features/models"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Invoice bills a project.
type Invoice struct {
	ssync.Record `ssync:"table=invoices,order=3"`

	ProjectID uuid.UUID     `json:"projectId" ssync:"ref=projects"`
	Amount    int64         `json:"amount"`
	Status    models.Status `json:"status" ssync:"index"`
}
