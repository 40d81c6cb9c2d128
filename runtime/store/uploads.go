package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DefaultUploadExpiry is how long an incomplete upload is kept after its
// last write when WithUploadExpiry is not given.
const DefaultUploadExpiry = 24 * time.Hour

// ErrBlobQuota is returned by ReserveUpload when the upload would take the
// user's uploads over its quota of bytes.
var ErrBlobQuota = errors.New("attachment quota exceeded")

// ErrTooManyUploads is returned by ReserveUpload when the user has as many
// incomplete uploads as it may.
var ErrTooManyUploads = errors.New("too many incomplete uploads")

// WithUploadExpiry sets how long an incomplete upload is kept after its
// last write: PurgeBlobs removes older ones, and they stop counting
// against their user's limits (UploadLimits) at once. Default
// DefaultUploadExpiry, shorter than the retention of content.
func WithUploadExpiry(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return errors.New("WithUploadExpiry: expiry must be positive")
		}
		s.blob.uploadExpiry = d
		return nil
	}
}

// UploadExpiry is how long an incomplete upload is kept after its last
// write (WithUploadExpiry).
func (s *Store) UploadExpiry() time.Duration { return s.uploadExpiry() }

func (s *Store) uploadExpiry() time.Duration {
	if s.blob.uploadExpiry > 0 {
		return s.blob.uploadExpiry
	}
	return DefaultUploadExpiry
}

// UploadLimits caps what one user's uploads occupy; a zero field is no
// limit.
type UploadLimits struct {
	// Bytes caps the bytes of the user's uploads: the content it uploaded
	// that the server keeps, plus the announced size of each of its
	// incomplete uploads.
	Bytes int64
	// Open caps the user's incomplete uploads.
	Open int
}

// BlobUsage is what a user's uploads occupy.
type BlobUsage struct {
	// Bytes is the size of the content the user uploaded that the server
	// keeps, plus the announced size of its incomplete uploads.
	Bytes int64
	// Open counts its incomplete uploads.
	Open int
}

// BlobUsage returns what user's uploads occupy, leaving out the upload
// with id except (when not empty) and incomplete uploads older than the
// upload expiry.
func (s *Store) BlobUsage(ctx context.Context, user, except string) (BlobUsage, error) {
	return s.blobUsage(ctx, s.db, user, except)
}

func (s *Store) blobUsage(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, user, except string) (BlobUsage, error) {
	p := s.dialect.Placeholder
	var u BlobUsage
	err := q.QueryRowContext(ctx, "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(pending), 0) FROM ss_blob_usage WHERE sync_id = "+p(1)+
		" AND item <> "+p(2)+" AND (pending = 0 OR touched_at >= "+p(3)+")",
		user, except, s.now().UTC().Add(-s.uploadExpiry())).Scan(&u.Bytes, &u.Open)
	if err != nil {
		return u, fmt.Errorf("ssync store: blob usage: %w", err)
	}
	return u, nil
}

// ReserveUpload records that user's upload with id upload (of content of
// size bytes) is open, refreshing it when it is: it is refused with
// ErrTooManyUploads or ErrBlobQuota (wrapped, with the figures) when it
// would take the user's uploads over limits.
func (s *Store) ReserveUpload(ctx context.Context, user, upload string, size int64, limits UploadLimits) error {
	u, err := s.BlobUsage(ctx, user, upload)
	if err != nil {
		return err
	}
	if limits.Open > 0 && u.Open >= limits.Open {
		return fmt.Errorf("%w: %d incomplete uploads, the most a user may have (they expire %s after their last write)",
			ErrTooManyUploads, u.Open, s.uploadExpiry())
	}
	if limits.Bytes > 0 && u.Bytes+size > limits.Bytes {
		return fmt.Errorf("%w: the user's uploads hold %d bytes; %d more would pass the quota of %d bytes",
			ErrBlobQuota, u.Bytes, size, limits.Bytes)
	}
	return s.useBlob(ctx, s.db, user, upload, size, true)
}

// CommitUpload records that user's upload with id upload became the
// content with hash (of size bytes): the upload is no longer open, and the
// content counts against the user's quota until PurgeBlobs removes it. The
// user then holds the content (HoldBlob).
func (s *Store) CommitUpload(ctx context.Context, user, upload, hash string, size int64) error {
	if err := s.DropUpload(ctx, user, upload); err != nil {
		return err
	}
	if err := s.useBlob(ctx, s.db, user, hash, size, false); err != nil {
		return err
	}
	return s.HoldBlob(ctx, user, hash)
}

// DropUpload forgets user's open upload with id upload (discarded).
func (s *Store) DropUpload(ctx context.Context, user, upload string) error {
	p := s.dialect.Placeholder
	if _, err := s.db.ExecContext(ctx, "DELETE FROM ss_blob_usage WHERE sync_id = "+p(1)+" AND item = "+p(2)+" AND pending = 1",
		user, upload); err != nil {
		return fmt.Errorf("ssync store: drop upload: %w", err)
	}
	return nil
}

func (s *Store) useBlob(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, user, item string, size int64, open bool) error {
	o := 0
	if open {
		o = 1
	}
	if _, err := q.ExecContext(ctx, s.stmt.useBlob, user, item, size, o, s.now().UTC()); err != nil {
		return fmt.Errorf("ssync store: record upload: %w", err)
	}
	return nil
}
