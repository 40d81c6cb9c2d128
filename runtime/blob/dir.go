package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ssync-go/ssync/runtime/internal/echo"
)

// Dir is a Store in a filesystem folder:
//
//	<root>/ab/cdef...      the blob whose hash is abcdef... (2 + 62 hex digits)
//	<root>/uploads/<id>    incomplete uploads
//	<root>/tmp/            files being written by Put
//
// Blobs are written once, through a temporary file or an upload, and
// renamed into place, so a reader never sees a partial blob. Appends to one
// upload are serialized within the process; several processes sharing one
// folder must not append to the same upload at once (give each server
// instance its own folder, or use an object store).
type Dir struct {
	root  string
	locks [64]sync.Mutex
	now   func() time.Time
}

var _ Store = (*Dir)(nil)

// NewDir returns the store in folder root, creating it when needed.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("blob: NewDir: empty folder name")
	}
	d := &Dir{root: root, now: time.Now}
	for _, sub := range []string{"", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	return d, nil
}

// remake creates the store's folders again, when something removed them.
func (d *Dir) remake() error {
	for _, sub := range []string{"uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.root, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// Root returns the store's folder.
func (d *Dir) Root() string { return d.root }

// Path returns the file of the blob hash (which may not exist), or "" for
// an invalid hash.
func (d *Dir) Path(hash string) string {
	if !ValidHash(hash) {
		return ""
	}
	return filepath.Join(d.root, hash[:2], hash[2:])
}

func (d *Dir) uploadPath(id string) (string, error) {
	if !ValidUploadID(id) {
		return "", fmt.Errorf("%w %q", ErrInvalidUpload, echo.Clip(id))
	}
	return filepath.Join(d.root, "uploads", id), nil
}

func (d *Dir) lock(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &d.locks[h.Sum32()%uint32(len(d.locks))]
	m.Lock()
	return m.Unlock
}

func (d *Dir) blobPath(hash string) (string, error) {
	p := d.Path(hash)
	if p == "" {
		return "", fmt.Errorf("%w: %q", ErrInvalidHash, echo.Clip(hash))
	}
	return p, nil
}

// Stat implements Store.
func (d *Dir) Stat(ctx context.Context, hash string) (Info, error) {
	p, err := d.blobPath(hash)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, hash)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	return Info{Hash: hash, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Open implements Store: the blob's *os.File.
func (d *Dir) Open(ctx context.Context, hash string) (io.ReadSeekCloser, error) {
	p, err := d.blobPath(hash)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return f, nil
}

// Delete implements Store.
func (d *Dir) Delete(ctx context.Context, hash string) error {
	p, err := d.blobPath(hash)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Walk implements Store.
func (d *Dir) Walk(ctx context.Context, fn func(Info) error) error {
	dirs, err := os.ReadDir(d.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, sub := range dirs {
		if !sub.IsDir() || len(sub.Name()) != 2 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(d.root, sub.Name()))
		if err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		for _, f := range files {
			hash := sub.Name() + f.Name()
			if !f.Type().IsRegular() || !ValidHash(hash) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fi, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("blob: %w", err)
			}
			if err := fn(Info{Hash: hash, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// UploadSize implements Store.
func (d *Dir) UploadSize(ctx context.Context, upload string) (int64, error) {
	p, err := d.uploadPath(upload)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	return fi.Size(), nil
}

// Append implements Store.
func (d *Dir) Append(ctx context.Context, upload string, offset int64, r io.Reader) (int64, error) {
	p, err := d.uploadPath(upload)
	if err != nil {
		return 0, err
	}
	defer d.lock(upload)()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) && d.remake() == nil {
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	}
	if err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("blob: %w", err)
	}
	if have != offset {
		return have, &OffsetError{Offset: offset, Have: have}
	}
	// io.Copy writes what it read before it returns a read error, so an
	// interrupted transfer keeps its bytes.
	n, cerr := io.Copy(f, r)
	if err := f.Sync(); err != nil && cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return have + n, fmt.Errorf("blob: append to upload %s: %w", upload, cerr)
	}
	return have + n, nil
}

// Commit implements Store.
func (d *Dir) Commit(ctx context.Context, upload, hash string, size int64) error {
	p, err := d.uploadPath(upload)
	if err != nil {
		return err
	}
	final, err := d.blobPath(hash)
	if err != nil {
		return err
	}
	defer d.lock(upload)()
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if size == 0 {
			// An empty file needs no bytes: there may be no upload at all.
			f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		}
		if err != nil {
			return fmt.Errorf("%w: no upload %s", ErrIncomplete, upload)
		}
	} else if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	verr := Verify(f, hash, size)
	f.Close()
	switch {
	case errors.Is(verr, ErrIncomplete):
		return verr
	case verr != nil:
		os.Remove(p)
		return verr
	}
	return d.publish(p, final)
}

// publish moves the verified file src to final, or drops it when final
// exists already (identical content is stored once) and refreshes final's
// time, which the garbage collection of unreferenced blobs reads.
func (d *Dir) publish(src, final string) error {
	if _, err := os.Stat(final); err == nil {
		os.Remove(src)
		now := d.now()
		os.Chtimes(final, now, now)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if err := os.Rename(src, final); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Abort implements Store.
func (d *Dir) Abort(ctx context.Context, upload string) error {
	p, err := d.uploadPath(upload)
	if err != nil {
		return err
	}
	defer d.lock(upload)()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// WalkUploads implements Store.
func (d *Dir) WalkUploads(ctx context.Context, fn func(Upload) error) error {
	files, err := os.ReadDir(filepath.Join(d.root, "uploads"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, f := range files {
		if !f.Type().IsRegular() || !ValidUploadID(f.Name()) {
			continue
		}
		fi, err := f.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		if err := fn(Upload{ID: f.Name(), Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Put stores r's content, hashing it on the way into a temporary file that
// is then renamed into place, and returns its info. Identical content is
// stored once. head, when not nil, receives up to len(head) first bytes of
// the content (to sniff its type) and n says how many.
func (d *Dir) Put(ctx context.Context, r io.Reader, head []byte) (info Info, n int, err error) {
	tmp, err := os.CreateTemp(filepath.Join(d.root, "tmp"), "put-*")
	if errors.Is(err, fs.ErrNotExist) && d.remake() == nil {
		tmp, err = os.CreateTemp(filepath.Join(d.root, "tmp"), "put-*")
	}
	if err != nil {
		return Info{}, 0, fmt.Errorf("blob: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	hw := &headWriter{head: head}
	size, err := io.Copy(io.MultiWriter(tmp, h, hw), ctxReader{ctx, r})
	if err != nil {
		return Info{}, 0, fmt.Errorf("blob: store content: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, 0, fmt.Errorf("blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, 0, fmt.Errorf("blob: %w", err)
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if err := d.publish(tmp.Name(), d.Path(hash)); err != nil {
		return Info{}, 0, err
	}
	return Info{Hash: hash, Size: size, ModTime: d.now()}, hw.n, nil
}

// VerifyBlob checks that the stored blob hash still has its content; a
// blob that does not (changed or truncated on disk) is deleted and
// ErrMismatch returned.
func (d *Dir) VerifyBlob(ctx context.Context, hash string, size int64) error {
	f, err := d.Open(ctx, hash)
	if err != nil {
		return err
	}
	verr := Verify(f, hash, size)
	f.Close()
	if verr != nil {
		if rerr := d.Delete(ctx, hash); rerr != nil {
			return rerr
		}
		if errors.Is(verr, ErrIncomplete) {
			verr = fmt.Errorf("%w (%v)", ErrMismatch, verr)
		}
		return verr
	}
	return nil
}

// CleanTemp removes temporary files of interrupted Puts older than before.
func (d *Dir) CleanTemp(before time.Time) error {
	files, err := os.ReadDir(filepath.Join(d.root, "tmp"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, f := range files {
		if fi, err := f.Info(); err == nil && fi.ModTime().Before(before) && strings.HasPrefix(f.Name(), "put-") {
			os.Remove(filepath.Join(d.root, "tmp", f.Name()))
		}
	}
	return nil
}

type headWriter struct {
	head []byte
	n    int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if w.n < len(w.head) {
		w.n += copy(w.head[w.n:], p)
	}
	return len(p), nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
