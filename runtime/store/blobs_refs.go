package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/blob"
)

// ErrBlobMissing is wrapped by the refusal of a pushed row whose attachment
// content is not on the server for the pushing user: upload it first. A
// hash the user never uploaded and may not read is refused the same way,
// so that knowing a hash gives no access to the content.
var ErrBlobMissing = errors.New("attachment content not uploaded")

// blobRefs maintains the references of a row a push writes: one per
// attachment it now holds (owner: the row's owner), which is what lets the
// row's readers download the content; an attachment it no longer holds
// (replaced, or the row deleted) is released, and its content is kept for
// the owner through the retention window. A new reference needs content the
// pushing user uploaded or may read already.
func (p *pusher) blobRefs(ctx context.Context, t *serverTable, row any, ex existing) error {
	if !hasAttachments(t.coll) {
		return nil
	}
	rec := t.coll.RecordOf(row)
	owner := rec.SyncID
	if ex.found {
		owner = ex.owner
	}
	want := map[string]int64{}
	if rec.DeletedAt == nil {
		for _, a := range t.coll.AttachmentsOf(row) {
			want[a.Hash] = a.Size
		}
	}
	var have []string
	if ex.found {
		var err error
		if have, err = p.refsOf(ctx, t, rec.ID); err != nil {
			return err
		}
	}
	name := t.coll.CollectionName()
	var released []string
	for _, h := range have {
		if _, ok := want[h]; !ok {
			released = append(released, h)
		}
	}
	if err := p.release(ctx, t, rec.ID, owner, released); err != nil {
		return err
	}
	hashes := make([]string, 0, len(want))
	for h := range want {
		if !slices.Contains(have, h) {
			hashes = append(hashes, h)
		}
	}
	slices.Sort(hashes)
	ph := p.s.dialect.Placeholder
	for _, h := range hashes {
		if err := p.checkBlob(ctx, name, rec.ID, h, want[h]); err != nil {
			return err
		}
		if _, err := p.tx.ExecContext(ctx, "INSERT INTO ss_blob_refs (collection, row_id, hash, owner) VALUES ("+
			ph(1)+", "+ph(2)+", "+ph(3)+", "+ph(4)+")", name, rec.ID.String(), h, owner); err != nil {
			return &RowError{Collection: name, ID: rec.ID, Err: fmt.Errorf("reference attachment %s: %w", h, p.s.refused(err))}
		}
	}
	return nil
}

// checkBlob refuses a new reference to content that is not on the server
// for the pushing user, or whose size is not the attachment's.
func (p *pusher) checkBlob(ctx context.Context, collection string, id uuid.UUID, hash string, size int64) error {
	bs := p.s.blob.store
	if bs == nil {
		return nil // no content is kept: references are only recorded
	}
	missing := &RowError{Collection: collection, ID: id,
		Err: fmt.Errorf("%w: upload %s first (PUT {base}/blobs/%s)", ErrBlobMissing, hash, hash)}
	ok, err := p.s.blobReadable(ctx, p.tx, p.req.Identity, hash)
	if err != nil {
		return fmt.Errorf("ssync store: push %s %s: %w", collection, id, err)
	}
	if !ok {
		return missing
	}
	info, err := bs.Stat(ctx, hash)
	if errors.Is(err, blob.ErrNotFound) {
		return missing
	}
	if err != nil {
		return fmt.Errorf("ssync store: push %s %s: %w", collection, id, err)
	}
	if info.Size != size {
		return &RowError{Collection: collection, ID: id,
			Err: fmt.Errorf("attachment %s has size %d, but its content has %d bytes", hash, size, info.Size)}
	}
	return nil
}

// refsOf returns the hashes a row references.
func (p *pusher) refsOf(ctx context.Context, t *serverTable, id uuid.UUID) ([]string, error) {
	ph := p.s.dialect.Placeholder
	rows, err := p.tx.QueryContext(ctx, "SELECT hash FROM ss_blob_refs WHERE collection = "+ph(1)+" AND row_id = "+ph(2),
		t.coll.CollectionName(), id.String())
	if err != nil {
		return nil, fmt.Errorf("ssync store: push %s %s: attachment references: %w", t.coll.CollectionName(), id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("ssync store: push %s %s: attachment references: %w", t.coll.CollectionName(), id, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// release drops a row's references to hashes; the owner keeps the content
// for the retention window.
func (p *pusher) release(ctx context.Context, t *serverTable, id uuid.UUID, owner string, hashes []string) error {
	ph := p.s.dialect.Placeholder
	for _, h := range hashes {
		if _, err := p.tx.ExecContext(ctx, "DELETE FROM ss_blob_refs WHERE collection = "+ph(1)+" AND row_id = "+ph(2)+" AND hash = "+ph(3),
			t.coll.CollectionName(), id.String(), h); err != nil {
			return fmt.Errorf("ssync store: push %s %s: release attachment: %w", t.coll.CollectionName(), id, err)
		}
		if err := p.s.holdBlob(ctx, p.tx, h, owner, p.now); err != nil {
			return fmt.Errorf("ssync store: push %s %s: %w", t.coll.CollectionName(), id, err)
		}
	}
	return nil
}

// releaseRow releases every attachment of a row the push deletes.
func (p *pusher) releaseRow(ctx context.Context, t *serverTable, id uuid.UUID, owner string) error {
	if !hasAttachments(t.coll) {
		return nil
	}
	have, err := p.refsOf(ctx, t, id)
	if err != nil {
		return err
	}
	return p.release(ctx, t, id, owner, have)
}
