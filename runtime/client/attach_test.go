package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/client"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// blobHarness is a harness whose server keeps attachment content in a real
// folder, which it returns.
func blobHarness(t *testing.T, be storetest.Backend, cfg server.Config, opts ...store.Option) (*harness, *blob.Dir) {
	t.Helper()
	dir, err := blob.NewDir(filepath.Join(t.TempDir(), "server-blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, be, cfg, append(opts, store.WithBlobStore(dir))...), dir
}

// content returns n pseudo-random bytes, the same for the same seed.
func content(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// noteWithFile inserts a note on db and attaches data to it.
func noteWithFile(t *testing.T, db *client.DB, msg string, data []byte, name string) *models.Note {
	t.Helper()
	ctx := context.Background()
	notes := generated.SyncNotes(db)
	n := &models.Note{Message: msg}
	if err := notes.Insert(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := notes.Attach(ctx, n.ID, bytes.NewReader(data), name, ""); err != nil {
		t.Fatal(err)
	}
	got, err := notes.Get(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// openBytes opens a note's attachment on db and reads it whole.
func openBytes(t *testing.T, db *client.DB, id uuid.UUID) ([]byte, *ssync.Attachment, error) {
	t.Helper()
	rc, a, err := generated.SyncNotes(db).Open(context.Background(), id)
	if err != nil {
		return nil, a, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, a, err
}

// countBlobs counts the complete blobs in a folder.
func countBlobs(t *testing.T, d *blob.Dir) int {
	t.Helper()
	n := 0
	if err := d.Walk(context.Background(), func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func localStore(t *testing.T, db *client.DB) *blob.Dir {
	t.Helper()
	d, err := blob.NewDir(db.BlobDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// raw sends a request to the harness's server as user.
func (h *harness) raw(method, path, user string, hdr map[string]string, body io.Reader) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set(wire.HeaderUser, user)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAttachmentSyncsBetweenDevices(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, serverBlobs := blobHarness(t, be, server.Config{})
		a := h.device("a", "alice")
		data := content(300_000, 1)
		n := noteWithFile(t, a, "with a file", data, "photo.jpg")
		if n.File == nil || n.File.Hash != sha(data) || n.File.Size != int64(len(data)) ||
			n.File.Name != "photo.jpg" || n.File.ContentType != "image/jpeg" {
			t.Fatalf("attachment = %+v", n.File)
		}
		// The same content on a second note is stored once on the device.
		twin := noteWithFile(t, a, "same file", data, "copy.bin")
		if got := countBlobs(t, localStore(t, a)); got != 1 {
			t.Fatalf("device A holds %d blobs, want 1", got)
		}
		var mu sync.Mutex
		var events []client.Progress
		opts := h.opts(a)
		opts.Progress = func(p client.Progress) { mu.Lock(); events = append(events, p); mu.Unlock() }
		res, err := a.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Uploaded != 1 || res.UploadedBytes != int64(len(data)) {
			t.Fatalf("uploaded %d attachments, %d bytes; want 1, %d", res.Uploaded, res.UploadedBytes, len(data))
		}
		if !sawBytes(events, client.StageUpload, int64(len(data))) {
			t.Fatalf("no upload progress reaching %d bytes: %+v", len(data), events)
		}
		if got := countBlobs(t, serverBlobs); got != 1 {
			t.Fatalf("server holds %d blobs, want 1", got)
		}
		// Nothing to upload the second time.
		if res := h.sync(a); res.Uploaded != 0 || res.UploadedBytes != 0 {
			t.Fatalf("second sync uploaded %d attachments, %d bytes", res.Uploaded, res.UploadedBytes)
		}

		b := h.device("b", "alice")
		events = nil
		opts = h.opts(b)
		opts.Progress = func(p client.Progress) { mu.Lock(); events = append(events, p); mu.Unlock() }
		res, err = b.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Downloaded != 1 || res.DownloadedBytes != int64(len(data)) || len(res.AttachmentFailures) != 0 {
			t.Fatalf("downloaded %d attachments, %d bytes, failures %v", res.Downloaded, res.DownloadedBytes, res.AttachmentFailures)
		}
		if !sawBytes(events, client.StageDownload, int64(len(data))) {
			t.Fatalf("no download progress reaching %d bytes: %+v", len(data), events)
		}
		for _, id := range []uuid.UUID{n.ID, twin.ID} {
			got, att, err := openBytes(t, b, id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("device B reads %d bytes that differ from the %d attached on A", len(got), len(data))
			}
			if att.Hash != n.File.Hash || att.Size != n.File.Size {
				t.Fatalf("attachment on B = %+v, want %+v", att, n.File)
			}
		}
		if twinAtt := mustGet(t, b, twin.ID).File; twinAtt.Name != "copy.bin" || twinAtt.ContentType != "application/octet-stream" {
			t.Fatalf("second attachment = %+v", twinAtt)
		}

		// B attaches the same content: the server has it, nothing moves, and
		// nothing is counted as uploaded.
		noteWithFile(t, b, "B's copy", data, "again.jpg")
		if res := h.sync(b); res.Uploaded != 0 || res.UploadedBytes != 0 || res.Pushed[0].Created != 1 {
			t.Fatalf("attaching content the server has: uploaded %d attachments, %d bytes, pushed %+v", res.Uploaded, res.UploadedBytes, res.Pushed)
		}

		// A note without a file says so.
		plain := &models.Note{Message: "no file"}
		generated.SyncNotes(b).Insert(ctx, plain)
		if _, _, err := generated.SyncNotes(b).Open(ctx, plain.ID); !errors.Is(err, client.ErrNoAttachment) {
			t.Fatalf("Open of a note without a file = %v, want ErrNoAttachment", err)
		}

		// A device that lost content the server has still pushes edits of
		// the rows that reference it.
		if err := os.RemoveAll(a.BlobDir()); err != nil {
			t.Fatal(err)
		}
		n.Message = "edited"
		if err := generated.SyncNotes(a).Update(ctx, n); err != nil {
			t.Fatal(err)
		}
		if res := h.sync(a); res.Pushed[0].Updated != 1 || res.Downloaded != 1 {
			t.Fatalf("sync after losing the content: pushed %+v, downloaded %d", res.Pushed, res.Downloaded)
		}
	})
}

func mustGet(t *testing.T, db *client.DB, id uuid.UUID) *models.Note {
	t.Helper()
	n, err := generated.SyncNotes(db).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sawBytes reports whether a progress event of stage reached total bytes.
func sawBytes(events []client.Progress, stage client.Stage, total int64) bool {
	for _, e := range events {
		if e.Stage == stage && e.TotalBytes == total && e.Bytes == total && e.Fraction == 1 {
			return true
		}
	}
	return false
}

func TestLazyAttachmentsAreFetchedByOpen(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, _ := blobHarness(t, be, server.Config{})
		a := h.device("a", "alice")
		data := content(50_000, 2)
		n := noteWithFile(t, a, "lazy", data, "doc.pdf")
		h.sync(a)

		path := filepath.Join(t.TempDir(), "b.db")
		b, err := client.Open(ctx, path, generated.Registry(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b.SetUser(ctx, "alice")
		opts := h.opts(b)
		opts.LazyAttachments = true
		res, err := b.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Downloaded != 0 || countBlobs(t, localStore(t, b)) != 0 {
			t.Fatalf("a lazy sync downloaded %d attachments", res.Downloaded)
		}
		// Open fetches it from the server of the last sync.
		got, _, err := openBytes(t, b, n.ID)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("lazy Open = %d bytes, %v", len(got), err)
		}
		b.Close()

		// A reopened database knows no server until told.
		os.RemoveAll(path + ".blobs")
		b, err = client.Open(ctx, path, generated.Registry(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, _, err := openBytes(t, b, n.ID); !errors.Is(err, client.ErrAttachmentNotLocal) {
			t.Fatalf("Open without content or server = %v, want ErrAttachmentNotLocal", err)
		}
		if err := b.SetRemote(h.opts(b)); err != nil {
			t.Fatal(err)
		}
		if got, _, err := openBytes(t, b, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Open after SetRemote = %d bytes, %v", len(got), err)
		}
	})
}

// cutUpload makes the first PUT of a blob stop after n body bytes, as if
// the connection broke, and counts the body bytes the server receives.
type cutUpload struct {
	n        int64
	cut      atomic.Bool
	received atomic.Int64
	puts     atomic.Int32
}

func (c *cutUpload) wrap(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/blobs/") {
		next.ServeHTTP(w, r)
		return
	}
	c.puts.Add(1)
	if c.cut.CompareAndSwap(false, true) {
		r.Body = io.NopCloser(&countReader{r: io.LimitReader(r.Body, c.n), n: &c.received, fail: true})
		next.ServeHTTP(discard{}, r)
		// The connection breaks: no answer reaches the device.
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	r.Body = io.NopCloser(&countReader{r: r.Body, n: &c.received})
	next.ServeHTTP(w, r)
}

// countReader counts what it reads; with fail, its end is an error (a
// broken connection) instead of EOF.
type countReader struct {
	r    io.Reader
	n    *atomic.Int64
	fail bool
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err == io.EOF && c.fail {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// discard is a ResponseWriter that goes nowhere.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func TestInterruptedUploadResumes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, serverBlobs := blobHarness(t, be, server.Config{})
		a := h.device("a", "alice")
		data := content(1<<20, 3)
		n := noteWithFile(t, a, "big", data, "big.bin")
		cut := &cutUpload{n: 400_000}
		wrap := cut.wrap
		h.wrap.Store(&wrap)

		// One attempt: the broken upload fails this sync, and the note is
		// not pushed without its content.
		opts := h.opts(a)
		opts.MaxAttempts = 1
		if _, err := a.Synchronize(ctx, opts); err == nil {
			t.Fatal("a sync whose upload broke succeeded")
		}
		if got := cut.received.Load(); got != cut.n {
			t.Fatalf("server received %d bytes before the cut, want %d", got, cut.n)
		}
		var count int
		h.st.QueryRow(`SELECT COUNT(*) FROM ss_tb_note`).Scan(&count)
		if count != 0 {
			t.Fatalf("the note reached the server before its content")
		}
		// The next sync resumes where the server stopped.
		res := h.sync(a)
		if got := cut.received.Load(); got != int64(len(data)) {
			t.Fatalf("server received %d bytes in all for %d bytes of content: something was sent twice", got, len(data))
		}
		if res.Uploaded != 1 || res.UploadedBytes != int64(len(data))-cut.n {
			t.Fatalf("the resumed upload sent %d attachments, %d bytes, want 1, %d", res.Uploaded, res.UploadedBytes, int64(len(data))-cut.n)
		}
		if got := countBlobs(t, serverBlobs); got != 1 {
			t.Fatalf("server holds %d blobs, want 1", got)
		}
		b := h.device("b", "alice")
		h.sync(b)
		if got, _, err := openBytes(t, b, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("device B reads %d bytes, %v", len(got), err)
		}

		// Within one sync, a broken upload is retried from its offset.
		c2 := noteWithFile(t, a, "bigger", content(700_000, 4), "b2.bin")
		cut2 := &cutUpload{n: 123_457}
		wrap2 := cut2.wrap
		h.wrap.Store(&wrap2)
		h.sync(a)
		if got := cut2.received.Load(); got != c2.File.Size || cut2.puts.Load() != 2 {
			t.Fatalf("server received %d bytes in %d PUTs for %d bytes", got, cut2.puts.Load(), c2.File.Size)
		}
	})
}

// cutDownload makes the first GET of a blob stop after n body bytes, and
// counts the body bytes the server sends and the ranges asked for.
type cutDownload struct {
	n      int64
	cut    atomic.Bool
	sent   atomic.Int64
	mu     sync.Mutex
	ranges []string
}

func (c *cutDownload) wrap(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
		next.ServeHTTP(w, r)
		return
	}
	c.mu.Lock()
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	c.mu.Unlock()
	limit := int64(-1)
	if c.cut.CompareAndSwap(false, true) {
		limit = c.n
	}
	next.ServeHTTP(&countWriter{ResponseWriter: w, sent: &c.sent, limit: limit}, r)
}

// countWriter counts the body bytes written; past limit (when not -1) it
// sends what fits, then breaks the connection.
type countWriter struct {
	http.ResponseWriter
	sent  *atomic.Int64
	n     int64
	limit int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	if c.limit >= 0 && c.n+int64(len(b)) > c.limit {
		part := b[:c.limit-c.n]
		c.ResponseWriter.Write(part)
		c.sent.Add(int64(len(part)))
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	c.sent.Add(int64(n))
	return n, err
}

func TestInterruptedDownloadResumes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, _ := blobHarness(t, be, server.Config{})
		a := h.device("a", "alice")
		data := content(1<<20, 5)
		n := noteWithFile(t, a, "big", data, "big.bin")
		h.sync(a)

		cut := &cutDownload{n: 300_000}
		wrap := cut.wrap
		h.wrap.Store(&wrap)
		b := h.device("b", "alice")
		// One attempt: the broken download is reported, the rows are there.
		opts := h.opts(b)
		opts.MaxAttempts = 1
		res, err := b.Synchronize(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.AttachmentFailures) != 1 || res.Downloaded != 0 {
			t.Fatalf("failures %v, downloaded %d", res.AttachmentFailures, res.Downloaded)
		}
		if got := cut.sent.Load(); got != cut.n {
			t.Fatalf("server sent %d bytes before the cut, want %d", got, cut.n)
		}
		// The next sync asks for the rest only.
		res = h.sync(b)
		if res.Downloaded != 1 || res.DownloadedBytes != int64(len(data))-cut.n || len(res.AttachmentFailures) != 0 {
			t.Fatalf("second sync: downloaded %d (%d bytes), failures %v", res.Downloaded, res.DownloadedBytes, res.AttachmentFailures)
		}
		if got := cut.sent.Load(); got != int64(len(data)) {
			t.Fatalf("server sent %d bytes in all for %d bytes of content: something was sent twice", got, len(data))
		}
		if want := []string{"", "bytes=" + strconv.FormatInt(cut.n, 10) + "-"}; strings.Join(cut.ranges, "|") != strings.Join(want, "|") {
			t.Fatalf("ranges asked %q, want %q", cut.ranges, want)
		}
		if got, _, err := openBytes(t, b, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("device B reads %d bytes, %v", len(got), err)
		}

		// Lazily, Open resumes a cut download within its own retries.
		c := h.device("c", "alice")
		opts = h.opts(c)
		opts.LazyAttachments = true
		if _, err := c.Synchronize(ctx, opts); err != nil {
			t.Fatal(err)
		}
		cut2 := &cutDownload{n: 777_777}
		wrap2 := cut2.wrap
		h.wrap.Store(&wrap2)
		if got, _, err := openBytes(t, c, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("lazy Open after a cut = %d bytes, %v", len(got), err)
		}
		if got := cut2.sent.Load(); got != int64(len(data)) {
			t.Fatalf("server sent %d bytes for %d", got, len(data))
		}
	})
}

func TestTamperedAttachmentsAreDetected(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, serverBlobs := blobHarness(t, be, server.Config{})
		a := h.device("a", "alice")
		data := content(64_000, 6)
		n := noteWithFile(t, a, "tamper", data, "t.bin")
		h.sync(a)
		b := h.device("b", "alice")
		h.sync(b)

		// On the device: changed content is detected by Open, dropped and
		// fetched again.
		bStore := localStore(t, b)
		tamper(t, bStore.Path(n.File.Hash))
		if got, _, err := openBytes(t, b, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Open of tampered local content = %d bytes, %v; want the original", len(got), err)
		}
		// A truncated file too.
		if err := os.Truncate(bStore.Path(n.File.Hash), 10); err != nil {
			t.Fatal(err)
		}
		if got, _, err := openBytes(t, b, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Open of truncated local content = %d bytes, %v; want the original", len(got), err)
		}

		// On the uploading device: content changed before the upload is
		// not sent, and the row is not pushed.
		m := noteWithFile(t, a, "tamper before upload", content(5000, 7), "u.bin")
		tamper(t, localStore(t, a).Path(m.File.Hash))
		if _, err := a.Synchronize(ctx, h.opts(a)); !errors.Is(err, client.ErrAttachmentMissing) {
			t.Fatalf("sync with corrupt local content = %v, want ErrAttachmentMissing", err)
		}
		generated.SyncNotes(a).Delete(ctx, m.ID)
		h.sync(a)

		// On the server: a device refuses content that does not match.
		tamper(t, serverBlobs.Path(n.File.Hash))
		c := h.device("c", "alice")
		res := h.sync(c)
		if len(res.AttachmentFailures) != 1 || !errors.Is(res.AttachmentFailures[0].Err, client.ErrAttachmentCorrupt) {
			t.Fatalf("failures %v, want one ErrAttachmentCorrupt", res.AttachmentFailures)
		}
		if _, _, err := openBytes(t, c, n.ID); !errors.Is(err, client.ErrAttachmentCorrupt) {
			t.Fatalf("Open of content corrupt on the server = %v, want ErrAttachmentCorrupt", err)
		}
		cStore := localStore(t, c)
		if _, err := os.Stat(cStore.Path(n.File.Hash)); err == nil {
			t.Fatal("corrupt content was kept on the device")
		}
		if size, _ := cStore.UploadSize(ctx, n.File.Hash); size != 0 {
			t.Fatalf("a corrupt partial download of %d bytes was kept", size)
		}
	})
}

// tamper changes a file's bytes (same size) and its time.
func tamper(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
}

func TestAttachmentsOfOtherUsers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, serverBlobs := blobHarness(t, be, server.Config{})
		a := h.device("a", "alice")
		data := content(10_000, 8)
		n := noteWithFile(t, a, "private", data, "p.bin")
		h.sync(a)
		path := "/api/sync/blobs/" + n.File.Hash

		// Bob may not read it, and cannot tell it exists.
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := h.raw(method, path, "bob", nil, nil)
			other := h.raw(method, "/api/sync/blobs/"+sha([]byte("nothing")), "bob", nil, nil)
			if resp.StatusCode != http.StatusNotFound || other.StatusCode != http.StatusNotFound ||
				resp.Header.Get(wire.HeaderUploadOffset) != "0" || other.Header.Get(wire.HeaderUploadOffset) != "0" {
				t.Fatalf("%s of alice's blob by bob = %d (offset %q), of a missing one %d", method,
					resp.StatusCode, resp.Header.Get(wire.HeaderUploadOffset), other.StatusCode)
			}
			if resp.StatusCode == http.StatusNotFound && method == http.MethodGet {
				b1, _ := io.ReadAll(resp.Body)
				b2, _ := io.ReadAll(other.Body)
				if string(b1) != string(b2) {
					t.Fatalf("answers differ: %s / %s", b1, b2)
				}
			}
		}
		if resp := h.raw(http.MethodGet, path, "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous GET = %d", resp.StatusCode)
		}
		if resp := h.raw(http.MethodPut, path, "", map[string]string{wire.HeaderUploadLength: "1"}, strings.NewReader("x")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous PUT = %d", resp.StatusCode)
		}

		// Bob's device with a note that names alice's hash cannot upload
		// what it does not have...
		bob := h.device("bob", "bob")
		forged := &models.Note{Message: "forged", File: &ssync.Attachment{Hash: n.File.Hash, Size: n.File.Size, Name: "p.bin"}}
		if err := generated.SyncNotes(bob).Insert(ctx, forged); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Synchronize(ctx, h.opts(bob)); !errors.Is(err, client.ErrAttachmentMissing) {
			t.Fatalf("bob's sync = %v, want ErrAttachmentMissing", err)
		}
		// ...and the server refuses the reference when pushed directly.
		body := `[{"collection":"ss_tb_note","changes":{"created":[{"id":"` + uuid.NewString() +
			`","createdAt":"2024-01-01T00:00:00Z","updatedAt":"2024-01-01T00:00:00Z","deletedAt":null,` +
			`"message":"x","completed":false,"userId":null,"userName":"B","file":{"hash":"` + n.File.Hash + `","size":10000}}]}}]`
		resp := h.raw(http.MethodPost, "/api/sync/push?collections=ss_tb_note", "bob", map[string]string{"Content-Type": "application/json"}, strings.NewReader(body))
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(msg), "not uploaded") {
			t.Fatalf("push of a foreign hash = %d %s", resp.StatusCode, msg)
		}
		if resp := h.raw(http.MethodGet, path, "bob", nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("bob reads alice's blob after the refused push: %d", resp.StatusCode)
		}

		// Uploading the same content proves bob has it: stored once, then
		// his row may reference it.
		up := h.raw(http.MethodPut, path, "bob", map[string]string{wire.HeaderUploadLength: strconv.Itoa(len(data))}, bytes.NewReader(data))
		if up.StatusCode != http.StatusCreated {
			t.Fatalf("bob's upload = %d", up.StatusCode)
		}
		resp = h.raw(http.MethodPost, "/api/sync/push?collections=ss_tb_note", "bob", map[string]string{"Content-Type": "application/json"}, strings.NewReader(body))
		if msg, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
			t.Fatalf("push after the upload = %d %s", resp.StatusCode, msg)
		}
		if got := h.raw(http.MethodGet, path, "bob", nil, nil); got.StatusCode != http.StatusOK {
			t.Fatalf("bob reads the content he uploaded: %d", got.StatusCode)
		}
		if got := countBlobs(t, serverBlobs); got != 1 {
			t.Fatalf("server holds %d blobs, want the content once", got)
		}

		// Carol, linked to alice, reads alice's notes and their files.
		carol := h.device("carol", "carol")
		carol.SetUser(ctx, "carol", "alice")
		res := h.sync(carol)
		if res.Downloaded != 1 {
			t.Fatalf("carol downloaded %d, failures %v", res.Downloaded, res.AttachmentFailures)
		}
		if got, _, err := openBytes(t, carol, n.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("carol reads %d bytes, %v", len(got), err)
		}
	})
}

func TestOversizedAttachmentIsRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		h, serverBlobs := blobHarness(t, be, server.Config{MaxBlobBytes: 4096})
		var received atomic.Int64
		wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			r.Body = io.NopCloser(&countReader{r: r.Body, n: &received})
			next.ServeHTTP(w, r)
		}
		a := h.device("a", "alice")
		noteWithFile(t, a, "too big", content(10_000, 9), "big.bin")
		h.wrap.Store(&wrap)
		_, err := a.Synchronize(ctx, h.opts(a))
		var te *client.TransportError
		if !errors.As(err, &te) || te.StatusCode != http.StatusRequestEntityTooLarge || !errors.Is(err, client.ErrBlobTooLarge) ||
			!strings.Contains(te.Message, "limit of 4096 bytes") {
			t.Fatalf("sync with an oversized attachment = %v, want 413 blob_too_large", err)
		}
		if got := countBlobs(t, serverBlobs); got != 0 {
			t.Fatalf("server kept %d blobs", got)
		}
		var pushed int
		h.st.QueryRow(`SELECT COUNT(*) FROM ss_tb_note`).Scan(&pushed)
		if pushed != 0 {
			t.Fatal("the row was pushed without its content")
		}
		// A small one still goes through.
		b := h.device("b", "alice")
		noteWithFile(t, b, "small", content(4096, 10), "small.bin")
		if _, err := b.Synchronize(ctx, h.opts(b)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPurgeBlobs(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		var now atomic.Pointer[time.Time]
		start := time.Now().UTC()
		now.Store(&start)
		clock := func() time.Time { return *now.Load() }
		const retention = 24 * time.Hour
		h, serverBlobs := blobHarness(t, be, server.Config{}, store.WithClock(clock), store.WithBlobRetention(retention))
		a := h.device("a", "alice")
		notes := generated.SyncNotes(a)
		kept := noteWithFile(t, a, "kept", content(1000, 11), "k.bin")
		replaced := noteWithFile(t, a, "replaced", content(1000, 12), "r.bin")
		deleted := noteWithFile(t, a, "deleted", content(1000, 13), "d.bin")
		shared := noteWithFile(t, a, "shared", content(1000, 14), "s.bin")
		sharedToo := noteWithFile(t, a, "shared too", content(1000, 14), "s2.bin")
		h.sync(a)
		oldFile, deletedFile := replaced.File.Hash, deleted.File.Hash
		if err := notes.Attach(ctx, replaced.ID, bytes.NewReader(content(1000, 15)), "new.bin", ""); err != nil {
			t.Fatal(err)
		}
		notes.Delete(ctx, deleted.ID)
		notes.Delete(ctx, sharedToo.ID)
		h.sync(a)
		newFile := mustGet(t, a, replaced.ID).File.Hash
		// Content uploaded but never referenced, and an upload left half
		// done.
		orphan := content(500, 16)
		if resp := h.raw(http.MethodPut, "/api/sync/blobs/"+sha(orphan), "alice",
			map[string]string{wire.HeaderUploadLength: "500"}, bytes.NewReader(orphan)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("orphan upload = %d", resp.StatusCode)
		}
		half := content(500, 17)
		if resp := h.raw(http.MethodPut, "/api/sync/blobs/"+sha(half), "alice",
			map[string]string{wire.HeaderUploadLength: "500"}, bytes.NewReader(half[:200])); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("half upload = %d", resp.StatusCode)
		}
		if got := countBlobs(t, serverBlobs); got != 6 {
			t.Fatalf("server holds %d blobs before the purge, want 6", got)
		}

		// Within the retention nothing goes: a device may still reference
		// released content.
		rep, err := h.server.PurgeBlobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted != 0 || rep.Uploads != 0 || countBlobs(t, serverBlobs) != 6 {
			t.Fatalf("purge within the retention: %+v", rep)
		}
		// After it, unreferenced content and stale uploads go; referenced
		// content stays, also content a deleted row shared with a live one.
		later := start.Add(retention + time.Hour)
		now.Store(&later)
		rep, err = h.server.PurgeBlobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted != 3 || rep.DeletedBytes != 2500 || rep.Kept != 3 || rep.Uploads != 1 {
			t.Fatalf("purge after the retention: %+v, want 3 deleted (2500 bytes), 3 kept, 1 upload", rep)
		}
		for _, hash := range []string{oldFile, deletedFile, sha(orphan)} {
			if _, err := serverBlobs.Stat(ctx, hash); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("unreferenced blob %s kept: %v", hash, err)
			}
		}
		for _, hash := range []string{kept.File.Hash, newFile, shared.File.Hash} {
			if _, err := serverBlobs.Stat(ctx, hash); err != nil {
				t.Fatalf("referenced blob %s removed: %v", hash, err)
			}
		}
		// Referenced content is still served to new devices.
		b := h.device("b", "alice")
		if res := h.sync(b); res.Downloaded != 3 || len(res.AttachmentFailures) != 0 {
			t.Fatalf("after the purge a new device downloaded %d, failures %v", res.Downloaded, res.AttachmentFailures)
		}
	})
}

func TestPurgeAttachmentsOnDevice(t *testing.T) {
	ctx := context.Background()
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	path := filepath.Join(t.TempDir(), "d.db")
	db, err := client.Open(ctx, path, generated.Registry(), client.Options{Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetUser(ctx, "alice")
	notes := generated.SyncNotes(db)
	n := noteWithFile(t, db, "n", []byte("first"), "1.txt")
	first := n.File.Hash
	if err := notes.Attach(ctx, n.ID, strings.NewReader("second"), "2.txt", ""); err != nil {
		t.Fatal(err)
	}
	st := localStore(t, db)
	if removed, err := db.PurgeAttachments(ctx, time.Hour); err != nil || removed != 0 || countBlobs(t, st) != 2 {
		t.Fatalf("purge of fresh content removed %d (%v)", removed, err)
	}
	later := start.Add(2 * time.Hour)
	now.Store(&later)
	if removed, err := db.PurgeAttachments(ctx, time.Hour); err != nil || removed != 1 {
		t.Fatalf("purge removed %d (%v), want the replaced file", removed, err)
	}
	if _, err := st.Stat(ctx, first); !errors.Is(err, blob.ErrNotFound) {
		t.Fatal("the replaced file is still there")
	}
	if got, _, err := openBytes(t, db, n.ID); err != nil || string(got) != "second" {
		t.Fatalf("the current file: %q, %v", got, err)
	}
	notes.Delete(ctx, n.ID)
	if removed, err := db.PurgeAttachments(ctx, time.Hour); err != nil || removed != 1 || countBlobs(t, st) != 0 {
		t.Fatalf("purge after the delete removed %d (%v)", removed, err)
	}
}
