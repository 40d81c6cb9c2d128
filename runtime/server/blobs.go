package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/store"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/wire"
)

// DefaultMaxBlobBytes caps one attachment when Config.MaxBlobBytes is 0.
const DefaultMaxBlobBytes = 1 << 30

// DefaultMaxUserBlobBytes is one user's upload quota when
// Config.MaxUserBlobBytes is 0.
const DefaultMaxUserBlobBytes = 10 << 30

// DefaultMaxOpenUploads caps one user's incomplete uploads when
// Config.MaxOpenUploads is 0.
const DefaultMaxOpenUploads = 16

// uploadLimits returns the per-user upload limits of the configuration.
func (s *Server) uploadLimits() store.UploadLimits {
	l := store.UploadLimits{Bytes: s.cfg.MaxUserBlobBytes, Open: s.cfg.MaxOpenUploads}
	if l.Bytes == 0 {
		l.Bytes = DefaultMaxUserBlobBytes
	}
	if l.Open == 0 {
		l.Open = DefaultMaxOpenUploads
	}
	return store.UploadLimits{Bytes: max(l.Bytes, 0), Open: max(l.Open, 0)}
}

// reserveUpload counts the user's upload against its limits; false when
// it is refused (and answered).
func (s *Server) reserveUpload(w http.ResponseWriter, r *http.Request, id store.Identity, upload string, length int64) bool {
	err := s.store.ReserveUpload(r.Context(), id.SyncID, upload, length, s.uploadLimits())
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrTooManyUploads):
		// Nothing frees a place before the oldest upload expires, unless
		// the client finishes one: a wait longer than clients make.
		w.Header().Set("Retry-After", strconv.Itoa(int(s.store.UploadExpiry().Seconds())))
		s.fail(w, r, apiError{wire.CodeTooManyUploads, err.Error() + "; finish or wait out the others"})
	case errors.Is(err, store.ErrBlobQuota):
		s.fail(w, r, apiError{wire.CodeBlobQuotaExceeded, err.Error()})
	default:
		s.internal(w, r, "blob upload", err)
	}
	return false
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
func (s *Server) blobRequest(w http.ResponseWriter, r *http.Request) (store.Identity, string, bool) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return store.Identity{}, "", false
	}
	if s.store.BlobStore() == nil {
		s.fail(w, r, apiError{wire.CodeBlobsUnsupported, "this server keeps no attachment content"})
		return store.Identity{}, "", false
	}
	hash := r.PathValue("hash")
	if !blob.ValidHash(hash) {
		s.fail(w, r, apiError{wire.CodeInvalidHash,
			fmt.Sprintf("%q is not a SHA-256 in 64 lowercase hex digits", echo.Clip(hash))})
		return store.Identity{}, "", false
	}
	return id, hash, true
}

// blobNotFound answers 404 for a blob that does not exist and for one the
// user may not read alike, with the bytes of the user's own upload.
func (s *Server) blobNotFound(w http.ResponseWriter, r *http.Request, id store.Identity, hash string) {
	if n, err := s.store.BlobStore().UploadSize(r.Context(), uploadID(hash, id.SyncID)); err == nil {
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
	readable, err := s.store.CanReadBlob(ctx, id, hash)
	if err != nil {
		s.internal(w, r, "blob lookup", err)
		return
	}
	if !readable {
		s.blobNotFound(w, r, id, hash)
		return
	}
	info, err := s.store.BlobStore().Stat(ctx, hash)
	if errors.Is(err, blob.ErrNotFound) {
		s.blobNotFound(w, r, id, hash)
		return
	}
	if err != nil {
		s.internal(w, r, "blob stat", err)
		return
	}
	content, err := s.store.BlobStore().Open(ctx, hash)
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
	// A whole download of content that compresses well goes compressed;
	// a resumed one (Range), counted in the content's own bytes, as it is.
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" && !s.cfg.DisableCompression {
		if enc := contentenc.Negotiate(r.Header.Get("Accept-Encoding")); enc != "" && worthCompressing(content, enc) {
			cw, finish := s.compressed(w, r)
			defer finish()
			w = cw
		} else {
			h.Add("Vary", "Accept-Encoding")
		}
	}
	http.ServeContent(w, r, "", info.ModTime, content)
	if r.Method == http.MethodGet {
		s.logger.InfoContext(ctx, "ssync: blob served", "user", id.SyncID, "hash", hash, "range", r.Header.Get("Range"))
	}
}

// codedLimit bounds the bytes of a compressed upload body that carries n
// bytes of content: compression may add a little to content that does not
// shrink (a client compresses only content that does, but judges by a
// sample).
func codedLimit(n int64) int64 { return n + n/8 + 4096 }

// uploadCoding returns the Content-Encoding of an upload's body ("" for
// none); ok false (the answer written: 415) when the server does not take
// it.
func (s *Server) uploadCoding(w http.ResponseWriter, r *http.Request) (enc string, ok bool) {
	enc = r.Header.Get("Content-Encoding")
	if enc == "" || enc == "identity" {
		return "", true
	}
	if s.cfg.DisableCompression || !contentenc.Known(enc) {
		w.Header().Set("Connection", "close")
		s.fail(w, r, apiError{wire.CodeUnsupportedEncoding, "this server takes attachment content as it is" + takes(s.encodings()) +
			", not in Content-Encoding " + echo.Clip(enc)})
		return "", false
	}
	return enc, true
}

// uploadBody reads the n bytes of content an upload's body carries, in
// coding enc ("": as it is). The decoded content may not pass n, however
// small the body: reading past it fails with contentenc.ErrTooLarge.
func uploadBody(w http.ResponseWriter, r *http.Request, enc string, n int64) io.ReadCloser {
	if enc == "" {
		return http.MaxBytesReader(w, r.Body, n)
	}
	decoded, err := contentenc.NewReader(enc, http.MaxBytesReader(w, r.Body, codedLimit(n)), n)
	if err != nil {
		// A body whose coding header is malformed: read as a body that
		// cannot be read.
		return io.NopCloser(errReader{err})
	}
	return decoded
}

// dropUpload discards the user's upload, logging a failure: the answer
// already says what went wrong.
func (s *Server) dropUpload(ctx context.Context, id store.Identity, upload string) {
	if err := s.store.BlobStore().Abort(ctx, upload); err != nil {
		s.logger.WarnContext(ctx, "ssync: blob upload", "error", err)
	}
	if err := s.store.DropUpload(ctx, id.SyncID, upload); err != nil {
		s.logger.WarnContext(ctx, "ssync: blob upload", "error", err)
	}
}

// handleBlobPut appends to the user's upload of a blob from Upload-Offset;
// once it holds Upload-Length bytes, their SHA-256 is checked against the
// hash and the content becomes the blob (201). A shorter upload answers 204
// with the bytes held; a wrong offset 409 with the right one; a mismatch 422
// (the upload is discarded); content over the limit 413. The body may be
// compressed (Content-Encoding, as the handshake's uploadEncodings list):
// offsets count decoded bytes, and a body that decodes past Upload-Length
// gets 413 and its upload is discarded; a coding the server does not take
// gets 415.
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
	enc, ok := s.uploadCoding(w, r)
	if !ok {
		return
	}
	if limit := codedLimit(length - offset); r.ContentLength > length-offset && (enc == "" || r.ContentLength > limit) {
		s.fail(w, r, apiError{wire.CodeInvalidUpload,
			fmt.Sprintf("the body holds %d bytes, more than the %d from Upload-Offset to Upload-Length", r.ContentLength, length-offset)})
		return
	}
	bs := s.store.BlobStore()
	// Content the user may read already is not sent again.
	if readable, err := s.store.CanReadBlob(ctx, id, hash); err != nil {
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
	if !s.reserveUpload(w, r, id, upload, length) {
		return
	}
	body := uploadBody(w, r, enc, length-offset)
	defer body.Close()
	n, err := bs.Append(ctx, upload, offset, body)
	w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(n, 10))
	if errors.Is(err, contentenc.ErrTooLarge) {
		s.dropUpload(ctx, id, upload)
		w.Header().Set(wire.HeaderUploadOffset, "0")
		s.fail(w, r, apiError{wire.CodeBlobTooLarge,
			fmt.Sprintf("the %s body decodes to more than the %d bytes from Upload-Offset to Upload-Length; the upload was discarded", echo.Clip(enc), length-offset)})
		return
	}
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
			if err := s.store.DropUpload(ctx, id.SyncID, upload); err != nil {
				s.logger.WarnContext(ctx, "ssync: blob upload", "error", err)
			}
			w.Header().Set(wire.HeaderUploadOffset, "0")
			s.fail(w, r, apiError{wire.CodeBlobMismatch,
				"the content does not match its SHA-256 and was discarded: send it again from offset 0"})
			return
		}
		s.internal(w, r, "blob commit", err)
		return
	}
	if err := s.store.CommitUpload(ctx, id.SyncID, upload, hash, length); err != nil {
		s.internal(w, r, "blob commit", err)
		return
	}
	w.Header().Set(wire.HeaderUploadOffset, strconv.FormatInt(length, 10))
	w.WriteHeader(http.StatusCreated)
	s.logger.InfoContext(ctx, "ssync: blob uploaded", "user", id.SyncID, "hash", hash, "bytes", length)
}
