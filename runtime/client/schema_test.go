package client_test

import (
	"path/filepath"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/client"
)

// TestTableDDLUnchanged checks, statement by statement, that the device
// tables built at run time from the schema description are those ssyncgen
// generated before (testdata/ddl, one file per registry: the example's and
// each golden case's), so that existing device databases open unchanged.
func TestTableDDLUnchanged(t *testing.T) {
	for name, reg := range storetest.Schemas() {
		t.Run(name, func(t *testing.T) {
			got := map[string][]string{}
			for _, c := range reg.Collections() {
				got[c.CollectionName()] = client.TableDDL(c)
			}
			storetest.CheckDDL(t, filepath.Join("testdata", "ddl", name+".txtar"), got)
		})
	}
}
