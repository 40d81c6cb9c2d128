package store_test

import (
	"path/filepath"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/store"
	smysql "github.com/ssync-go/ssync/runtime/store/mysql"
	"github.com/ssync-go/ssync/runtime/store/postgres"
	ssqlite "github.com/ssync-go/ssync/runtime/store/sqlite"
)

// TestDDLUnchanged checks, statement by statement, that the tables every
// dialect builds at run time from the schema description are those ssyncgen
// generated before (testdata/ddl, one file per registry: the example's and
// each golden case's), so that existing stores open unchanged.
func TestDDLUnchanged(t *testing.T) {
	dialects := []store.Dialect{ssqlite.Dialect(), postgres.Dialect(), smysql.Dialect()}
	for name, reg := range storetest.Schemas() {
		t.Run(name, func(t *testing.T) {
			got := map[string][]string{}
			for _, d := range dialects {
				for _, c := range reg.Collections() {
					got[d.Name+"/"+c.CollectionName()] = d.DDL(c)
				}
			}
			storetest.CheckDDL(t, filepath.Join("testdata", "ddl", name+".txtar"), got)
		})
	}
}
