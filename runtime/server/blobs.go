package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// DefaultMaxBlobBytes caps one attachment when Config.MaxBlobBytes is 0.
const DefaultMaxBlobBytes = 1 << 30

// DefaultBlobRetention is how long content no live row references is kept
// when WithBlobRetention is not given.
const DefaultBlobRetention = 30 * 24 * time.Hour

// blobState is a store's attachment content: where it is kept and how long
// unreferenced content stays.
type blobState struct {
	store     blob.Store
	retention time.Duration
}

// WithBlobStore keeps the content of attachments (ssync.Attachment fields)
// in bs, and makes the server serve it under {base}/blobs/{hash}: uploads
// (resumable, verified against the hash), downloads (with ranges) for users
// who may read a row that references it. blob.NewDir gives a filesystem
// store; see package blob for plugging in an object store. Without it,
// rows with attachments sync but their content does not.
func WithBlobStore(bs blob.Store) StoreOption {
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
func WithBlobRetention(d time.Duration) StoreOption {
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
	stmt := s.dialect.HoldBlob
	if stmt == "" {
		p := s.dialect.Placeholder
		stmt = "INSERT INTO ss_blob_holders (hash, sync_id, seen_at) VALUES (" + p(1) + ", " + p(2) + ", " + p(3) +
			") ON CONFLICT (hash, sync_id) DO UPDATE SET seen_at = excluded.seen_at"
	}
	if _, err := q.ExecContext(ctx, stmt, hash, user, at); err != nil {
		return fmt.Errorf("record blob holder: %w", err)
	}
	return nil
}

// uploadID names a user's upload of a blob: users never resume (or learn
// of) one another's uploads.
func uploadID(hash, user string) string {
	sum := sha256.Sum256([]byte(user))
	return hash + "." + hex.EncodeToString(sum[:8])
}

func (s *Server) maxBlobBytes() int64 {
	if s.cfg.MaxBlobBytes > 0 {
		return s.cfg.MaxBlobBytes
	}
	return DefaultMaxBlobBytes
}

// blobRequest authenticates a blob request and checks its hash.
func (s *Server) blobRequest(w http.ResponseWriter, r *http.Request) (Identity, string, bool) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return Identity{}, "", false
	}
	if s.store.blob.store == nil {
		s.fail(w, r, apiError{wire.CodeBlobsUnsupported, "this server keeps no attachment content"})
		return Identity{}, "", false
	}
	hash := r.PathValue("hash")
	if !blob.ValidHash(hash) {
		s.fail(w, r, apiError{wire.CodeInvalidHash,
			fmt.Sprintf("%q is not a SHA-256 in 64 lowercase hex digits", truncate(hash))})
		return Identity{}, "", false
	}
	return id, hash, true
}

// blobNotFound answers 404 for a blob that does not exist and for one the
// user may not read alike, with the bytes of the user's own upload.
func (s *Server) blobNotFound(w http.ResponseWriter, r *http.Request, id Identity, hash string) {
	if n, err := s.store.blob.store.UploadSize(r.Context(), uploadID(hash, id.SyncID)); err == nil {
		w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(n, 10))
	}
	writeError(w, wire.CodeBlobNotFound, "no such blob for this user")
}

// handleBlobGet serves a blob the user may read, with range requests (a
// download resumes with Range: bytes=<have>-). HEAD answers the same
// headers; with Upload-Offset it tells an uploader how much the server
// holds: the whole size, or (with 404) the bytes of its interrupted upload.
func (s *Server) handleBlobGet(w http.ResponseWriter, r *http.Request) {
	id, hash, ok := s.blobRequest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	readable, err := s.store.blobReadable(ctx, s.store.db, id, hash)
	if err != nil {
		s.internal(w, r, "blob lookup", err)
		return
	}
	if !readable {
		s.blobNotFound(w, r, id, hash)
		return
	}
	info, err := s.store.blob.store.Stat(ctx, hash)
	if errors.Is(err, blob.ErrNotFound) {
		s.blobNotFound(w, r, id, hash)
		return
	}
	if err != nil {
		s.internal(w, r, "blob stat", err)
		return
	}
	content, err := s.store.blob.store.Open(ctx, hash)
	if errors.Is(err, blob.ErrNotFound) {
		s.blobNotFound(w, r, id, hash)
		return
	}
	if err != nil {
		s.internal(w, r, "blob open", err)
		return
	}
	defer content.Close()
	h := w.Header()
	h.Set("Content-Type", wire.ContentTypeBlob)
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set(wire.HeaderUploadOffset, strconv.FormatInt(info.Size, 10))
	http.ServeContent(w, r, "", info.ModTime, content)
	if r.Method == http.MethodGet {
		s.logger.InfoContext(ctx, "ssync: blob served", "user", id.SyncID, "hash", hash, "range", r.Header.Get("Range"))
	}
}

// handleBlobPut appends to the user's upload of a blob from Upload-Offset;
// once it holds Upload-Length bytes, their SHA-256 is checked against the
// hash and the content becomes the blob (201). A shorter upload answers 204
// with the bytes held; a wrong offset 409 with the right one; a mismatch 422
// (the upload is discarded); content over the limit 413.
func (s *Server) handleBlobPut(w http.ResponseWriter, r *http.Request) {
	id, hash, ok := s.blobRequest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	length, err := strconv.ParseInt(r.Header.Get(wire.HeaderUploadLength), 10, 64)
	if err != nil || length < 0 {
		s.fail(w, r, apiError{wire.CodeInvalidUpload, "Upload-Length must give the content's size in bytes"})
		return
	}
	if limit := s.maxBlobBytes(); length > limit {
		s.fail(w, r, apiError{wire.CodeBlobTooLarge,
			fmt.Sprintf("attachment of %d bytes exceeds the server's limit of %d bytes", length, limit)})
		return
	}
	offset := int64(0)
	if v := r.Header.Get(wire.HeaderUploadOffset); v != "" {
		if offset, err = strconv.ParseInt(v, 10, 64); err != nil || offset < 0 || offset > length {
			s.fail(w, r, apiError{wire.CodeInvalidUpload, "Upload-Offset must be a byte offset within Upload-Length"})
			return
		}
	}
	if r.ContentLength > length-offset {
		s.fail(w, r, apiError{wire.CodeInvalidUpload,
			fmt.Sprintf("the body holds %d bytes, more than the %d from Upload-Offset to Upload-Length", r.ContentLength, length-offset)})
		return
	}
	bs := s.store.blob.store
	// Content the user may read already is not sent again.
	if readable, err := s.store.blobReadable(ctx, s.store.db, id, hash); err != nil {
		s.internal(w, r, "blob lookup", err)
		return
	} else if readable {
		if info, err := bs.Stat(ctx, hash); err == nil && info.Size == length {
			w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(length, 10))
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	upload := uploadID(hash, id.SyncID)
	have, err := bs.UploadSize(ctx, upload)
	if err != nil {
		s.internal(w, r, "blob upload", err)
		return
	}
	if have > length {
		// Left by an upload that announced another size: start over.
		if err := bs.Abort(ctx, upload); err != nil {
			s.internal(w, r, "blob upload", err)
			return
		}
		have = 0
	}
	if offset != have {
		w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(have, 10))
		s.fail(w, r, apiError{wire.CodeUploadOffsetMismatch,
			fmt.Sprintf("the server holds %d bytes of this upload: resume from Upload-Offset %d", have, have)})
		return
	}
	body := http.MaxBytesReader(w, r.Body, length-offset)
	n, err := bs.Append(ctx, upload, offset, body)
	w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(n, 10))
	if err != nil {
		var oe *blob.OffsetError
		if errors.As(err, &oe) {
			w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(oe.Have, 10))
			s.fail(w, r, apiError{wire.CodeUploadOffsetMismatch,
				fmt.Sprintf("the server holds %d bytes of this upload: resume from Upload-Offset %d", oe.Have, oe.Have)})
			return
		}
		// Most likely the connection broke: what arrived is kept.
		s.logger.InfoContext(ctx, "ssync: blob upload interrupted", "user", id.SyncID, "hash", hash, "offset", n, "error", err)
		s.fail(w, r, apiError{wire.CodeUnreadableBody, "could not read the whole body; resume from Upload-Offset"})
		return
	}
	if n < length {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := bs.Commit(ctx, upload, hash, length); err != nil {
		if errors.Is(err, blob.ErrMismatch) {
			w.Header().Set(wire.HeaderUploadOffset, "0")
			s.fail(w, r, apiError{wire.CodeBlobMismatch,
				"the content does not match its SHA-256 and was discarded: send it again from offset 0"})
			return
		}
		s.internal(w, r, "blob commit", err)
		return
	}
	if err := s.store.holdBlob(ctx, s.store.db, hash, id.SyncID, s.store.now().UTC()); err != nil {
		s.internal(w, r, "blob commit", err)
		return
	}
	w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(length, 10))
	w.WriteHeader(http.StatusCreated)
	s.logger.InfoContext(ctx, "ssync: blob uploaded", "user", id.SyncID, "hash", hash, "bytes", length)
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
	// retention window).
	Uploads int
}

// PurgeBlobs removes attachment content that no live row references and
// that nobody uploaded or released within the retention window (see
// WithBlobRetention), and incomplete uploads untouched for as long. Run it
// periodically (e.g. daily) from one server instance.
func (s *Store) PurgeBlobs(ctx context.Context) (*BlobPurgeReport, error) {
	bs := s.blob.store
	if bs == nil {
		return nil, errors.New("ssync server: PurgeBlobs: no blob store (WithBlobStore)")
	}
	cutoff := s.now().UTC().Add(-s.blobRetention())
	p := s.dialect.Placeholder
	if _, err := s.db.ExecContext(ctx, "DELETE FROM ss_blob_holders WHERE seen_at < "+p(1), cutoff); err != nil {
		return nil, fmt.Errorf("ssync server: purge blobs: %w", err)
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
		return nil, fmt.Errorf("ssync server: purge blobs: %w", err)
	}
	err = bs.WalkUploads(ctx, func(u blob.Upload) error {
		if u.ModTime.Before(cutoff) {
			if err := bs.Abort(ctx, u.ID); err != nil {
				return err
			}
			report.Uploads++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ssync server: purge blobs: %w", err)
	}
	return report, nil
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

// The store's blob tables, per dialect (in each dialect's Setup): the
// references live rows hold (ss_blob_refs) and the users who hold content
// they uploaded or released, with when (ss_blob_holders).
const (
	sqliteBlobRefs = `CREATE TABLE IF NOT EXISTS ss_blob_refs (
				collection TEXT NOT NULL,
				row_id TEXT NOT NULL,
				hash TEXT NOT NULL,
				owner TEXT NOT NULL,
				PRIMARY KEY (collection, row_id, hash))`
	sqliteBlobRefsIndex = `CREATE INDEX IF NOT EXISTS ss_blob_refs_hash ON ss_blob_refs (hash, owner)`
	sqliteBlobHolders   = `CREATE TABLE IF NOT EXISTS ss_blob_holders (
				hash TEXT NOT NULL,
				sync_id TEXT NOT NULL,
				seen_at TIMESTAMP NOT NULL,
				PRIMARY KEY (hash, sync_id))`

	postgresBlobRefs = `CREATE TABLE IF NOT EXISTS ss_blob_refs (
				collection TEXT NOT NULL,
				row_id TEXT NOT NULL,
				hash TEXT NOT NULL,
				owner TEXT NOT NULL,
				PRIMARY KEY (collection, row_id, hash))`
	postgresBlobRefsIndex = `CREATE INDEX IF NOT EXISTS ss_blob_refs_hash ON ss_blob_refs (hash, owner)`
	postgresBlobHolders   = `CREATE TABLE IF NOT EXISTS ss_blob_holders (
				hash TEXT NOT NULL,
				sync_id TEXT NOT NULL,
				seen_at TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (hash, sync_id))`

	mysqlBlobRefs = "CREATE TABLE IF NOT EXISTS ss_blob_refs (" +
		"collection VARCHAR(255) NOT NULL, row_id CHAR(36) NOT NULL, hash CHAR(64) NOT NULL, owner VARCHAR(255) NOT NULL, " +
		"PRIMARY KEY (collection, row_id, hash), INDEX ss_blob_refs_hash (hash, owner)) " +
		"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	mysqlBlobHolders = "CREATE TABLE IF NOT EXISTS ss_blob_holders (" +
		"hash CHAR(64) NOT NULL, sync_id VARCHAR(255) NOT NULL, seen_at DATETIME(6) NOT NULL, " +
		"PRIMARY KEY (hash, sync_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
)
