package server

import (
	"errors"
	"net/http"

	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// pullBatchRows is how many rows the store hands a /pull answer at a time:
// the answer may pass MaxPullBytes by at most one such batch.
const pullBatchRows = 256

// errPageFull stops a /pull whose answer reached MaxPullBytes.
var errPageFull = errors.New("pull answer full")

// pullPage builds a /pull answer collection by collection, from the
// store's batches, holding only the encoded answer.
type pullPage struct {
	reg  *ssync.Registry
	max  int            // MaxPullBytes
	out  jwriter.Writer // the finished change sets
	sent []string       // their collections

	coll                      string // the collection being gathered
	cp                        string // its checkpoint so far
	created, updated, deleted jwriter.Writer
	deletedAt                 jwriter.Writer // members of "deletedAt"
	nc, nu, nd, nda           int
	rows                      int
}

// add takes one batch of the store's pull.
func (p *pullPage) add(cs *wire.ChangeSet) error {
	if cs.Collection != p.coll {
		p.finish()
		p.coll = cs.Collection
	}
	coll, err := p.reg.Lookup(cs.Collection)
	if err != nil {
		return err
	}
	p.nc = encodeRows(&p.created, coll, cs.Created, p.nc)
	p.nu = encodeRows(&p.updated, coll, cs.Updated, p.nu)
	for i, id := range cs.Deleted {
		if p.nd > 0 {
			p.deleted.RawByte(',')
		}
		wire.WriteUUID(&p.deleted, id)
		p.nd++
		if i < len(cs.DeletedAt) && !cs.DeletedAt[i].IsZero() {
			if p.nda > 0 {
				p.deletedAt.RawByte(',')
			}
			wire.EncodeDeletedAt(&p.deletedAt, id, cs.DeletedAt[i])
			p.nda++
		}
	}
	p.cp = cs.Checkpoint
	p.rows += cs.Len()
	if p.out.Size()+p.created.Size()+p.updated.Size()+p.deleted.Size()+p.deletedAt.Size() >= p.max {
		return errPageFull
	}
	return nil
}

// encodeRows appends rows to w, which holds n rows already, and returns
// the new count.
func encodeRows(w *jwriter.Writer, coll ssync.Collection, rows []any, n int) int {
	for _, row := range rows {
		if n > 0 {
			w.RawByte(',')
		}
		coll.EncodeRow(w, row)
		n++
	}
	return n
}

// finish writes the gathered collection as one change set.
func (p *pullPage) finish() {
	if p.coll == "" {
		return
	}
	w := &p.out
	if len(p.sent) > 0 {
		w.RawByte(',')
	}
	w.RawString(`{"collection":`)
	w.String(p.coll)
	w.RawString(`,"timestamp":`)
	w.String(p.cp)
	w.RawString(`,"changes":{"created":[`)
	dump(w, &p.created)
	w.RawString(`],"updated":[`)
	dump(w, &p.updated)
	w.RawString(`],"deleted":[`)
	dump(w, &p.deleted)
	w.RawByte(']')
	if p.nda > 0 {
		w.RawString(`,"deletedAt":{`)
		dump(w, &p.deletedAt)
		w.RawByte('}')
	}
	w.RawString(`}}`)
	p.sent = append(p.sent, p.coll)
	p.coll, p.nc, p.nu, p.nd, p.nda = "", 0, 0, 0, 0
}

// dump moves the bytes of src to the end of w, chunk by chunk (src's
// chunks go back to the pool: no second copy of the whole).
func dump(w, src *jwriter.Writer) {
	src.Buffer.DumpTo(appender{w})
}

// appender writes to the end of a jwriter.Writer.
type appender struct{ w *jwriter.Writer }

func (a appender) Write(p []byte) (int, error) {
	a.w.Buffer.AppendBytes(p)
	return len(p), nil
}

// empty writes a change set without changes.
func (p *pullPage) empty(collection, checkpoint string) {
	p.coll, p.cp = collection, checkpoint
	p.finish()
}

// handlePull answers the change-set array of the listed collections, from
// one snapshot, up to MaxPullRows rows and MaxPullBytes bytes. An answer
// cut short at a cap carries wire.HeaderMore: each change set's timestamp
// is where its collection continues (a collection cut in the middle
// carries the position of its last row; collections not reached carry
// the request's checkpoint), so pulling again from them gets the rest.
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	req, ok := s.pullRequest(w, r)
	if !ok {
		return
	}
	req.BatchSize, req.BatchBytes, req.Limit = pullBatchRows, s.cfg.MaxPullBytes/8, s.cfg.MaxPullRows
	page := &pullPage{reg: s.store.Registry(), max: s.cfg.MaxPullBytes}
	err := s.store.PullStream(r.Context(), req, page.add)
	more := errors.Is(err, errPageFull) || errors.Is(err, store.ErrPullCut)
	if err != nil && !more {
		s.pullFailed(w, r, err)
		return
	}
	page.finish()
	for _, name := range req.Collections[len(page.sent):] {
		page.empty(name, req.Since.String())
	}
	w, finish := s.compressed(w, r)
	defer finish()
	w.Header().Set("Content-Type", wire.ContentTypeJSON)
	if more {
		w.Header().Set(wire.HeaderMore, "true")
	}
	w.Write([]byte{'['})
	if _, err := page.out.DumpTo(w); err != nil {
		s.logger.WarnContext(r.Context(), "ssync: pull: write response", "error", err)
	}
	w.Write([]byte{']'})
	s.logger.InfoContext(r.Context(), "ssync: pull", "user", req.Identity.SyncID, "since", req.Since.String(),
		"rows", page.rows, "more", more)
}
