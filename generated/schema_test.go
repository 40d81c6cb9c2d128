package generated_test

import (
	"os"
	"testing"

	"github.com/ssync-go/ssync/cmd/ssyncgen/snapshot"
	"github.com/ssync-go/ssync/generated"
)

// TestSchemaSnapshot shows that the generated SchemaFingerprint is the
// registry's fingerprint at run time, and that the committed snapshot,
// schema.ssync.json, describes the registry's tables, columns and indexes
// and the version set by ssyncgen -schema-version.
func TestSchemaSnapshot(t *testing.T) {
	reg := generated.Registry()
	if got := reg.Fingerprint(); got != generated.SchemaFingerprint {
		t.Errorf("Registry().Fingerprint() = %s, SchemaFingerprint = %s", got, generated.SchemaFingerprint)
	}
	b, err := os.ReadFile(snapshot.FileName)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(reg); err != nil {
		t.Error(err)
	}
	if s.SchemaVersion != generated.SchemaVersion || generated.SchemaVersion != 1 {
		t.Errorf("schema version %d in the snapshot, SchemaVersion = %d, the go:generate line sets 1", s.SchemaVersion, generated.SchemaVersion)
	}
}
