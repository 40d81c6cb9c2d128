// Package blob stores file content by its SHA-256: the content of the
// attachments rows carry (ssync.Attachment). The server keeps blobs in a
// [Store], which is an interface so that any storage can back it; [Dir] is
// the filesystem implementation, used by the server by default and by
// devices for the folder beside their database.
//
// Content arrives in resumable uploads: bytes are appended at an offset to
// an upload (an incomplete file with an id), and Commit verifies the
// SHA-256 of the whole before the content becomes readable under its hash.
// Identical content is stored once.
//
// # Plugging in an object store
//
// A Store over S3, GCS or Azure Blob maps the methods like this:
//
//   - Stat, Open, Delete and Walk work on complete blobs, e.g. objects
//     "blobs/<hash>". Open returns an io.ReadSeekCloser: a reader that
//     issues a ranged GET from the position Seek sets is enough (the server
//     serves HTTP range requests through it).
//   - An upload is a list of appended parts, e.g. objects
//     "uploads/<id>/<offset>": UploadSize sums their sizes, Append writes
//     one more part (and must keep what it read when the reader fails
//     midway: write the bytes received, then return the error), Abort
//     deletes them, WalkUploads lists uploads with their newest part's time.
//   - Commit reads the parts in order through a SHA-256 (and a size count),
//     refuses a mismatch with ErrMismatch (deleting the parts), and writes
//     the blob, e.g. with a multipart upload (UploadPartCopy avoids moving
//     the bytes again) or a streaming PUT; when the blob exists already it
//     only deletes the parts and refreshes the blob's time.
//
// Content must never become readable under a hash it does not have: that
// check, in Commit, is what lets the server trust hashes. [Verify] does it
// for a reader.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors of a Store; match them with errors.Is.
var (
	// ErrNotFound is returned for a blob the store does not have.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidHash is returned for a hash that is not 64 lowercase hex
	// digits.
	ErrInvalidHash = errors.New("blob: invalid hash (want 64 lowercase hex digits)")
	// ErrInvalidUpload is returned for an upload id that is not 1 to 128
	// letters, digits, '.', '_' or '-'.
	ErrInvalidUpload = errors.New("blob: invalid upload id")
	// ErrIncomplete is returned by Commit when the upload holds fewer bytes
	// than the size; it stays, to be resumed.
	ErrIncomplete = errors.New("blob: upload incomplete")
	// ErrMismatch is returned by Commit when the upload's content does not
	// have the hash (or holds more bytes than the size); the upload is
	// discarded.
	ErrMismatch = errors.New("blob: content does not match its hash")
)

// OffsetError is returned by Append when the offset is not the upload's
// current size; Have is that size, where the upload resumes.
type OffsetError struct {
	// Offset is what the caller asked for.
	Offset int64
	// Have is the upload's current size.
	Have int64
}

// Error says how many bytes the upload holds.
func (e *OffsetError) Error() string {
	return fmt.Sprintf("blob: append at offset %d, but the upload holds %d bytes", e.Offset, e.Have)
}

// Info describes a complete blob.
type Info struct {
	// Hash is the SHA-256 of the content, 64 lowercase hex digits.
	Hash string
	// Size is the content's length in bytes.
	Size int64
	// ModTime is when the blob was last written or committed again.
	ModTime time.Time
}

// Upload describes an incomplete upload.
type Upload struct {
	// ID names the upload.
	ID string
	// Size is the number of bytes received.
	Size int64
	// ModTime is when bytes were last appended.
	ModTime time.Time
}

// Store keeps blobs by hash and the uploads that become blobs. Every method
// must be safe for concurrent use. Hashes are checked with ValidHash and
// upload ids with ValidUploadID before they reach an implementation's
// storage (a Store may rely on the caller for neither: Dir checks them
// again).
type Store interface {
	// Stat returns the blob's info, or ErrNotFound.
	Stat(ctx context.Context, hash string) (Info, error)
	// Open returns the blob's content for reading, with Seek for ranges,
	// or ErrNotFound.
	Open(ctx context.Context, hash string) (io.ReadSeekCloser, error)
	// Delete removes the blob; removing a missing blob is not an error.
	Delete(ctx context.Context, hash string) error
	// Walk calls fn for every complete blob, in no particular order,
	// until fn returns an error (which Walk returns).
	Walk(ctx context.Context, fn func(Info) error) error

	// UploadSize returns the bytes an upload holds; 0 when there is none.
	UploadSize(ctx context.Context, upload string) (int64, error)
	// Append writes r's bytes to the upload from offset, which must be its
	// current size (else an *OffsetError), and returns the new size. When
	// r fails midway the bytes read before stay in the upload, so that it
	// resumes from there, and the error is returned.
	Append(ctx context.Context, upload string, offset int64, r io.Reader) (int64, error)
	// Commit turns a complete upload into the blob hash: it verifies that
	// the upload holds size bytes whose SHA-256 is hash, then makes them
	// readable under hash and removes the upload. It returns ErrIncomplete
	// (the upload stays) or ErrMismatch (the upload is discarded). When
	// the blob exists already, the upload is only removed.
	Commit(ctx context.Context, upload, hash string, size int64) error
	// Abort discards an upload; a missing upload is not an error.
	Abort(ctx context.Context, upload string) error
	// WalkUploads calls fn for every incomplete upload.
	WalkUploads(ctx context.Context, fn func(Upload) error) error
}

// ValidHash reports whether h is 64 lowercase hex digits.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidUploadID reports whether id is 1 to 128 letters, digits, '.', '_'
// or '-', not starting with '.'.
func ValidUploadID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Sum returns the SHA-256 of r's content, in hex, and its length.
func Sum(r io.Reader) (hash string, size int64, err error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Verify reads r to its end and returns nil when its content is size bytes
// whose SHA-256 is hash, ErrIncomplete when it is shorter, and ErrMismatch
// otherwise.
func Verify(r io.Reader, hash string, size int64) error {
	got, n, err := Sum(r)
	if err != nil {
		return err
	}
	switch {
	case n < size:
		return fmt.Errorf("%w: %d of %d bytes", ErrIncomplete, n, size)
	case n > size:
		return fmt.Errorf("%w: %d bytes, expected %d", ErrMismatch, n, size)
	case got != hash:
		return fmt.Errorf("%w: SHA-256 is %s, expected %s", ErrMismatch, got, hash)
	}
	return nil
}
