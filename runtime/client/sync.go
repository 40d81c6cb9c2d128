package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// SyncOptions says how Synchronize reaches the server and what it reports.
type SyncOptions struct {
	// ServerURL is the server's address, e.g. "http://127.0.0.1:8080".
	ServerURL string
	// BasePath is where the sync API is mounted; empty means
	// wire.DefaultBasePath.
	BasePath string
	// HTTPClient sends the requests; nil uses a client with a two-minute
	// timeout per request. Attachment content goes through it without its
	// Timeout: a transfer stops when no byte moved for two minutes, and
	// resumes on the next attempt.
	HTTPClient *http.Client
	// Decorate, when set, is called on every request before it is sent, to
	// add credentials or other headers.
	Decorate func(*http.Request) error
	// SchemaVersion and Info are sent in the handshake, with the
	// registry's fingerprint; the server may refuse the client (a
	// *RefusedError). 0 sends Options.SchemaVersion.
	SchemaVersion int
	// Info is custom information for the server's handshake hook; it must
	// marshal to JSON.
	Info any
	// MaxAttempts bounds how often one request is sent when it fails in a
	// way that may pass on retry (no response, 408, 429, a 5xx but 501);
	// 0 means 4. An attachment transfer counts only the failures since it
	// last moved forward.
	MaxAttempts int
	// RetryDelay is the backoff before the second attempt, doubled for
	// each later one up to MaxRetryDelay; each wait is drawn at random
	// between half the backoff and the whole, so that devices that failed
	// together do not retry together. 0 means 250ms. A server's
	// Retry-After (on 429 and 503) is waited out, with up to half the
	// backoff more.
	RetryDelay time.Duration
	// MaxRetryDelay bounds one wait between attempts; a server that asks
	// for a longer one with Retry-After is not retried (its
	// TransportError has RetryAfter). 0 means 30s.
	MaxRetryDelay time.Duration
	// WholeRows makes pushes carry whole rows, as to a server that does
	// not take field pushes, and pulls skip rows with pending changes, as
	// a client that knows nothing of fields does. By default an update of a row the server has
	// carries only the fields changed since the last acknowledged push,
	// with the values the device had seen of them, so that the server
	// keeps concurrent changes of the other fields (wire.FeatureFields).
	WholeRows bool
	// PushBatchRows bounds the rows of one push request; larger change sets
	// go in several pushes. 0 means 5,000. When the registry's rows never
	// reference rows sent after them, the first push of several holds a
	// quarter of it (when that is at least 500 rows), so that the server
	// starts while the device reads the rest.
	PushBatchRows int
	// PullBatchRows is the rows per streamed pull batch the server is asked
	// for; each batch is applied in its own transaction. 0 lets the server
	// choose.
	PullBatchRows int
	// NoWait makes Synchronize fail with ErrSyncInProgress instead of
	// waiting when another Synchronize of the database runs.
	NoWait bool
	// Progress, when set, receives progress events.
	Progress func(Progress)
	// LogLevel chooses what Result.Log records: counts only (the default),
	// the sync fields of every row, or every row in full.
	LogLevel LogLevel
	// HandshakeInterval is how long a successful handshake with the server
	// (the same ServerURL, BasePath, SchemaVersion, Info and user) is
	// trusted: a sync within it sends none, so a sync with nothing to do
	// is one exchange (the pull). 0 means 5 minutes; a negative value
	// makes every sync start with a handshake. A failed sync forgets it,
	// so the next one says hello again.
	HandshakeInterval time.Duration
	// DisableCompression sends every request as it is and asks for
	// answers as they are ("Accept-Encoding: identity"). By default answers
	// are asked for in zstd or gzip, and pushes are sent compressed when
	// the server's handshake says it takes them.
	DisableCompression bool
	// LazyAttachments leaves the download of attachment content to Open;
	// by default Synchronize downloads the content of every attachment
	// in scope that the device does not have, after the pull.
	LazyAttachments bool
}

// Stage is a step of Synchronize.
type Stage string

// The stages Progress reports.
const (
	StageHandshake Stage = "handshake"
	StagePush      Stage = "push"
	StagePull      Stage = "pull"
	StageDone      Stage = "done"
)

// Progress is one progress event.
type Progress struct {
	// Stage is the current step.
	Stage Stage
	// Collection is the table being worked on, when there is one.
	Collection string
	// Done counts the rows handled so far in this stage.
	Done int
	// Total is the number of rows the stage will handle, or -1 when not
	// known (a pull does not know in advance).
	Total int
	// Fraction is Done/Total in 0..1, or -1 when indeterminate; in the
	// upload and download stages it is Bytes/TotalBytes.
	Fraction float64
	// Bytes counts the attachment bytes moved (or found on the server
	// already) so far in the upload and download stages, where Done and
	// Total count attachments.
	Bytes int64
	// TotalBytes is the size of the attachments the stage moves.
	TotalBytes int64
}

// LogLevel is how much Result.Log records (NETCoreSync's
// syncResultLogLevel).
type LogLevel int

// The log levels.
const (
	// LogCounts records nothing per row: Result has counts only.
	LogCounts LogLevel = iota
	// LogFields records the sync fields of every row moved.
	LogFields
	// LogFull records every row moved, in full.
	LogFull
)

// ParseLogLevel reads "counts", "fields" or "full".
func ParseLogLevel(s string) (LogLevel, error) {
	switch s {
	case "counts", "":
		return LogCounts, nil
	case "fields":
		return LogFields, nil
	case "full":
		return LogFull, nil
	}
	return LogCounts, fmt.Errorf("unknown log level %q (want counts, fields or full)", s)
}

// LogEntry is one row moved by a sync.
type LogEntry struct {
	// Direction is "push" or "pull".
	Direction string `json:"direction"`
	// Collection is the row's table.
	Collection string `json:"collection"`
	// Op is "created", "updated" or "deleted".
	Op string `json:"op"`
	// ID is the row's id.
	ID uuid.UUID `json:"id"`
	// SyncID is the row's owner (empty for deletions).
	SyncID string `json:"syncId,omitempty"`
	// UpdatedAt is the row's last change (zero for deletions).
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// Data is the whole row as JSON, at LogFull.
	Data json.RawMessage `json:"data,omitempty"`
}

// TableCounts counts the rows of one table moved in one direction.
type TableCounts struct {
	// Collection is the table's collection name.
	Collection string
	// Created, Updated and Deleted count rows by kind of change.
	Created, Updated, Deleted int
}

// Result tells what one Synchronize did.
type Result struct {
	// Pushed counts the local changes the server acknowledged, per table.
	Pushed []TableCounts
	// Pulled counts the server changes applied locally, per table.
	Pulled []TableCounts
	// Ignored lists pushed changes the server did not apply: the row was
	// deleted on the server (a delete wins), or its conflict resolver kept
	// the server's row. The server's version reaches the device on the
	// next pull.
	Ignored []wire.IgnoredRow
	// Skipped counts pulled rows not applied because the row has a local
	// change not yet pushed that is not known field by field (the whole
	// local row is pushed next time). A row with pending field changes
	// takes the pulled values of the other fields, and counts as updated.
	Skipped int
	// Merged lists the pushed rows the server merged with changes of
	// other devices (the merged row is pulled back), and the pushed fields
	// that replaced another device's concurrent change of the same field.
	Merged []wire.MergedRow
	// Resynced lists collections that were pulled again in full: the
	// server no longer had the deletions since their checkpoint, or a
	// migration at Open added columns to their table.
	Resynced []string
	// Checkpoint is the server checkpoint the device is now at.
	Checkpoint string
	// Log holds the rows moved, at the requested LogLevel.
	Log []LogEntry
	// Duration is how long the whole exchange took.
	Duration time.Duration
	// Uploaded and Downloaded count the attachments whose content moved;
	// UploadedBytes and DownloadedBytes the bytes sent and received.
	Uploaded, Downloaded           int
	UploadedBytes, DownloadedBytes int64
	// AttachmentFailures lists attachments whose content could not be
	// downloaded; their rows are applied, and Open tries again.
	AttachmentFailures []AttachmentFailure
	// OutOfScope counts the local changes the sync did not push because
	// their owner is outside the signed-in user's scope (see
	// DB.PendingOutOfScope); nil when there are none.
	OutOfScope []OutOfScope
}

func addCount(counts *[]TableCounts, collection string, created, updated, deleted int) {
	if created+updated+deleted == 0 {
		return
	}
	for i := range *counts {
		if (*counts)[i].Collection == collection {
			(*counts)[i].Created += created
			(*counts)[i].Updated += updated
			(*counts)[i].Deleted += deleted
			return
		}
	}
	*counts = append(*counts, TableCounts{Collection: collection, Created: created, Updated: updated, Deleted: deleted})
}

// session is the state of one Synchronize.
type session struct {
	db    *DB
	opts  SyncOptions
	ex    *exchange
	scope string
	res   *Result
	// pushEncoding is the content coding pushes are sent in: the first
	// the server's handshake announced that this client writes, or none.
	pushEncoding string
	// fields is true when the server takes field pushes
	// (wire.FeatureFields), whatever SyncOptions.WholeRows says.
	fields bool
	// deletedAt is true when the server takes the deletion times of
	// pushed deletes (wire.FeatureDeletedAt).
	deletedAt bool
	// uploadEncoding is the content coding attachment content that
	// compresses is uploaded in, chosen the same way from the handshake's
	// uploadEncodings, or none.
	uploadEncoding string
}

func (s *session) progress(p Progress) {
	if s.opts.Progress == nil {
		return
	}
	p.Fraction = -1
	if p.Total > 0 {
		p.Fraction = float64(p.Done) / float64(p.Total)
	} else if p.Total == 0 {
		p.Fraction = 1
	}
	s.opts.Progress(p)
}

func (s *session) log(dir, collection, op string, coll ssync.Collection, row any, id uuid.UUID) {
	if s.opts.LogLevel == LogCounts {
		return
	}
	e := LogEntry{Direction: dir, Collection: collection, Op: op, ID: id}
	if row != nil {
		rec := coll.RecordOf(row)
		e.SyncID, e.UpdatedAt = rec.SyncID, rec.UpdatedAt
		if s.opts.LogLevel == LogFull {
			w := &jwriter.Writer{}
			coll.EncodeRow(w, row)
			e.Data, _ = w.BuildBytes()
		}
	}
	s.res.Log = append(s.res.Log, e)
}

// Synchronize exchanges changes with the server: a handshake, then the local
// changes of the signed-in user's scope are pushed (in parts, each with an
// idempotency key kept in the database until acknowledged, so a retry after a
// lost answer or a crash applies nothing twice), then the server's changes
// are pulled as a stream and applied batch by batch, each batch in one
// transaction with its checkpoint, so an interrupted sync resumes where it
// stopped. Only one Synchronize runs at a time per database; a second one
// waits (or fails with ErrSyncInProgress under NoWait). It fails with
// ErrInTransaction inside Transaction.
func (db *DB) Synchronize(ctx context.Context, opts SyncOptions) (*Result, error) {
	if _, _, _, err := db.activeScope(); errors.Is(err, ErrNotInitialized) || errors.Is(err, ErrClosed) {
		return nil, err
	}
	if inTransaction(ctx, db) {
		return nil, ErrInTransaction
	}
	start := time.Now()
	if opts.NoWait {
		select {
		case db.syncSem <- struct{}{}:
		default:
			return nil, ErrSyncInProgress
		}
	} else {
		select {
		case db.syncSem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() { <-db.syncSem }()

	_, scope, _, err := db.activeScope()
	if err != nil {
		return nil, err
	}
	ex, err := newExchange(opts, db.DeviceID())
	if err != nil {
		return nil, err
	}
	db.att.remote.Store(&opts)
	s := &session{db: db, opts: opts, ex: ex, scope: scope, res: &Result{}}
	s.progress(Progress{Stage: StageHandshake, Total: -1})
	hello := s.helloKey()
	if err := s.handshakeUnlessRecent(ctx, hello); err != nil {
		return nil, err
	}
	if err := s.exchange(ctx); err != nil {
		db.forgetHandshake()
		return nil, err
	}
	if s.res.OutOfScope, err = db.PendingOutOfScope(ctx); err != nil {
		return nil, err
	}
	for _, o := range s.res.OutOfScope {
		db.logger.WarnContext(ctx, "ssync: local changes not pushed: their owner is outside the signed-in user's scope",
			"syncId", o.SyncID, "collection", o.Collection, "rows", o.Rows)
	}
	s.res.Duration = time.Since(start)
	s.progress(Progress{Stage: StageDone, Total: 0})
	db.logger.InfoContext(ctx, "ssync: synchronized",
		"pushed", countsAttr(s.res.Pushed), "pulled", countsAttr(s.res.Pulled),
		"ignored", len(s.res.Ignored), "skipped", s.res.Skipped, "checkpoint", s.res.Checkpoint,
		"duration", s.res.Duration)
	for _, e := range s.res.Log {
		db.logger.DebugContext(ctx, "ssync: row", "direction", e.Direction, "collection", e.Collection,
			"op", e.Op, "id", e.ID, "syncId", e.SyncID)
	}
	return s.res, nil
}

// exchange is what a sync does after its handshake.
func (s *session) exchange(ctx context.Context) error {
	if err := s.uploadAttachments(ctx); err != nil {
		return err
	}
	if err := s.push(ctx); err != nil {
		return err
	}
	if err := s.pull(ctx); err != nil {
		return err
	}
	return s.downloadAttachments(ctx)
}

// defaultHandshakeInterval is how long a handshake is trusted when
// SyncOptions.HandshakeInterval is 0.
const defaultHandshakeInterval = 5 * time.Minute

// hello is the last successful handshake of a DB: with whom (its key),
// when, and the codings pushes and uploads are sent in.
type hello struct {
	key            string
	at             time.Time
	pushEncoding   string
	uploadEncoding string
	fields         bool
	deletedAt      bool
}

// helloKey names what a handshake said hello with: the server, the schema
// version, the custom information and the user.
func (s *session) helloKey() string {
	info, _ := json.Marshal(s.opts.Info) // handshake reports the error
	return strings.Join([]string{s.opts.ServerURL, s.opts.BasePath, strconv.Itoa(s.opts.SchemaVersion), string(info), s.scope}, "\x00")
}

// handshakeUnlessRecent sends a handshake unless one with the same key
// succeeded within the HandshakeInterval.
func (s *session) handshakeUnlessRecent(ctx context.Context, key string) error {
	every := s.opts.HandshakeInterval
	if every == 0 {
		every = defaultHandshakeInterval
	}
	db := s.db
	db.helloMu.Lock()
	last := db.hello
	db.helloMu.Unlock()
	if every > 0 && last.key == key && time.Since(last.at) < every {
		s.pushEncoding, s.uploadEncoding, s.fields, s.deletedAt = last.pushEncoding, last.uploadEncoding, last.fields, last.deletedAt
		if !s.ex.compress {
			// This sync's options turned compression off since.
			s.pushEncoding, s.uploadEncoding = "", ""
		}
		return nil
	}
	if err := s.handshake(ctx); err != nil {
		db.forgetHandshake()
		return err
	}
	db.helloMu.Lock()
	db.hello = hello{key: key, at: time.Now(), pushEncoding: s.pushEncoding, uploadEncoding: s.uploadEncoding, fields: s.fields,
		deletedAt: s.deletedAt}
	db.helloMu.Unlock()
	return nil
}

// firstKnown returns the first of the server's codings that this client
// writes, or "".
func firstKnown(encodings []string) string {
	for _, enc := range encodings {
		if contentenc.Known(enc) {
			return enc
		}
	}
	return ""
}

// forgetHandshake makes the next sync start with a handshake.
func (db *DB) forgetHandshake() {
	db.helloMu.Lock()
	db.hello = hello{}
	db.helloMu.Unlock()
}

// countsAttr turns counts into a compact log value.
func countsAttr(counts []TableCounts) string {
	parts := make([]string, 0, len(counts))
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s:+%d~%d-%d", c.Collection, c.Created, c.Updated, c.Deleted))
	}
	return strings.Join(parts, ",")
}

func (s *session) handshake(ctx context.Context) error {
	info, err := json.Marshal(s.opts.Info)
	if err != nil {
		return fmt.Errorf("ssync client: handshake info: %w", err)
	}
	version := s.opts.SchemaVersion
	if version == 0 {
		version = s.db.schemaVersion
	}
	body, err := json.Marshal(wire.HandshakeRequest{SchemaVersion: &version, Info: info, SchemaFingerprint: s.db.fingerprint})
	if err != nil {
		return fmt.Errorf("ssync client: handshake info: %w", err)
	}
	answer, err := s.ex.do(ctx, call{op: wire.PathHandshake, method: http.MethodPost, body: body, device: true})
	var te *TransportError
	if errors.As(err, &te) && te.StatusCode == http.StatusConflict {
		return &RefusedError{Message: te.Message}
	}
	if err != nil {
		return err
	}
	var hs wire.HandshakeResponse
	if err := json.Unmarshal(answer, &hs); err != nil {
		return &TransportError{Op: wire.PathHandshake, StatusCode: http.StatusOK, Message: "answer is not a handshake response", Err: err}
	}
	s.fields = slices.Contains(hs.Features, wire.FeatureFields)
	s.deletedAt = slices.Contains(hs.Features, wire.FeatureDeletedAt)
	s.pushEncoding, s.uploadEncoding = "", ""
	if s.ex.compress {
		s.pushEncoding = firstKnown(hs.Encodings)
		s.uploadEncoding = firstKnown(hs.UploadEncodings)
	}
	return nil
}

func checkpointKey(scope, collection string) string { return "checkpoint:" + collection + ":" + scope }

func resyncKey(scope, collection string) string { return "resync:" + collection + ":" + scope }

// addedKey is the ss_meta key of the columns (comma-separated) a migration
// added to collection whose re-pull in scope has not finished: the rows
// hold the columns' defaults, not the server's values, so a whole-row
// update leaves them out (readDirty) until finishResync.
func addedKey(scope, collection string) string { return "added:" + collection + ":" + scope }

func (db *DB) checkpoints(ctx context.Context, scope string) (map[string]string, error) {
	meta, err := readMeta(ctx, db.sql)
	if err != nil {
		return nil, fmt.Errorf("ssync client: %w", err)
	}
	cps := make(map[string]string)
	for _, name := range db.reg.Names() {
		cps[name] = meta[checkpointKey(scope, name)]
	}
	return cps, nil
}

// Checkpoint returns the server checkpoint stored for collection in the
// signed-in user's scope; empty means the device has pulled nothing yet.
func (db *DB) Checkpoint(ctx context.Context, collection string) (string, error) {
	_, scope, _, err := db.activeScope()
	if err != nil {
		return "", err
	}
	if _, err := db.reg.Lookup(collection); err != nil {
		return "", err
	}
	cps, err := db.checkpoints(ctx, scope)
	if err != nil {
		return "", err
	}
	return cps[collection], nil
}
