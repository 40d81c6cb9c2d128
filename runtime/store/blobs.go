package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// DefaultBlobRetention is how long content no live row references is kept
// when WithBlobRetention is not given.
const DefaultBlobRetention = 30 * 24 * time.Hour

// blobState is a store's attachment content: where it is kept and how long
// unreferenced content stays.
type blobState struct {
	store        blob.Store
	retention    time.Duration
	uploadExpiry time.Duration
}

// WithBlobStore keeps the content of attachments (ssync.Attachment fields)
// in bs, and makes the server serve it under {base}/blobs/{hash}: uploads
// (resumable, verified against the hash), downloads (with ranges) for users
// who may read a row that references it. blob.NewDir gives a filesystem
// store; see package blob for plugging in an object store. Without it,
// rows with attachments sync but their content does not.
func WithBlobStore(bs blob.Store) Option {
	return func(s *Store) error {
		if bs == nil {
			return errors.New("WithBlobStore: nil blob store")
		}
		s.blob.store = bs
		return nil
	}
}

// WithBlobRetention sets how long content that no live row references
// (and that no user uploaded or released within the window) is kept before
// PurgeBlobs removes it; default DefaultBlobRetention.
func WithBlobRetention(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return errors.New("WithBlobRetention: retention must be positive")
		}
		s.blob.retention = d
		return nil
	}
}

// BlobStore returns the store's blob store, or nil.
func (s *Store) BlobStore() blob.Store { return s.blob.store }

func (s *Store) blobRetention() time.Duration {
	if s.blob.retention > 0 {
		return s.blob.retention
	}
	return DefaultBlobRetention
}

// hasAttachments reports whether c has attachment columns.
func hasAttachments(c ssync.Collection) bool {
	for _, col := range c.UserColumns() {
		if col.Attachment {
			return true
		}
	}
	return false
}

// CanReadBlob reports whether id may read the blob with hash: a live row of
// one of its users references it, or one of its users uploaded it (or had
// it in a row) within the retention window.
func (s *Store) CanReadBlob(ctx context.Context, id Identity, hash string) (bool, error) {
	return s.blobReadable(ctx, s.db, id, hash)
}

// HoldBlob records that user uploaded the blob's content now: the user may
// then reference and read it, and the content is kept for the retention
// window.
func (s *Store) HoldBlob(ctx context.Context, user, hash string) error {
	return s.holdBlob(ctx, s.db, hash, user, s.now().UTC())
}

// blobReadable reports whether id may read the blob: a live row of one of
// its users references it, or one of its users uploaded it (or had it in a
// row) within the retention window.
func (s *Store) blobReadable(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id Identity, hash string) (bool, error) {
	owners := id.owners()
	in := make([]string, len(owners))
	args := make([]any, 0, 1+len(owners))
	args = append(args, hash)
	for i, o := range owners {
		in[i] = s.dialect.Placeholder(i + 2)
		args = append(args, o)
	}
	ph := s.dialect.Placeholder(1)
	for _, q0 := range []string{
		"SELECT 1 FROM ss_blob_refs WHERE hash = " + ph + " AND owner IN (" + strings.Join(in, ", ") + ")",
		"SELECT 1 FROM ss_blob_holders WHERE hash = " + ph + " AND sync_id IN (" + strings.Join(in, ", ") + ")",
	} {
		var one int
		err := q.QueryRowContext(ctx, q0+" LIMIT 1", args...).Scan(&one)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
	}
	return false, nil
}

// holdBlob records that user has the blob's content, as of at: it may then
// reference and read it, and the content is kept for the retention window.
func (s *Store) holdBlob(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, hash, user string, at time.Time) error {
	if _, err := q.ExecContext(ctx, s.stmt.holdBlob, hash, user, at); err != nil {
		return fmt.Errorf("record blob holder: %w", err)
	}
	return nil
}

// BlobPurgeReport tells what PurgeBlobs did.
type BlobPurgeReport struct {
	// Deleted counts the blobs removed, DeletedBytes their bytes.
	Deleted      int
	DeletedBytes int64
	// Kept counts the blobs kept: referenced, recently uploaded or
	// released, or newer than the retention window.
	Kept int
	// Uploads counts the incomplete uploads removed (untouched for the
	// upload expiry, see WithUploadExpiry).
	Uploads int
}

// PurgeBlobs removes attachment content that no live row references and
// that nobody uploaded or released within the retention window (see
// WithBlobRetention), and incomplete uploads untouched for the shorter
// upload expiry (WithUploadExpiry). Run it periodically (e.g. hourly) from
// one server instance.
func (s *Store) PurgeBlobs(ctx context.Context) (*BlobPurgeReport, error) {
	bs := s.blob.store
	if bs == nil {
		return nil, errors.New("ssync store: PurgeBlobs: no blob store (WithBlobStore)")
	}
	cutoff := s.now().UTC().Add(-s.blobRetention())
	p := s.dialect.Placeholder
	if _, err := s.db.ExecContext(ctx, "DELETE FROM ss_blob_holders WHERE seen_at < "+p(1), cutoff); err != nil {
		return nil, fmt.Errorf("ssync store: purge blobs: %w", err)
	}
	report := &BlobPurgeReport{}
	var batch []blob.Info
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		used, err := s.usedBlobs(ctx, batch)
		if err != nil {
			return err
		}
		for _, info := range batch {
			if used[info.Hash] {
				report.Kept++
				continue
			}
			// Look again: content uploaded meanwhile refreshes its time.
			if now, err := bs.Stat(ctx, info.Hash); err != nil || !now.ModTime.Before(cutoff) {
				report.Kept++
				continue
			}
			if err := bs.Delete(ctx, info.Hash); err != nil {
				return err
			}
			if _, err := s.db.ExecContext(ctx, "DELETE FROM ss_blob_usage WHERE item = "+p(1)+" AND pending = 0", info.Hash); err != nil {
				return err
			}
			report.Deleted++
			report.DeletedBytes += info.Size
		}
		batch = batch[:0]
		return nil
	}
	err := bs.Walk(ctx, func(info blob.Info) error {
		if !info.ModTime.Before(cutoff) {
			report.Kept++
			return nil
		}
		batch = append(batch, info)
		if len(batch) >= lookupChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("ssync store: purge blobs: %w", err)
	}
	if err := s.expireUploads(ctx, report); err != nil {
		return nil, fmt.Errorf("ssync store: purge blobs: %w", err)
	}
	return report, nil
}

// expireUploads removes the incomplete uploads untouched for the upload
// expiry (WithUploadExpiry), and their records.
func (s *Store) expireUploads(ctx context.Context, report *BlobPurgeReport) error {
	bs := s.blob.store
	cutoff := s.now().UTC().Add(-s.uploadExpiry())
	err := bs.WalkUploads(ctx, func(u blob.Upload) error {
		if u.ModTime.Before(cutoff) {
			if err := bs.Abort(ctx, u.ID); err != nil {
				return err
			}
			report.Uploads++
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, "DELETE FROM ss_blob_usage WHERE pending = 1 AND touched_at < "+s.dialect.Placeholder(1), cutoff)
	return err
}

// usedBlobs returns which of the blobs a live row references or a user
// holds.
func (s *Store) usedBlobs(ctx context.Context, infos []blob.Info) (map[string]bool, error) {
	in := make([]string, len(infos))
	args := make([]any, len(infos))
	for i, info := range infos {
		in[i] = s.dialect.Placeholder(i + 1)
		args[i] = info.Hash
	}
	list := strings.Join(in, ", ")
	used := map[string]bool{}
	for _, q := range []string{
		"SELECT DISTINCT hash FROM ss_blob_refs WHERE hash IN (" + list + ")",
		"SELECT DISTINCT hash FROM ss_blob_holders WHERE hash IN (" + list + ")",
	} {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return nil, err
			}
			used[h] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return used, nil
}
