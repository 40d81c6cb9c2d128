package wire

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
)

// This file is the HTTP side of the protocol that docs/protocol.md
// describes: where the endpoints are, the headers and parameters they read,
// and the JSON of the answers that are not change sets. The server
// (runtime/server) and the client (runtime/client) both use these names;
// a change to the protocol starts here and in the document.

// DefaultBasePath is where a server mounts the sync API, and where a client
// looks for it, unless told otherwise.
const DefaultBasePath = "/api/sync"

// The endpoints, under the base path.
const (
	// PathHandshake takes a POST of a HandshakeRequest.
	PathHandshake = "handshake"
	// PathPull answers a GET with the change-set array.
	PathPull = "pull"
	// PathPullStream answers a GET with change sets as NDJSON, one line per
	// batch, ending with a StreamEnd line.
	PathPullStream = "pull-stream"
	// PathPush takes a POST of a change-set array and answers a checkpoint,
	// or a PushResult with ParamResult=ResultFull.
	PathPush = "push"
	// PathBlobs is the folder of attachment content: GET, HEAD and PUT
	// PathBlobs + "/" + hash.
	PathBlobs = "blobs"
	// PathEvents answers a GET with a Server-Sent Events stream
	// (text/event-stream) that announces, with an EventChanged event,
	// each push that changed rows of the user or of a linked user past
	// the checkpoint in ParamSince.
	PathEvents = "events"
)

// The events of a PathEvents stream.
const (
	// EventChanged says that rows in the device's scope changed: its data
	// is an EventData with the newest checkpoint. A device that pulls
	// from its own checkpoint gets them.
	EventChanged = "changed"
	// ContentTypeEvents is the media type of a PathEvents stream.
	ContentTypeEvents = "text/event-stream"
	// ParamSince is the checkpoint a PathEvents stream announces changes
	// past: the oldest checkpoint the device holds for the collections it
	// syncs. Empty means from the start.
	ParamSince = "since"
)

// EventData is the data of an EventChanged event.
type EventData struct {
	// Checkpoint is the checkpoint of the newest push announced.
	Checkpoint string `json:"checkpoint"`
	// Own is true when every push announced since the event before was
	// made by the device that opened the stream (the same user and
	// HeaderDevice): a device that pulled after its own pushes has nothing
	// new to pull. Absent (false) otherwise, and for a stream opened
	// without a device id. Device ids are compared by the server, never
	// sent.
	Own bool `json:"own,omitempty"`
}

// The query parameters.
const (
	// ParamCollections lists the collections of a pull or a push: repeated,
	// or names separated by commas.
	ParamCollections = "collections"
	// ParamCheckpoint is the checkpoint a pull starts from, or that a push
	// assumes for change sets without one. It is named "timestamp" on the
	// wire, as in SSync, though it is never a clock.
	ParamCheckpoint = "timestamp"
	// ParamBatch is the rows per line a streamed pull asks for.
	ParamBatch = "batch"
	// ParamResult set to ResultFull makes a push answer a PushResult
	// instead of the bare checkpoint.
	ParamResult = "result"
	// ResultFull is the value of ParamResult that asks for a PushResult.
	ResultFull = "full"
)

// The headers.
const (
	// HeaderDevice carries the requesting device's id (at most
	// MaxDeviceID characters). It only decides which rows a pull leaves
	// out because that device has them already.
	HeaderDevice = "X-Ssync-Device"
	// HeaderUser carries the sync id under the development-only header
	// authentication (server.InsecureHeaderAuth).
	HeaderUser = "X-Ssync-User"
	// HeaderLinked carries comma-separated linked sync ids under the
	// development-only header authentication.
	HeaderLinked = "X-Ssync-Linked"
	// HeaderIdempotencyKey makes a push safe to retry (at most
	// MaxIdempotencyKey characters).
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on the answer to a push that
	// repeated a key: the recorded answer, nothing applied.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// HeaderMore is "true" on a pull answer that the server ended early at
	// its caps: pull again, from each change set's timestamp, for the
	// rest.
	HeaderMore = "X-Ssync-More"
	// HeaderUploadOffset is where a blob PUT appends, and the bytes the
	// server holds in answers (HEAD, an incomplete PUT, a refused offset).
	HeaderUploadOffset = "Upload-Offset"
	// HeaderUploadLength is the whole content's size, sent with every blob
	// PUT.
	HeaderUploadLength = "Upload-Length"
)

// Limits on header values.
const (
	// MaxDeviceID is the longest device id a server takes; a longer one
	// counts as none.
	MaxDeviceID = 64
	// MaxIdempotencyKey is the longest idempotency key a server takes.
	MaxIdempotencyKey = 255
)

// The content types.
const (
	ContentTypeJSON   = "application/json"
	ContentTypeNDJSON = "application/x-ndjson"
	ContentTypeBlob   = "application/octet-stream"
)

// Code is the machine-readable code of an error answer. docs/protocol.md
// lists when each is answered.
type Code string

// The error codes, with the status each is answered with.
const (
	// 400: the request is malformed.
	CodeInvalidChangeSet      Code = "invalid_change_set"
	CodeUnknownCollection     Code = "unknown_collection"
	CodeCollectionNotListed   Code = "collection_not_listed"
	CodeInvalidCheckpoint     Code = "invalid_checkpoint"
	CodeInvalidBatch          Code = "invalid_batch"
	CodeInvalidHandshake      Code = "invalid_handshake"
	CodeInvalidParameters     Code = "invalid_parameters"
	CodeInvalidIdempotencyKey Code = "invalid_idempotency_key"
	CodeUnreadableBody        Code = "unreadable_body"
	CodeInvalidHash           Code = "invalid_hash"
	CodeInvalidUpload         Code = "invalid_upload"
	// 401: no or invalid credentials.
	CodeUnauthenticated Code = "unauthenticated"
	// 403: a pushed row belongs to a user the caller may not write for.
	CodeForbidden Code = "forbidden"
	// 404: no such attachment content for this user, or no such endpoint.
	CodeBlobNotFound Code = "blob_not_found"
	CodeNotFound     Code = "not_found"
	// 405: the endpoint exists but not with this method (Allow lists
	// those it takes).
	CodeMethodNotAllowed Code = "method_not_allowed"
	// 409: the server refuses the client, its resolver refused a
	// conflicting change, or an upload resumes at the wrong offset.
	CodeHandshakeRefused     Code = "handshake_refused"
	CodeConflict             Code = "conflict"
	CodeUploadOffsetMismatch Code = "upload_offset_mismatch"
	// 410: the checkpoint is older than the deletions the server keeps.
	CodeResyncRequired Code = "resync_required"
	// 413: the push or the attachment is larger than the server accepts,
	// or the user's uploads would pass their quota.
	CodeBodyTooLarge Code = "body_too_large"
	CodeTooManyRows  Code = "too_many_rows"
	CodeBlobTooLarge Code = "blob_too_large"
	// CodeBlobQuotaExceeded: the upload would take the user's uploads over
	// the bytes the server keeps for one user.
	CodeBlobQuotaExceeded Code = "blob_quota_exceeded"
	// 415: the request body's Content-Encoding is not one the server
	// takes (see HandshakeResponse.Encodings).
	CodeUnsupportedEncoding Code = "unsupported_encoding"
	// 429: the user has as many requests in progress as the server
	// serves at once; Retry-After says when to try again.
	CodeTooManyRequests Code = "too_many_requests"
	// CodeTooManyUploads: the user has as many incomplete uploads as the
	// server keeps for one user; Retry-After says when the oldest expires.
	CodeTooManyUploads Code = "too_many_uploads"
	// 422: the request is well formed but refused.
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
	CodeRowRefused           Code = "row_refused"
	CodeDanglingReference    Code = "dangling_reference"
	CodeBlobMismatch         Code = "blob_mismatch"
	// 500 and 503: retry later.
	CodeInternal         Code = "internal"
	CodeStoreUnavailable Code = "store_unavailable"
	// 501: the server keeps no attachment content.
	CodeBlobsUnsupported Code = "blobs_unsupported"
)

var codeStatus = map[Code]int{
	CodeInvalidChangeSet:      http.StatusBadRequest,
	CodeUnknownCollection:     http.StatusBadRequest,
	CodeCollectionNotListed:   http.StatusBadRequest,
	CodeInvalidCheckpoint:     http.StatusBadRequest,
	CodeInvalidBatch:          http.StatusBadRequest,
	CodeInvalidHandshake:      http.StatusBadRequest,
	CodeInvalidParameters:     http.StatusBadRequest,
	CodeInvalidIdempotencyKey: http.StatusBadRequest,
	CodeUnreadableBody:        http.StatusBadRequest,
	CodeInvalidHash:           http.StatusBadRequest,
	CodeInvalidUpload:         http.StatusBadRequest,
	CodeUnauthenticated:       http.StatusUnauthorized,
	CodeForbidden:             http.StatusForbidden,
	CodeBlobNotFound:          http.StatusNotFound,
	CodeNotFound:              http.StatusNotFound,
	CodeMethodNotAllowed:      http.StatusMethodNotAllowed,
	CodeHandshakeRefused:      http.StatusConflict,
	CodeConflict:              http.StatusConflict,
	CodeUploadOffsetMismatch:  http.StatusConflict,
	CodeResyncRequired:        http.StatusGone,
	CodeBodyTooLarge:          http.StatusRequestEntityTooLarge,
	CodeTooManyRows:           http.StatusRequestEntityTooLarge,
	CodeBlobTooLarge:          http.StatusRequestEntityTooLarge,
	CodeBlobQuotaExceeded:     http.StatusRequestEntityTooLarge,
	CodeUnsupportedEncoding:   http.StatusUnsupportedMediaType,
	CodeIdempotencyKeyReused:  http.StatusUnprocessableEntity,
	CodeTooManyRequests:       http.StatusTooManyRequests,
	CodeTooManyUploads:        http.StatusTooManyRequests,
	CodeRowRefused:            http.StatusUnprocessableEntity,
	CodeDanglingReference:     http.StatusUnprocessableEntity,
	CodeBlobMismatch:          http.StatusUnprocessableEntity,
	CodeInternal:              http.StatusInternalServerError,
	CodeStoreUnavailable:      http.StatusServiceUnavailable,
	CodeBlobsUnsupported:      http.StatusNotImplemented,
}

// Status is the HTTP status a server answers code with, or 0 for a code
// this version of the protocol does not define.
func (c Code) Status() int { return codeStatus[c] }

// Codes returns every code the protocol defines.
func Codes() []Code {
	out := make([]Code, 0, len(codeStatus))
	for c := range codeStatus {
		out = append(out, c)
	}
	return out
}

// Error is what an error answer says: its code and a message for people,
// which names the collection, row and field at fault when there is one.
type Error struct {
	// Code says what went wrong, for programs; it gives the status.
	Code Code `json:"code"`
	// Message says it for people.
	Message string `json:"message"`
}

// ErrorBody is the JSON of every error answer,
// {"error": {"code": "...", "message": "..."}}. A streamed pull that fails
// after its first line ends with one as its last line.
type ErrorBody struct {
	// Error is the error answered.
	Error *Error `json:"error"`
}

// EncodeErrorBody returns the error answer for code and message.
func EncodeErrorBody(code Code, message string) []byte {
	body, _ := json.Marshal(ErrorBody{Error: &Error{Code: code, Message: message}})
	return body
}

// DecodeErrorBody reads an error answer; ok is false when data is not one.
func DecodeErrorBody(data []byte) (e Error, ok bool) {
	var b ErrorBody
	if json.Unmarshal(data, &b) != nil || b.Error == nil {
		return Error{}, false
	}
	return *b.Error, true
}

// HandshakeRequest is the body of a handshake.
type HandshakeRequest struct {
	// SchemaVersion is the client's schema version; required.
	SchemaVersion *int `json:"schemaVersion"`
	// Info is custom information for the server's handshake hook.
	Info json.RawMessage `json:"info,omitempty"`
	// SchemaFingerprint identifies the client's schema description
	// (ssync.Registry.Fingerprint); optional.
	SchemaFingerprint string `json:"schemaFingerprint,omitempty"`
}

// HandshakeResponse is the answer to a handshake.
type HandshakeResponse struct {
	// SchemaVersion is the schema version the server speaks.
	SchemaVersion int `json:"schemaVersion"`
	// Collections are the server's collections, in the order to apply
	// them (parents first).
	Collections []string `json:"collections"`
	// Checkpoint is the server's current checkpoint.
	Checkpoint string `json:"checkpoint"`
	// Encodings lists the content codings ("zstd", "gzip") the server
	// takes on request bodies, preferred first: a client may send a push
	// with Content-Encoding set to one of them. Empty: send bodies as they
	// are.
	Encodings []string `json:"encodings,omitempty"`
	// UploadEncodings lists the content codings the server takes on
	// attachment uploads (PUT {base}/blobs/{hash}), preferred first: the
	// body is then the coded content from Upload-Offset, and offsets and
	// Upload-Length still count the content's own bytes. Empty: send
	// content as it is (servers from before compressed uploads).
	UploadEncodings []string `json:"uploadEncodings,omitempty"`
	// Features lists the protocol extensions the server understands
	// (FeatureFields, FeatureDeletedAt). A client uses an extension only when the server
	// announces it.
	Features []string `json:"features,omitempty"`
}

// FeatureFields is the handshake feature of servers that take field
// pushes: updated rows that carry only their changed fields, with the
// change set's "base" object (ChangeSet.Fields).
const FeatureFields = "fields"

// FeatureDeletedAt is the handshake feature of servers that take the
// "deletedAt" object of a change set's changes (ChangeSet.DeletedAt): a
// client sends it only to such a server, since older servers refuse the
// key. Pull answers carry it whatever the client.
const FeatureDeletedAt = "deletedAt"

// StreamEnd is the last line of a streamed pull: {"done": true,
// "timestamp": "<checkpoint>"} once every line was sent, or an ErrorBody
// when the stream failed after its first line. A stream without it is
// incomplete.
type StreamEnd struct {
	// Done is true on the line that ends a complete stream.
	Done bool `json:"done"`
	// Checkpoint is where the device is once it applied every line.
	Checkpoint string `json:"timestamp"`
	// Error is set on the line that ends a failed stream.
	Error *Error `json:"error,omitempty"`
}

// The reasons a push reports a change as not applied.
const (
	// ReasonDeleted: the row is deleted on the server; a delete wins over
	// later edits.
	ReasonDeleted = "deleted"
	// ReasonConflict: the server's resolver kept the server's row.
	ReasonConflict = "conflict"
	// ReasonParentDeleted: a row the pushed row references (ref=) is
	// deleted on the server, so the row is deleted too (ondelete=cascade)
	// or, refused (ondelete=restrict), kept as the server has it (a new
	// row: deleted).
	ReasonParentDeleted = "parent_deleted"
	// ReasonReferenceCleared: a row the pushed row references is deleted
	// on the server, so the row was written with that reference cleared
	// (ondelete=setnull).
	ReasonReferenceCleared = "reference_cleared"
	// ReasonRestricted: a pushed delete was refused because live rows
	// reference the row (ondelete=restrict); the row stays.
	ReasonRestricted = "restricted"
)

// IgnoredRow is a pushed change the server did not apply, and why. The
// server's version of the row reaches the device on its next pull.
type IgnoredRow struct {
	// Collection and ID name the row.
	Collection string    `json:"collection"`
	ID         uuid.UUID `json:"id"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
	// Message says more, when there is more to say.
	Message string `json:"message,omitempty"`
}

// MergedRow is a row a field push merged with the server's row.
type MergedRow struct {
	// Collection and ID name the row.
	Collection string    `json:"collection"`
	ID         uuid.UUID `json:"id"`
	// Overwritten are the wire names of the pushed fields whose value
	// another device had changed since the pusher's base: the pushed value
	// replaced it (last writer wins). Omitted when none.
	Overwritten []string `json:"overwritten,omitempty"`
}

// PushResult is what a push did: the answer to a push with
// ParamResult=ResultFull (a plain push answers Checkpoint alone, as a JSON
// string).
type PushResult struct {
	// Checkpoint is where the push committed (or the current checkpoint
	// when it changed nothing).
	Checkpoint string `json:"checkpoint"`
	// Ignored lists the changes not applied.
	Ignored []IgnoredRow `json:"ignored"`
	// Merged lists the field-pushed rows the server merged with changes
	// of other devices the pusher had not seen (it pulls the merged row
	// next), and the pushed fields that replaced another device's
	// concurrent change of the same field. Omitted when empty.
	Merged []MergedRow `json:"merged,omitempty"`
	// Replayed is true when the push repeated an idempotency key and the
	// recorded answer was returned without applying anything. It travels
	// as HeaderIdempotentReplayed, not in the body.
	Replayed bool `json:"-"`
}
