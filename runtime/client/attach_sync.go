package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// The stages of attachment transfers, reported by Progress with Bytes and
// TotalBytes.
const (
	// StageUpload sends attachment content, before the push.
	StageUpload Stage = "upload"
	// StageDownload fetches attachment content, after the pull.
	StageDownload Stage = "download"
)

// AttachmentFailure is an attachment a Synchronize could not download.
// Its rows are applied; Open tries again.
type AttachmentFailure struct {
	// Hash names the content.
	Hash string
	// Err says why, e.g. ErrAttachmentUnavailable or ErrAttachmentCorrupt.
	Err error
}

// refAttachment is an attachment found in a row, with the row, for
// messages.
type refAttachment struct {
	a          ssync.Attachment
	collection string
	id         uuid.UUID
}

// attachmentsOf reads the attachments of the rows of every table with
// attachment columns that match where (SQL over the table's columns, with
// args), one entry per hash.
func (db *DB) attachmentsOf(ctx context.Context, where string, args ...any) ([]refAttachment, error) {
	var out []refAttachment
	seen := map[string]bool{}
	for _, c := range db.reg.Collections() {
		var cols []string
		for _, col := range c.UserColumns() {
			if col.Attachment {
				cols = append(cols, quote(col.Name))
			}
		}
		if len(cols) == 0 {
			continue
		}
		// Only rows that hold content: with the partial index ssyncgen
		// creates on each attachment column this reads those rows alone, not
		// the whole table (the text must match the index's condition).
		var present []string
		for _, col := range c.UserColumns() {
			if col.Attachment {
				q := quote(col.Name)
				present = append(present, "("+q+" IS NOT NULL AND "+q+" <> 'null')")
			}
		}
		q := "SELECT `id`, " + strings.Join(cols, ", ") + " FROM " + quote(c.CollectionName()) + " WHERE " + where +
			" AND (" + strings.Join(present, " OR ") + ")"
		rows, err := db.sql.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("ssync client: read attachments of %s: %w", c.CollectionName(), err)
		}
		vals := make([]ssync.Attachment, len(cols))
		targets := make([]any, 0, 1+len(cols))
		var id uuid.UUID
		targets = append(targets, &id)
		for i := range vals {
			targets = append(targets, &vals[i])
		}
		for rows.Next() {
			if err := rows.Scan(targets...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("ssync client: read attachments of %s: %w", c.CollectionName(), err)
			}
			for _, a := range vals {
				if a.IsZero() || seen[a.Hash] {
					continue
				}
				seen[a.Hash] = true
				out = append(out, refAttachment{a: a, collection: c.CollectionName(), id: id})
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("ssync client: read attachments of %s: %w", c.CollectionName(), err)
		}
	}
	return out, nil
}

// byteProgress reports the progress of a transfer stage; Done counts the
// attachments finished, Bytes the bytes moved (or found already there).
type byteProgress struct {
	s                 *session
	stage             Stage
	done, total       int
	bytes, totalBytes int64
	last              time.Time
	mu                sync.Mutex
}

func (p *byteProgress) report(force bool) {
	if p.s.opts.Progress == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	ev := Progress{Stage: p.stage, Done: p.done, Total: p.total, Bytes: p.bytes, TotalBytes: p.totalBytes, Fraction: 1}
	if p.totalBytes > 0 {
		ev.Fraction = float64(p.bytes) / float64(p.totalBytes)
	}
	p.s.opts.Progress(ev)
}

func (p *byteProgress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += n
	p.report(false)
}

// uploadAttachments uploads the content referenced by the local changes
// that the push is about to send, so that the server has it when it
// receives the rows. Content the server has already (and this user may
// read) is not sent; an interrupted upload resumes where the server
// stopped.
func (s *session) uploadAttachments(ctx context.Context) error {
	list, err := s.db.attachmentsOf(ctx, withColumns("{dirty} > 0 AND `deleted_at` IS NULL AND +`ss_sync_id` IN (SELECT value FROM json_each(?))"), s.scope)
	if err != nil || len(list) == 0 {
		return err
	}
	p := &byteProgress{s: s, stage: StageUpload, total: len(list)}
	for _, r := range list {
		p.totalBytes += r.a.Size
	}
	p.report(true)
	t := newTransfer(s.db, s.ex, p.add)
	t.encoding = s.uploadEncoding
	defer func() {
		s.res.Uploaded += t.uploaded
		if t.refused {
			// The server stopped taking compressed uploads since its
			// handshake: the next sync asks again what it takes.
			s.uploadEncoding = ""
			s.db.forgetHandshake()
		}
	}()
	for _, r := range list {
		sent, err := t.upload(ctx, r.a)
		s.res.UploadedBytes += sent
		if err != nil {
			return fmt.Errorf("ssync client: upload attachment %s of %s %s: %w", r.a.Hash, r.collection, r.id, err)
		}
		p.done++
		p.report(true)
	}
	return nil
}

// downloadAttachments downloads the content of the attachments of the rows
// in scope that the device does not have, unless LazyAttachments leaves
// that to Open. A blob that fails is reported in Result and skipped; a
// failure to reach the server stops the stage.
func (s *session) downloadAttachments(ctx context.Context) error {
	if s.opts.LazyAttachments {
		return nil
	}
	list, err := s.db.attachmentsOf(ctx, "`deleted_at` IS NULL AND +`ss_sync_id` IN (SELECT value FROM json_each(?))", s.scope)
	if err != nil || len(list) == 0 {
		return err
	}
	store, err := s.db.blobStore()
	if err != nil {
		return err
	}
	var missing []refAttachment
	for _, r := range list {
		if fi, err := os.Stat(store.Path(r.a.Hash)); err == nil && fi.Size() == r.a.Size {
			continue
		}
		missing = append(missing, r)
	}
	if len(missing) == 0 {
		return nil
	}
	p := &byteProgress{s: s, stage: StageDownload, total: len(missing)}
	for _, r := range missing {
		p.totalBytes += r.a.Size
	}
	p.report(true)
	t := newTransfer(s.db, s.ex, p.add)
	defer func() {
		s.res.Downloaded += t.downloaded
		s.res.DownloadedBytes += t.received
	}()
	for i, r := range missing {
		err := t.download(ctx, r.a)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.db.logger.WarnContext(ctx, "ssync: attachment not downloaded", "hash", r.a.Hash,
				"collection", r.collection, "id", r.id, "error", err)
			s.res.AttachmentFailures = append(s.res.AttachmentFailures, AttachmentFailure{Hash: r.a.Hash, Err: err})
			var te *TransportError
			if errors.As(err, &te) && te.StatusCode == 0 {
				// The server is out of reach: the others would fail too.
				for _, rest := range missing[i+1:] {
					s.res.AttachmentFailures = append(s.res.AttachmentFailures, AttachmentFailure{Hash: rest.a.Hash, Err: err})
				}
				break
			}
			continue
		}
		p.done++
		p.report(true)
	}
	return nil
}

// transfer moves blobs between the device's folder and one server through
// the exchange, with retries that resume.
type transfer struct {
	db      *DB
	ex      *exchange
	onBytes func(int64)
	// uploaded and downloaded count the blobs moved; received the bytes
	// downloaded.
	uploaded, downloaded int
	received             int64
	// encoding is the content coding uploads of content that compresses
	// are sent in ("": as it is); refused is set once the server answered
	// one 415, after which uploads go as they are.
	encoding string
	refused  bool
}

func newTransfer(db *DB, ex *exchange, onBytes func(int64)) *transfer {
	t := &transfer{db: db, ex: ex, onBytes: onBytes}
	if t.onBytes == nil {
		t.onBytes = func(int64) {}
	}
	return t
}

// send sends one request of the blob hash under a stall guard (see
// exchange.sendContent), its body read through upload when there is one:
// length bytes, or, with coded, the content upload reads compressed by
// coded (of a length not known in advance). The answer may have any status;
// its body must be closed.
func (t *transfer) send(ctx context.Context, method, hash string, hdr http.Header, upload *progressReader, length int64, coded io.Reader) (*http.Response, error) {
	var body io.Reader
	switch {
	case coded != nil:
		body = coded
	case upload != nil:
		body = upload
	}
	req, err := t.ex.newRequest(ctx, wire.PathBlobs, method, wire.PathBlobs+"/"+hash, nil, hdr, body, true)
	if err != nil {
		return nil, err
	}
	switch {
	case coded != nil:
		req.ContentLength = -1
	case upload != nil:
		req.ContentLength = length
		if length == 0 {
			req.Body = http.NoBody
		}
	}
	return t.ex.sendContent(req, wire.PathBlobs, upload)
}

// upload sends the content of a unless the server has it already (for this
// user), resuming from the offset the server reports. The local content is
// verified before any of it is sent. It returns the bytes sent.
func (t *transfer) upload(ctx context.Context, a ssync.Attachment) (sent int64, err error) {
	store, err := t.db.blobStore()
	if err != nil {
		return 0, err
	}
	var f *os.File // the local content, opened once needed
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	b := t.ex.retrier(ctx, wire.PathBlobs)
	// Progress counts what the server holds: what it had, then what is
	// sent; the rest is reported once done.
	reported := int64(0)
	report := func(n int64) { reported += n; t.onBytes(n) }
	defer func() {
		if err == nil && reported < a.Size {
			t.onBytes(a.Size - reported)
		}
	}()
	mismatches := 0
	offset := int64(-1) // unknown: ask the server
	for {
		if offset < 0 {
			off, complete, err := t.uploadOffset(ctx, a.Hash)
			if err != nil {
				if err := b.fail(err); err != nil {
					return sent, err
				}
				continue
			}
			if complete {
				return sent, nil
			}
			offset = min(off, a.Size)
			if reported == 0 {
				report(offset) // bytes an earlier run sent
			}
		}
		if f == nil {
			if err := t.db.att.check(ctx, store, a); err != nil {
				if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrMismatch) {
					return sent, fmt.Errorf("%w: %v", ErrAttachmentMissing, err)
				}
				return sent, err
			}
			if f, err = os.Open(store.Path(a.Hash)); err != nil {
				return sent, fmt.Errorf("%w: %v", ErrAttachmentMissing, err)
			}
		}
		n, next, err := t.put(ctx, f, a, offset, report)
		sent += n
		var te *TransportError
		switch {
		case err == nil && next == a.Size:
			if sent > 0 || a.Size == 0 {
				t.uploaded++ // content the server had already moved nothing
			}
			return sent, nil
		case err == nil:
			offset = next // the server stopped short: go on from there
			if n > 0 {
				b.progress()
			}
		case errors.As(err, &te) && te.StatusCode == http.StatusConflict && next >= 0:
			offset = next // the server holds another offset: resume from it
			if err := b.again(err); err != nil {
				return sent, err
			}
		case errors.Is(err, ErrUnsupportedEncoding) && !t.refused:
			// The server stopped taking compressed uploads since its
			// handshake. It refused before reading any byte: what the
			// compressor read ahead was not sent. The rest goes as it is.
			t.refused = true
			sent -= n
			report(-n)
			offset = -1
		case errors.Is(err, ErrBlobMismatch):
			// The server discarded what it had; send everything once more.
			mismatches++
			if mismatches > 1 {
				return sent, err
			}
			offset = 0
		default:
			if n > 0 {
				b.progress()
			}
			if err := b.fail(err); err != nil {
				return sent, err
			}
			offset = -1
		}
	}
}

// uploadOffset asks the server how much of the blob it has: complete when
// the user may read the whole blob already, else the bytes of this user's
// interrupted upload.
func (t *transfer) uploadOffset(ctx context.Context, hash string) (offset int64, complete bool, err error) {
	resp, err := t.send(ctx, http.MethodHead, hash, nil, nil, 0, nil)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return 0, true, nil
	case http.StatusNotFound:
		off, err := strconv.ParseInt(resp.Header.Get(wire.HeaderUploadOffset), 10, 64)
		if err != nil || off < 0 {
			return 0, false, nil
		}
		return off, false, nil
	}
	return 0, false, errorAnswer(wire.PathBlobs, resp)
}

// put sends the content of f from offset and returns the bytes sent and the
// server's offset afterwards (the size once complete; -1 when unknown).
func (t *transfer) put(ctx context.Context, f *os.File, a ssync.Attachment, offset int64, report func(int64)) (sent, next int64, err error) {
	body := &progressReader{r: io.NewSectionReader(f, offset, a.Size-offset), on: report}
	hdr := http.Header{
		"Content-Type":          {wire.ContentTypeBlob},
		wire.HeaderUploadOffset: {strconv.FormatInt(offset, 10)},
		wire.HeaderUploadLength: {strconv.FormatInt(a.Size, 10)},
	}
	if a.Size > offset {
		// A refusal (413, a wrong offset) comes before any byte is sent.
		hdr.Set("Expect", "100-continue")
	}
	var coded io.Reader
	stop := func() {}
	if enc := t.codingFor(f, offset, a.Size); enc != "" {
		hdr.Set("Content-Encoding", enc)
		c := compressing(enc, body)
		coded, stop = c, c.stop
		defer stop()
	}
	resp, err := t.send(ctx, http.MethodPut, a.Hash, hdr, body, a.Size-offset, coded)
	stop() // the content read is counted once the compression ended
	if err != nil {
		return body.n, -1, err
	}
	defer resp.Body.Close()
	next = -1
	if v, err := strconv.ParseInt(resp.Header.Get(wire.HeaderUploadOffset), 10, 64); err == nil {
		next = v
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		return body.n, a.Size, nil
	case http.StatusNoContent:
		if next < 0 {
			next = offset + body.n
		}
		return body.n, next, nil
	}
	return body.n, next, errorAnswer(wire.PathBlobs, resp)
}

// codingFor returns the coding to upload f's content from offset in: the
// transfer's, when that content gains from it (judged by its first
// contentenc.SampleBytes), else "".
func (t *transfer) codingFor(f *os.File, offset, size int64) string {
	if t.encoding == "" || t.refused || size-offset < 512 {
		return ""
	}
	sample := make([]byte, min(size-offset, contentenc.SampleBytes))
	if n, err := f.ReadAt(sample, offset); n < len(sample) && err != nil {
		return ""
	}
	if !contentenc.Compresses(t.encoding, sample) {
		return ""
	}
	return t.encoding
}

// codedBody is an upload's body: content compressed in enc as the request
// reads it. The compression starts at the first read (after the request
// set up its stall guard on the content's reader); stop ends it and
// releases the encoder, whether or not the request read everything.
type codedBody struct {
	enc     string
	content io.Reader
	pr      *io.PipeReader
	pw      *io.PipeWriter
	once    sync.Once
	done    chan struct{} // closed when the compression ended; nil if it never started
}

func compressing(enc string, content io.Reader) *codedBody {
	pr, pw := io.Pipe()
	return &codedBody{enc: enc, content: content, pr: pr, pw: pw}
}

func (c *codedBody) Read(p []byte) (int, error) {
	c.once.Do(func() {
		c.done = make(chan struct{})
		go c.compress()
	})
	return c.pr.Read(p)
}

func (c *codedBody) compress() {
	defer close(c.done)
	zw, err := contentenc.NewWriter(c.enc, c.pw)
	if err != nil {
		c.pw.CloseWithError(err)
		return
	}
	_, err = io.Copy(zw, c.content)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	c.pw.CloseWithError(err) // nil: the end of the body
}

// stop ends the compression and waits for it; it may be called again.
func (c *codedBody) stop() {
	c.pr.CloseWithError(errUploadEnded)
	c.once.Do(func() {}) // not started: it never will
	if c.done != nil {
		<-c.done
	}
}

// errUploadEnded ends the compression of an upload whose request is over.
var errUploadEnded = errors.New("upload ended")

// download fetches the content of a into the device's folder, resuming a
// partial download with a range request, and verifies it before it is
// used. Content that does not match its hash is dropped and fetched once
// more from the start.
func (t *transfer) download(ctx context.Context, a ssync.Attachment) error {
	store, err := t.db.blobStore()
	if err != nil {
		return err
	}
	// One download of a blob at a time (Open and Synchronize may want the
	// same one); the second finds it done.
	defer t.db.att.lockHash(a.Hash)()
	if err := t.db.att.check(ctx, store, a); err == nil {
		return nil
	}
	have, err := store.UploadSize(ctx, a.Hash)
	if err != nil {
		return err
	}
	if have > a.Size {
		store.Abort(ctx, a.Hash)
		have = 0
	}
	t.onBytes(have)
	b := t.ex.retrier(ctx, wire.PathBlobs)
	mismatches := 0
	for {
		if have == a.Size {
			err := store.Commit(ctx, a.Hash, a.Hash, a.Size)
			if err == nil {
				t.db.att.markVerified(store, a.Hash)
				t.downloaded++
				return nil
			}
			if !errors.Is(err, blob.ErrMismatch) {
				return err
			}
			t.db.logger.WarnContext(ctx, "ssync: downloaded attachment does not match its hash; fetching it again", "hash", a.Hash)
			t.onBytes(-have)
			have = 0
			mismatches++
			if mismatches > 1 {
				return fmt.Errorf("%w: %s", ErrAttachmentCorrupt, a.Hash)
			}
			continue
		}
		n, restart, err := t.get(ctx, store, a, have)
		if restart {
			store.Abort(ctx, a.Hash)
			t.onBytes(-have)
			n = 0
		}
		if n > have {
			b.progress()
		}
		have = n
		if err == nil {
			continue
		}
		if err := b.fail(err); err != nil {
			return err
		}
	}
}

// get requests the blob from byte have on and appends what arrives to the
// partial download; it returns the partial's size, or restart when the
// partial must be dropped (the server sent the whole content, or another
// range).
func (t *transfer) get(ctx context.Context, store *blob.Dir, a ssync.Attachment, have int64) (n int64, restart bool, err error) {
	// A whole download may come compressed (the server compresses content
	// that gains from it); a resumed one, counted in the content's own
	// bytes, comes as it is.
	hdr := http.Header{"Accept-Encoding": {t.ex.acceptEncoding()}}
	if have > 0 {
		hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(have, 10) + "-"}, "Accept-Encoding": {"identity"}}
	}
	resp, err := t.send(ctx, http.MethodGet, a.Hash, hdr, nil, 0, nil)
	if err != nil {
		return have, false, err
	}
	if resp.StatusCode/100 == 2 {
		body, err := decoded(resp, a.Size-have)
		if err != nil {
			resp.Body.Close()
			return have, false, &TransportError{Op: wire.PathBlobs, Err: err}
		}
		resp.Body = body
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if have > 0 {
			// The whole content: start over with it.
			store.Abort(ctx, a.Hash)
			t.onBytes(-have)
			have = 0
		}
	case http.StatusPartialContent:
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != have {
			return have, true, &TransportError{Op: wire.PathBlobs, StatusCode: resp.StatusCode, Message: "unexpected Content-Range " + resp.Header.Get("Content-Range")}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return have, true, &TransportError{Op: wire.PathBlobs, StatusCode: http.StatusServiceUnavailable, Message: "range not satisfiable: fetching anew"}
	case http.StatusNotFound:
		// Not worth another attempt: the server answers the same until a
		// row the user may read references the content.
		return have, false, fmt.Errorf("%w: %s: %w", ErrAttachmentUnavailable, a.Hash, errorAnswer(wire.PathBlobs, resp))
	default:
		return have, false, errorAnswer(wire.PathBlobs, resp)
	}
	body := &progressReader{r: io.LimitReader(resp.Body, a.Size-have),
		on: func(n int64) { t.received += n; t.onBytes(n) }}
	n, err = store.Append(ctx, a.Hash, have, body)
	if err != nil {
		var oe *blob.OffsetError
		if errors.As(err, &oe) {
			return oe.Have, false, &TransportError{Op: wire.PathBlobs, Err: err}
		}
		return n, false, &TransportError{Op: wire.PathBlobs, Err: err}
	}
	if n < a.Size {
		return n, false, &TransportError{Op: wire.PathBlobs, Err: io.ErrUnexpectedEOF}
	}
	return n, false, nil
}
