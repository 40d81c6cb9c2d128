// Package blobtest holds every blob.Store implementation to the same
// behaviour: Run is the conformance test that blob.Dir and the object
// store backends (runtime/blob/s3) pass.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ssync-go/ssync/runtime/blob"
)

// Factory returns two handles on one new, empty store, as two server
// instances would open it. A store that is safe only within one process
// (blob.Dir) returns the same value twice.
type Factory func(t *testing.T) (a, b blob.Store)

// Run runs the conformance tests, each as a subtest on a store of its own.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		f    func(t *testing.T, a, b blob.Store)
	}{
		{"ResumableUpload", testResumableUpload},
		{"CommitRefusesWrongContent", testCommitRefusesWrongContent},
		{"DeduplicatesAndWalks", testDeduplicatesAndWalks},
		{"CommitAgainRefreshesTime", testCommitAgainRefreshesTime},
		{"Ranges", testRanges},
		{"AbortAndWalkUploads", testAbortAndWalkUploads},
		{"ConcurrentAppends", testConcurrentAppends},
		{"NotFound", testNotFound},
		{"NamesAreChecked", testNamesAreChecked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newStore(t)
			tc.f(t, a, b)
		})
	}
}

// Sum returns the SHA-256 of b in hex.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Content returns n bytes that differ with seed.
func Content(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// Read returns the whole content of the blob hash.
func Read(t testing.TB, s blob.Store, hash string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), hash)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Upload appends content to upload from 0 and commits it.
func Upload(t testing.TB, s blob.Store, upload string, content []byte) string {
	t.Helper()
	ctx := context.Background()
	if n, err := s.Append(ctx, upload, 0, bytes.NewReader(content)); err != nil || n != int64(len(content)) {
		t.Fatalf("Append(%s) = %d, %v", upload, n, err)
	}
	hash := Sum(content)
	if err := s.Commit(ctx, upload, hash, int64(len(content))); err != nil {
		t.Fatalf("Commit(%s): %v", upload, err)
	}
	return hash
}

func testResumableUpload(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789"), 10_000)
	hash := Sum(content)

	// The first part arrives, then the connection breaks: what was read
	// stays.
	n, err := a.Append(ctx, "up-1", 0, iotest.TimeoutReader(bytes.NewReader(content[:30_000])))
	if err == nil || n == 0 {
		t.Fatalf("Append with a failing reader = %d, %v; want the bytes read and an error", n, err)
	}
	// Through the other handle too.
	have, err := b.UploadSize(ctx, "up-1")
	if err != nil || have != n {
		t.Fatalf("UploadSize = %d, %v; want %d", have, err, n)
	}
	// Appending at the wrong offset says where to resume.
	var oe *blob.OffsetError
	if _, err := b.Append(ctx, "up-1", 0, bytes.NewReader(content)); !errors.As(err, &oe) || oe.Have != have || oe.Offset != 0 {
		t.Fatalf("Append at 0 = %v, want an OffsetError with Have %d", err, have)
	}
	if _, err := b.Append(ctx, "up-1", have+1, bytes.NewReader(content)); !errors.As(err, &oe) || oe.Have != have {
		t.Fatalf("Append past the end = %v, want an OffsetError with Have %d", err, have)
	}
	if err := b.Commit(ctx, "up-1", hash, int64(len(content))); !errors.Is(err, blob.ErrIncomplete) {
		t.Fatalf("Commit of a partial upload = %v, want ErrIncomplete", err)
	}
	if size, _ := a.UploadSize(ctx, "up-1"); size != have {
		t.Fatalf("an incomplete Commit changed the upload: %d bytes, want %d", size, have)
	}
	// Resumed by the other handle, in two more parts, the second one empty.
	mid := have + 20_000
	if n, err = b.Append(ctx, "up-1", have, bytes.NewReader(content[have:mid])); err != nil || n != mid {
		t.Fatalf("Append = %d, %v; want %d", n, err, mid)
	}
	if n, err = a.Append(ctx, "up-1", mid, bytes.NewReader(content[mid:])); err != nil || n != int64(len(content)) {
		t.Fatalf("Append the rest = %d, %v", n, err)
	}
	if n, err = a.Append(ctx, "up-1", n, strings.NewReader("")); err != nil || n != int64(len(content)) {
		t.Fatalf("Append of nothing = %d, %v", n, err)
	}
	if _, err := a.Stat(ctx, hash); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a blob is readable before Commit: %v", err)
	}
	if err := a.Commit(ctx, "up-1", hash, int64(len(content))); err != nil {
		t.Fatal(err)
	}
	if got := Read(t, b, hash); !bytes.Equal(got, content) {
		t.Fatal("committed content differs")
	}
	if size, _ := b.UploadSize(ctx, "up-1"); size != 0 {
		t.Fatalf("the upload is left after Commit: %d bytes", size)
	}
	info, err := b.Stat(ctx, hash)
	if err != nil || info.Size != int64(len(content)) || info.Hash != hash || info.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func testCommitRefusesWrongContent(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	good := []byte("the real content")
	if _, err := a.Append(ctx, "u", 0, strings.NewReader("something else!!")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, "u", Sum(good), int64(len(good))); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("Commit = %v, want ErrMismatch", err)
	}
	if size, _ := a.UploadSize(ctx, "u"); size != 0 {
		t.Fatal("a mismatching upload was kept")
	}
	if _, err := a.Stat(ctx, Sum(good)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatal("mismatching content became readable")
	}
	// Too many bytes is a mismatch too.
	if _, err := a.Append(ctx, "u", 0, bytes.NewReader(append(good, '!'))); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx, "u", Sum(good), int64(len(good))); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("Commit of a longer upload = %v, want ErrMismatch", err)
	}
	if size, _ := b.UploadSize(ctx, "u"); size != 0 {
		t.Fatal("a longer upload was kept")
	}
	// The right content, afterwards, is fine.
	Upload(t, b, "u", good)
	if got := Read(t, a, Sum(good)); !bytes.Equal(got, good) {
		t.Fatalf("read %q", got)
	}
}

func testDeduplicatesAndWalks(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	same := []byte("same bytes")
	h1 := Upload(t, a, "x", same)
	h2 := Upload(t, b, "y", same)
	if h1 != h2 {
		t.Fatal("hashes differ")
	}
	empty := Sum(nil)
	if err := a.Commit(ctx, "empty", empty, 0); err != nil {
		t.Fatalf("Commit of an empty blob without an upload: %v", err)
	}
	if got := Read(t, b, empty); len(got) != 0 {
		t.Fatalf("the empty blob reads %q", got)
	}
	got := map[string]int64{}
	if err := b.Walk(ctx, func(i blob.Info) error { got[i.Hash] = i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[h1] != int64(len(same)) || got[empty] != 0 {
		t.Fatalf("Walk found %v, want the two blobs", got)
	}
	stop := errors.New("stop")
	calls := 0
	if err := a.Walk(ctx, func(blob.Info) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk whose fn fails = %v after %d calls, want its error after 1", err, calls)
	}
	if err := a.Delete(ctx, h1); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, h1); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
	if _, err := b.Stat(ctx, h1); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of a deleted blob = %v", err)
	}
	uploads := 0
	if err := a.WalkUploads(ctx, func(blob.Upload) error { uploads++; return nil }); err != nil || uploads != 0 {
		t.Fatalf("WalkUploads after commits = %d uploads, %v", uploads, err)
	}
}

func testCommitAgainRefreshesTime(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	data := []byte("committed twice")
	hash := Upload(t, a, "first", data)
	before, err := a.Stat(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // object stores keep seconds
	Upload(t, b, "second", data)
	after, err := a.Stat(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime.After(before.ModTime) {
		t.Fatalf("committing existing content again left its time at %v (was %v)", after.ModTime, before.ModTime)
	}
	if size, _ := b.UploadSize(ctx, "second"); size != 0 {
		t.Fatalf("the second upload is left: %d bytes", size)
	}
}

func testRanges(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	content := Content(300_000, 7)
	hash := Upload(t, a, "r", content)
	r, err := b.Open(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readAt := func(off int64, whence int, n int) []byte {
		t.Helper()
		if _, err := r.Seek(off, whence); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("read %d bytes at %d (whence %d): %v", n, off, whence, err)
		}
		return buf
	}
	if got := readAt(123_456, io.SeekStart, 1000); !bytes.Equal(got, content[123_456:124_456]) {
		t.Fatal("a range from the start differs")
	}
	if got := readAt(-10, io.SeekCurrent, 10); !bytes.Equal(got, content[124_446:124_456]) {
		t.Fatal("a range from the current position differs")
	}
	if got := readAt(-5, io.SeekEnd, 5); !bytes.Equal(got, content[len(content)-5:]) {
		t.Fatal("a range from the end differs")
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want 0, EOF", n, err)
	}
	if size, err := r.Seek(0, io.SeekEnd); err != nil || size != int64(len(content)) {
		t.Fatalf("Seek to the end = %d, %v", size, err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, content) {
		t.Fatalf("reading after Seek(0) = %d bytes, %v", len(all), err)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to a negative position succeeded")
	}
}

func testAbortAndWalkUploads(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	start := time.Now().Add(-2 * time.Second)
	if _, err := a.Append(ctx, "one", 0, strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "one", 5, strings.NewReader("678")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "two.x", 0, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	walk := func(s blob.Store) map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		err := s.WalkUploads(ctx, func(u blob.Upload) error {
			if u.ModTime.Before(start) || u.ModTime.After(time.Now().Add(2*time.Second)) {
				t.Errorf("upload %s ModTime = %v, want about now", u.ID, u.ModTime)
			}
			got[u.ID] = u.Size
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := walk(b); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"one": 8, "two.x": 3}) {
		t.Fatalf("WalkUploads = %v", got)
	}
	if err := b.Abort(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if err := a.Abort(ctx, "one"); err != nil {
		t.Fatalf("aborting a missing upload: %v", err)
	}
	if size, err := a.UploadSize(ctx, "one"); err != nil || size != 0 {
		t.Fatalf("UploadSize after Abort = %d, %v", size, err)
	}
	if got := walk(a); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"two.x": 3}) {
		t.Fatalf("WalkUploads after Abort = %v", got)
	}
	// An aborted upload starts again from 0.
	if n, err := a.Append(ctx, "one", 0, strings.NewReader("new")); err != nil || n != 3 {
		t.Fatalf("Append after Abort = %d, %v", n, err)
	}
	stop := errors.New("stop")
	if err := a.WalkUploads(ctx, func(blob.Upload) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("WalkUploads whose fn fails = %v", err)
	}
}

// testConcurrentAppends appends different content at offset 0 of one
// upload from many goroutines on both handles: exactly one may succeed,
// the others must be told where the upload stands, and the upload must
// hold the winner's bytes only.
func testConcurrentAppends(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	const writers = 8
	contents := make([][]byte, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		contents[i] = Content(50_000, byte(i+1))
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { _, errs[i] = s.Append(ctx, "race", 0, bytes.NewReader(contents[i])) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		var oe *blob.OffsetError
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both appended at offset 0", winner, i)
		case err == nil:
			winner = i
		case !errors.As(err, &oe) || oe.Offset != 0 || oe.Have != 50_000:
			t.Fatalf("writer %d: %v, want an OffsetError with Have 50000", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer succeeded: %v", errs)
	}
	if size, err := b.UploadSize(ctx, "race"); err != nil || size != 50_000 {
		t.Fatalf("UploadSize = %d, %v", size, err)
	}
	hash := Sum(contents[winner])
	if err := a.Commit(ctx, "race", hash, 50_000); err != nil {
		t.Fatalf("Commit of the winner's content: %v", err)
	}
	if !bytes.Equal(Read(t, b, hash), contents[winner]) {
		t.Fatal("the upload holds more than the winner's bytes")
	}
}

func testNotFound(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	missing := Sum([]byte("never stored"))
	if _, err := a.Stat(ctx, missing); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat of a missing blob = %v, want ErrNotFound", err)
	}
	if _, err := a.Open(ctx, missing); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open of a missing blob = %v, want ErrNotFound", err)
	}
	if size, err := a.UploadSize(ctx, "nothing"); err != nil || size != 0 {
		t.Errorf("UploadSize of a missing upload = %d, %v", size, err)
	}
	if err := a.Commit(ctx, "nothing", missing, 10); !errors.Is(err, blob.ErrIncomplete) {
		t.Errorf("Commit of a missing upload = %v, want ErrIncomplete", err)
	}
}

func testNamesAreChecked(t *testing.T, a, b blob.Store) {
	ctx := context.Background()
	for _, h := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("a", 63) + "/"} {
		if _, err := a.Stat(ctx, h); !errors.Is(err, blob.ErrInvalidHash) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidHash", h, err)
		}
		if _, err := a.Open(ctx, h); !errors.Is(err, blob.ErrInvalidHash) {
			t.Errorf("Open(%q) = %v, want ErrInvalidHash", h, err)
		}
		if err := a.Delete(ctx, h); !errors.Is(err, blob.ErrInvalidHash) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidHash", h, err)
		}
		if err := a.Commit(ctx, "u", h, 0); !errors.Is(err, blob.ErrInvalidHash) {
			t.Errorf("Commit(u, %q) = %v, want ErrInvalidHash", h, err)
		}
	}
	for _, id := range []string{"", "..", "../x", "a/b", ".hidden", strings.Repeat("x", 129)} {
		if _, err := a.Append(ctx, id, 0, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidUpload) {
			t.Errorf("Append(%q) = %v, want ErrInvalidUpload", id, err)
		}
		if _, err := a.UploadSize(ctx, id); !errors.Is(err, blob.ErrInvalidUpload) {
			t.Errorf("UploadSize(%q) = %v, want ErrInvalidUpload", id, err)
		}
		if err := a.Commit(ctx, id, Sum(nil), 0); !errors.Is(err, blob.ErrInvalidUpload) {
			t.Errorf("Commit(%q) = %v, want ErrInvalidUpload", id, err)
		}
		if err := a.Abort(ctx, id); !errors.Is(err, blob.ErrInvalidUpload) {
			t.Errorf("Abort(%q) = %v, want ErrInvalidUpload", id, err)
		}
	}
}
