package test

import (
	"os"
	"testing"

	"github.com/ssync-go/ssync/cmd/ssyncgen/snapshot"
	generated "github.com/ssync-go/ssync/cmd/ssyncgen/testdata/relations/want"
)

// TestSchemaSnapshot shows that the generated SchemaFingerprint is the
// registry's fingerprint at run time, and that the committed snapshot
// describes the registry's tables, columns and indexes.
func TestSchemaSnapshot(t *testing.T) {
	if got := generated.Registry().Fingerprint(); got != generated.SchemaFingerprint {
		t.Errorf("Registry().Fingerprint() = %s, SchemaFingerprint = %s", got, generated.SchemaFingerprint)
	}
	b, err := os.ReadFile("../want/" + snapshot.FileName)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(generated.Registry()); err != nil {
		t.Error(err)
	}
	if s.SchemaVersion != generated.SchemaVersion {
		t.Errorf("schema version %d in the snapshot, SchemaVersion = %d", s.SchemaVersion, generated.SchemaVersion)
	}
}
