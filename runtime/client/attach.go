package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/ssync"
)

// Errors of attachments; match them with errors.Is.
var (
	// ErrNoAttachment is returned by Open for a row without an attachment.
	ErrNoAttachment = errors.New("ssync client: the row has no attachment")
	// ErrAttachmentNotLocal is returned by Open when the content is not on
	// the device and no server is known to download it from: synchronize
	// first, or call SetRemote.
	ErrAttachmentNotLocal = errors.New("ssync client: the attachment's content is not on this device (synchronize, or call SetRemote so that Open can download it)")
	// ErrAttachmentMissing is returned by Synchronize when a local change
	// references content the device no longer has (or has corrupt), so it
	// cannot be uploaded: attach the file again, or clear the attachment.
	ErrAttachmentMissing = errors.New("ssync client: the attachment's content is missing from this device")
	// ErrAttachmentUnavailable is returned when the server does not have
	// the content, or the user may not read it (the server does not say
	// which).
	ErrAttachmentUnavailable = errors.New("ssync client: the server has no such attachment for this user")
	// ErrAttachmentCorrupt is returned when the content the server sends
	// does not match its hash, again after it was fetched anew.
	ErrAttachmentCorrupt = errors.New("ssync client: the attachment's content does not match its hash")
)

// attachments is a DB's attachment state: the local blob folder, the
// server Open downloads from, and the blobs verified since they were last
// written.
type attachments struct {
	dir    string
	mu     sync.Mutex
	store  *blob.Dir
	remote atomic.Pointer[SyncOptions]
	// verified maps a hash to the size and time its file had when its
	// content was last checked: a file with the same stamp is not hashed
	// again.
	verified sync.Map
	// fetching holds a mutex per hash being downloaded.
	fetching sync.Map
}

// lockHash serializes the downloads of one blob; it returns the unlock.
func (att *attachments) lockHash(hash string) func() {
	m, _ := att.fetching.LoadOrStore(hash, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// blobStore returns the device's blob folder, created on first use.
func (db *DB) blobStore() (*blob.Dir, error) {
	if db == nil || db.sql == nil {
		return nil, ErrNotInitialized
	}
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.att.mu.Lock()
	defer db.att.mu.Unlock()
	if db.att.store == nil {
		s, err := blob.NewDir(db.att.dir)
		if err != nil {
			return nil, fmt.Errorf("ssync client: attachment folder: %w", err)
		}
		db.att.store = s
	}
	return db.att.store, nil
}

// BlobDir returns the folder that keeps attachment content on this device.
func (db *DB) BlobDir() string { return db.att.dir }

// SetRemote sets the server that Open downloads attachment content from
// when it is not on the device yet: ServerURL, BasePath, HTTPClient,
// Decorate, MaxAttempts and RetryDelay of opts are used. Synchronize sets
// it too, with its own options, so after one sync Open needs nothing more.
func (db *DB) SetRemote(opts SyncOptions) error {
	if _, err := newExchange(opts, ""); err != nil {
		return err
	}
	db.att.remote.Store(&opts)
	return nil
}

// AttachWith stores the content read from src in the device's blob folder
// (hashing it on the way; identical content is stored once) and sets it, with
// name and contentType, on the row with id rowID through set, then updates
// the row. An empty contentType is guessed from the name, else from the
// content. Generated repositories call it from their Attach methods.
func (r *Repo[T]) AttachWith(ctx context.Context, rowID uuid.UUID, src io.Reader, name, contentType string,
	set func(row *T, a *ssync.Attachment)) error {
	if r.err != nil {
		return r.err
	}
	if src == nil {
		return fmt.Errorf("attach to %s %s: nil reader", r.table.Name, rowID)
	}
	if _, err := r.Get(ctx, rowID); err != nil {
		return fmt.Errorf("attach to %s %s: %w", r.table.Name, rowID, err)
	}
	store, err := r.db.blobStore()
	if err != nil {
		return err
	}
	head := make([]byte, 512)
	info, n, err := store.Put(ctx, src, head)
	if err != nil {
		return fmt.Errorf("attach to %s %s: %w", r.table.Name, rowID, err)
	}
	r.db.att.markVerified(store, info.Hash)
	if contentType == "" {
		contentType = guessType(name, head[:n])
	}
	a := &ssync.Attachment{Hash: info.Hash, Size: info.Size, Name: name, ContentType: contentType}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("attach to %s %s: %w", r.table.Name, rowID, err)
	}
	update := func(ctx context.Context) error {
		row, err := r.Get(ctx, rowID)
		if err != nil {
			return err
		}
		set(row, a)
		return r.Update(ctx, row)
	}
	if inTransaction(ctx, r.db) {
		err = update(ctx)
	} else {
		err = r.db.Transaction(ctx, update)
	}
	if err != nil {
		return fmt.Errorf("attach to %s %s: %w", r.table.Name, rowID, err)
	}
	return nil
}

// guessType returns the media type of a file from its name's extension,
// else from its first bytes.
func guessType(name string, head []byte) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return http.DetectContentType(head)
}

// OpenWith returns the content of the attachment get reads from the row
// with id rowID, and a copy of that attachment. The content is verified
// against its hash before it is returned; content not on the device (or
// found corrupt) is downloaded from the server set by the last Synchronize
// or SetRemote, resuming an interrupted download. The reader is an
// *os.File (it also seeks). Generated repositories call it from their Open
// methods.
func (r *Repo[T]) OpenWith(ctx context.Context, rowID uuid.UUID, get func(row *T) *ssync.Attachment) (io.ReadCloser, *ssync.Attachment, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	row, err := r.Get(ctx, rowID)
	if err != nil {
		return nil, nil, fmt.Errorf("open attachment: %w", err)
	}
	a := get(row)
	if a.IsZero() {
		return nil, nil, fmt.Errorf("open attachment of %s %s: %w", r.table.Name, rowID, ErrNoAttachment)
	}
	cp := *a
	f, err := r.db.openBlob(ctx, cp)
	if err != nil {
		return nil, &cp, fmt.Errorf("open attachment of %s %s: %w", r.table.Name, rowID, err)
	}
	return f, &cp, nil
}

// openBlob opens the verified local content of a, downloading it first
// when it is not on the device or is corrupt.
func (db *DB) openBlob(ctx context.Context, a ssync.Attachment) (*os.File, error) {
	store, err := db.blobStore()
	if err != nil {
		return nil, err
	}
	err = db.att.check(ctx, store, a)
	if err == nil {
		if f, err := os.Open(store.Path(a.Hash)); err == nil {
			return f, nil
		}
	} else if !errors.Is(err, blob.ErrNotFound) && !errors.Is(err, blob.ErrMismatch) {
		return nil, err
	}
	if errors.Is(err, blob.ErrMismatch) {
		db.logger.WarnContext(ctx, "ssync: attachment content on this device is corrupt; fetching it again", "hash", a.Hash)
	}
	remote := db.att.remote.Load()
	if remote == nil {
		return nil, ErrAttachmentNotLocal
	}
	ex, err := newExchange(*remote, db.DeviceID())
	if err != nil {
		return nil, err
	}
	t := newTransfer(db, ex, nil)
	if err := t.download(ctx, a); err != nil {
		return nil, err
	}
	f, err := os.Open(store.Path(a.Hash))
	if err != nil {
		return nil, fmt.Errorf("ssync client: %w", err)
	}
	return f, nil
}

// check verifies the local content of a: nil when the blob is there with
// its content, blob.ErrNotFound when it is not, blob.ErrMismatch (after
// deleting it) when it is corrupt. A blob whose file kept the size and time
// it had when last verified is not hashed again.
func (att *attachments) check(ctx context.Context, store *blob.Dir, a ssync.Attachment) error {
	fi, err := os.Stat(store.Path(a.Hash))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", blob.ErrNotFound, a.Hash)
	}
	if err != nil {
		return fmt.Errorf("ssync client: %w", err)
	}
	if v, ok := att.verified.Load(a.Hash); ok && v.(fileStamp) == (fileStamp{fi.Size(), fi.ModTime()}) && fi.Size() == a.Size {
		return nil
	}
	att.verified.Delete(a.Hash)
	if err := store.VerifyBlob(ctx, a.Hash, a.Size); err != nil {
		return err
	}
	att.markVerified(store, a.Hash)
	return nil
}

// markVerified records the stamp of a blob whose content was just checked.
func (att *attachments) markVerified(store *blob.Dir, hash string) {
	if fi, err := os.Stat(store.Path(hash)); err == nil {
		att.verified.Store(hash, fileStamp{fi.Size(), fi.ModTime()})
	}
}

// PurgeAttachments removes from the device's blob folder the content that no
// live row references any more (replaced files, deleted rows), interrupted
// downloads and temporary files, when they are older than keep: content
// written more recently stays, since an Attach may be about to reference
// it. It returns the number of blobs removed. Rows of every user on the
// device count.
func (db *DB) PurgeAttachments(ctx context.Context, keep time.Duration) (int, error) {
	store, err := db.blobStore()
	if err != nil {
		return 0, err
	}
	refs, err := db.attachmentsOf(ctx, "`deleted_at` IS NULL")
	if err != nil {
		return 0, err
	}
	used := make(map[string]bool, len(refs))
	for _, r := range refs {
		used[r.a.Hash] = true
	}
	before := db.now().Add(-keep)
	removed := 0
	err = store.Walk(ctx, func(info blob.Info) error {
		if used[info.Hash] || !info.ModTime.Before(before) {
			return nil
		}
		if err := store.Delete(ctx, info.Hash); err != nil {
			return err
		}
		db.att.verified.Delete(info.Hash)
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("ssync client: purge attachments: %w", err)
	}
	err = store.WalkUploads(ctx, func(u blob.Upload) error {
		if u.ModTime.Before(before) {
			return store.Abort(ctx, u.ID)
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("ssync client: purge attachments: %w", err)
	}
	if err := store.CleanTemp(before); err != nil {
		return removed, fmt.Errorf("ssync client: purge attachments: %w", err)
	}
	return removed, nil
}
