package blob_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/blob/blobtest"
)

func newDir(t *testing.T) *blob.Dir {
	t.Helper()
	d, err := blob.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Resumable uploads, refused content, ranges, walks and names are the
// conformance suite's (runtime/blob/blobtest, run on Dir by
// TestDirConformance); the tests below are Dir's own.

func TestPutDeduplicatesAndWalks(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	head := make([]byte, 4)
	a, n, err := d.Put(ctx, strings.NewReader("same bytes"), head)
	if err != nil || n != 4 || string(head) != "same" {
		t.Fatalf("Put = %+v, %d, %v (head %q)", a, n, err, head)
	}
	b, _, err := d.Put(ctx, strings.NewReader("same bytes"), nil)
	if err != nil || b.Hash != a.Hash {
		t.Fatalf("second Put = %+v, %v", b, err)
	}
	// The same content committed from an upload is stored once too.
	d.Append(ctx, "x", 0, strings.NewReader("same bytes"))
	if err := d.Commit(ctx, "x", a.Hash, a.Size); err != nil {
		t.Fatal(err)
	}
	empty := blobtest.Sum(nil)
	if err := d.Commit(ctx, "empty", empty, 0); err != nil {
		t.Fatalf("Commit of an empty blob without an upload: %v", err)
	}
	var hashes []string
	if err := d.Walk(ctx, func(i blob.Info) error { hashes = append(hashes, i.Hash); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 2 {
		t.Fatalf("Walk found %v, want the two blobs", hashes)
	}
	tmp, _ := os.ReadDir(filepath.Join(d.Root(), "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	if err := d.Delete(ctx, a.Hash); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, a.Hash); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
}

func TestVerifyBlobDetectsTampering(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	info, _, err := d.Put(ctx, strings.NewReader("original"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.VerifyBlob(ctx, info.Hash, info.Size); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path(info.Hash), []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.VerifyBlob(ctx, info.Hash, info.Size); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("VerifyBlob = %v, want ErrMismatch", err)
	}
	if _, err := d.Stat(ctx, info.Hash); !errors.Is(err, blob.ErrNotFound) {
		t.Fatal("a tampered blob was kept")
	}
	// Truncated is corrupt too.
	info, _, _ = d.Put(ctx, strings.NewReader("original"), nil)
	os.Truncate(d.Path(info.Hash), 3)
	if err := d.VerifyBlob(ctx, info.Hash, info.Size); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("VerifyBlob of a truncated blob = %v, want ErrMismatch", err)
	}
}

func TestNamesAreChecked(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	for _, h := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63)} {
		if _, err := d.Stat(ctx, h); !errors.Is(err, blob.ErrInvalidHash) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidHash", h, err)
		}
	}
	for _, id := range []string{"", "..", "../x", "a/b", ".hidden", strings.Repeat("x", 129)} {
		if _, err := d.Append(ctx, id, 0, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidUpload) {
			t.Errorf("Append(%q) = %v, want ErrInvalidUpload", id, err)
		}
	}
}
