package blob_test

import (
	"testing"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/blob/blobtest"
)

// TestDirConformance holds Dir to the behaviour every Store shares. Dir
// serializes appends within one process only, so both handles are the
// same Dir.
func TestDirConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) (blob.Store, blob.Store) {
		d := newDir(t)
		return d, d
	})
}
