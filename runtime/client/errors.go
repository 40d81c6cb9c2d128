package client

import (
	"errors"
	"fmt"
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
type RefusedError struct {
	// Message is the server's explanation.
	Message string
}

func (e *RefusedError) Error() string { return "ssync client: refused by the server: " + e.Message }

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// TransportError is a failed exchange with the server: the request could not
// be sent, or the server answered with an error status.
type TransportError struct {
	// Op is the endpoint, e.g. "push" or "pull".
	Op string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Code is the server's machine-readable error code, when it sent one.
	Code string
	// Message is the server's error message, when it sent one.
	Message string
	// Err is the underlying error when no response arrived.
	Err error
}

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

func (e *TransportError) Unwrap() error { return e.Err }

// retryable reports whether the request may succeed when sent again.
func (e *TransportError) retryable() bool {
	switch {
	case e.StatusCode == 0:
		return true
	case e.StatusCode == 408, e.StatusCode == 429, e.StatusCode >= 500:
		return true
	}
	return false
}
