package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ssync-go/ssync/runtime/wire"
)

// Errors returned (wrapped) by the client; match them with errors.Is.
var (
	// ErrNoActiveUser is returned by data operations and Synchronize when no
	// user has been set with SetUser.
	ErrNoActiveUser = errors.New("ssync client: no active user (call SetUser first)")
	// ErrNotFound is returned when a row does not exist, is deleted, or
	// belongs to a user outside the active user's scope.
	ErrNotFound = errors.New("ssync client: row not found")
	// ErrForeignUser is returned when a row names an owner that is neither
	// the active user nor one of its linked users.
	ErrForeignUser = errors.New("ssync client: row belongs to a user outside the active scope")
	// ErrUnregisteredTable is returned by a repository whose table is not in
	// the registry the database was opened with.
	ErrUnregisteredTable = errors.New("ssync client: table not registered")
	// ErrNotInitialized is returned by the methods of a DB that was not made
	// by Open (a nil or zero DB).
	ErrNotInitialized = errors.New("ssync client: database not initialized (use client.Open)")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("ssync client: database closed")
	// ErrSyncInProgress is returned by Synchronize with NoWait while another
	// Synchronize of the same database runs.
	ErrSyncInProgress = errors.New("ssync client: a synchronization is already running")
	// ErrInTransaction is returned by Synchronize called with the context
	// of an open Transaction: it would deadlock or sync half a change.
	ErrInTransaction = errors.New("ssync client: Synchronize called inside a transaction")
	// ErrRefused is wrapped by RefusedError.
	ErrRefused = errors.New("ssync client: refused by the server")
)

// RefusedError is the server's refusal of this client at the handshake
// (e.g. an outdated schema version), with the message to show the user.
// It matches ErrRefused and ErrHandshakeRefused.
type RefusedError struct {
	// Message is the server's explanation.
	Message string
}

// Error returns the server's message.
func (e *RefusedError) Error() string { return "ssync client: refused by the server: " + e.Message }

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Is makes errors.Is(err, ErrHandshakeRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrHandshakeRefused }

// TransportError is a failed exchange with the server: the request could not
// be sent, or the server answered with an error status. Match the server's
// error code with errors.Is and the sentinel of that code:
//
//	if errors.Is(err, client.ErrForbidden) { ... }
type TransportError struct {
	// Op is the endpoint, e.g. "push" or "pull".
	Op string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Code is the server's machine-readable error code, when it sent one.
	Code wire.Code
	// Message is the server's error message, when it sent one.
	Message string
	// RetryAfter is how long the server asked the client to wait (its
	// Retry-After on a 429 or 503), when it did.
	RetryAfter time.Duration
	// Err is the underlying error when no response arrived.
	Err error
}

// Error names the operation, the status and code, and the server's message.
func (e *TransportError) Error() string {
	switch {
	case e.StatusCode == 0:
		return fmt.Sprintf("ssync client: %s: %v", e.Op, e.Err)
	case e.Message != "":
		return fmt.Sprintf("ssync client: %s: server answered %d %s: %s", e.Op, e.StatusCode, e.Code, e.Message)
	default:
		return fmt.Sprintf("ssync client: %s: server answered %d", e.Op, e.StatusCode)
	}
}

// Unwrap returns the failure that kept an answer from arriving, if any.
func (e *TransportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrForbidden) (and every other sentinel of a
// server error code) hold when the server answered that code.
func (e *TransportError) Is(target error) bool {
	c, ok := target.(*codeError)
	return ok && e.Code != "" && c.code == e.Code
}

// retryable reports whether the request may succeed when sent again: no
// answer arrived, or the server answered 408, 429 or a 5xx other than 501
// (it does not implement what was asked).
func (e *TransportError) retryable() bool {
	switch {
	case e.StatusCode == 0:
		return true
	case e.StatusCode == http.StatusNotImplemented:
		return false
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
		return true
	}
	return false
}

// codeError is the sentinel of one server error code.
type codeError struct{ code wire.Code }

func (e *codeError) Error() string { return "ssync client: server error " + string(e.code) }

// sentinels maps each code to its sentinel.
var sentinels = map[wire.Code]error{}

func codeErr(c wire.Code) error {
	e := &codeError{code: c}
	sentinels[c] = e
	return e
}

// The server's error codes (wire.Code) as errors: a *TransportError that
// carries a code matches its sentinel with errors.Is. docs/protocol.md says
// when the server answers each.
var (
	// ErrInvalidChangeSet: a pushed change set is malformed (the message names the collection, row and field).
	ErrInvalidChangeSet = codeErr(wire.CodeInvalidChangeSet)
	// ErrUnknownCollection: a collection the server does not have.
	ErrUnknownCollection = codeErr(wire.CodeUnknownCollection)
	// ErrCollectionNotListed: a pushed change set of a collection the request did not list.
	ErrCollectionNotListed = codeErr(wire.CodeCollectionNotListed)
	// ErrInvalidCheckpoint: a checkpoint the server did not produce.
	ErrInvalidCheckpoint = codeErr(wire.CodeInvalidCheckpoint)
	// ErrInvalidBatch: a pull-stream batch size that is not a positive number.
	ErrInvalidBatch = codeErr(wire.CodeInvalidBatch)
	// ErrInvalidHandshake: a malformed handshake body.
	ErrInvalidHandshake = codeErr(wire.CodeInvalidHandshake)
	// ErrInvalidParameters: custom pull parameters the server could not decode.
	ErrInvalidParameters = codeErr(wire.CodeInvalidParameters)
	// ErrInvalidIdempotencyKey: an Idempotency-Key that is too long.
	ErrInvalidIdempotencyKey = codeErr(wire.CodeInvalidIdempotencyKey)
	// ErrUnreadableBody: a request body that ended early or could not be read.
	ErrUnreadableBody = codeErr(wire.CodeUnreadableBody)
	// ErrInvalidHash: an attachment hash that is not 64 lowercase hex digits.
	ErrInvalidHash = codeErr(wire.CodeInvalidHash)
	// ErrInvalidUpload: malformed upload headers (Upload-Offset, Upload-Length).
	ErrInvalidUpload = codeErr(wire.CodeInvalidUpload)
	// ErrUnauthenticated: the server took no credentials from the request
	// (see SyncOptions.Decorate).
	ErrUnauthenticated = codeErr(wire.CodeUnauthenticated)
	// ErrForbidden: a pushed row belongs to a user the signed-in user may
	// not write for.
	ErrForbidden = codeErr(wire.CodeForbidden)
	// ErrBlobNotFound: the server has no such attachment content for this
	// user (downloads fail with ErrAttachmentUnavailable, which wraps it).
	ErrBlobNotFound = codeErr(wire.CodeBlobNotFound)
	// ErrNoEndpoint: the request reached no endpoint of the API (a wrong
	// ServerURL or base path, or an older server).
	ErrNoEndpoint = codeErr(wire.CodeNotFound)
	// ErrMethodNotAllowed: the endpoint does not take the request's method
	// (an older or newer server).
	ErrMethodNotAllowed = codeErr(wire.CodeMethodNotAllowed)
	// ErrHandshakeRefused: the server refused this client (a *RefusedError,
	// which also matches ErrRefused).
	ErrHandshakeRefused = codeErr(wire.CodeHandshakeRefused)
	// ErrConflict: the server's conflict resolver refused a pushed change.
	ErrConflict = codeErr(wire.CodeConflict)
	// ErrUploadOffsetMismatch: an upload resumed at the wrong offset.
	ErrUploadOffsetMismatch = codeErr(wire.CodeUploadOffsetMismatch)
	// ErrResyncRequired: the checkpoint is older than the deletions the server keeps (Synchronize resyncs by itself).
	ErrResyncRequired = codeErr(wire.CodeResyncRequired)
	// ErrBodyTooLarge: a request body larger than the server accepts.
	ErrBodyTooLarge = codeErr(wire.CodeBodyTooLarge)
	// ErrTooManyRows: a push with more rows than the server accepts (lower PushBatchRows).
	ErrTooManyRows = codeErr(wire.CodeTooManyRows)
	// ErrBlobTooLarge: an attachment larger than the server accepts.
	ErrBlobTooLarge = codeErr(wire.CodeBlobTooLarge)
	// ErrBlobQuotaExceeded: an upload that would take the user's uploads over
	// the bytes the server keeps for one user.
	ErrBlobQuotaExceeded = codeErr(wire.CodeBlobQuotaExceeded)
	// ErrTooManyUploads: the user has as many incomplete uploads as the
	// server keeps (they expire after a while; Synchronize does not wait).
	ErrTooManyUploads = codeErr(wire.CodeTooManyUploads)
	// ErrUnsupportedEncoding: a compressed request body the server does not
	// take (Synchronize then sends it as it is).
	ErrUnsupportedEncoding = codeErr(wire.CodeUnsupportedEncoding)
	// ErrIdempotencyKeyReused: an Idempotency-Key reused with another body.
	ErrIdempotencyKeyReused = codeErr(wire.CodeIdempotencyKeyReused)
	// ErrTooManyRequests: the user had as many requests in progress as the
	// server serves at once (Synchronize waits out its Retry-After).
	ErrTooManyRequests = codeErr(wire.CodeTooManyRequests)
	// ErrRowRefused: a server hook or the store refused a pushed row.
	ErrRowRefused = codeErr(wire.CodeRowRefused)
	// ErrDanglingReference: a pushed row references a row the server does not have.
	ErrDanglingReference = codeErr(wire.CodeDanglingReference)
	// ErrBlobMismatch: uploaded content that does not match its hash.
	ErrBlobMismatch = codeErr(wire.CodeBlobMismatch)
	// ErrInternal: the server failed (retried by Synchronize).
	ErrInternal = codeErr(wire.CodeInternal)
	// ErrStoreUnavailable: the server's store is unreachable (retried by Synchronize).
	ErrStoreUnavailable = codeErr(wire.CodeStoreUnavailable)
	// ErrBlobsUnsupported: the server keeps no attachment content.
	ErrBlobsUnsupported = codeErr(wire.CodeBlobsUnsupported)
)
