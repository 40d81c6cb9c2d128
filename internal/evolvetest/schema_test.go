package evolvetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ssync-go/ssync/cmd/ssyncgen/snapshot"
	v1 "github.com/ssync-go/ssync/internal/evolvetest/v1"
	v2 "github.com/ssync-go/ssync/internal/evolvetest/v2"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// TestSchemaSnapshots shows, for both versions, that the generated
// SchemaFingerprint and SchemaVersion are what the registry and the
// committed snapshot say, that the two versions differ, and that the
// change from v1 to v2 (two new fields, a new table) is one ssyncgen lets
// through.
func TestSchemaSnapshots(t *testing.T) {
	versions := []struct {
		dir         string
		reg         *ssync.Registry
		fingerprint string
		version     int
	}{
		{"v1", v1.Registry(), v1.SchemaFingerprint, v1.SchemaVersion},
		{"v2", v2.Registry(), v2.SchemaFingerprint, v2.SchemaVersion},
	}
	var snaps []*snapshot.Snapshot
	for i, v := range versions {
		if got := v.reg.Fingerprint(); got != v.fingerprint {
			t.Errorf("%s: Registry().Fingerprint() = %s, SchemaFingerprint = %s", v.dir, got, v.fingerprint)
		}
		if v.version != i+1 {
			t.Errorf("%s: SchemaVersion = %d, want %d (-schema-version in its go:generate line)", v.dir, v.version, i+1)
		}
		b, err := os.ReadFile(filepath.Join(v.dir, snapshot.FileName))
		if err != nil {
			t.Fatal(err)
		}
		s, err := snapshot.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(v.reg); err != nil {
			t.Errorf("%s: %v", v.dir, err)
		}
		snaps = append(snaps, s)
	}
	if versions[0].fingerprint == versions[1].fingerprint {
		t.Error("v1 and v2 have the same fingerprint")
	}
	if refused := snapshot.Compare(snaps[0], snaps[1]); len(refused) > 0 {
		t.Errorf("v1 to v2 is refused: %v", refused)
	}
	if refused := snapshot.Compare(snaps[1], snaps[0]); len(refused) != 3 {
		t.Errorf("v2 back to v1 (a table and two fields removed) is refused %d times, want 3: %v", len(refused), refused)
	}
}
