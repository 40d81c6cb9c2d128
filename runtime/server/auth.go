package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// ErrUnauthenticated is returned by an Authenticator when a request carries
// no valid credential; the server answers 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticator turns a request into the identity it acts for. It must take
// the identity from a verified credential, never from a field the client
// may set freely.
type Authenticator interface {
	// Authenticate returns the request's identity, or an error wrapping
	// ErrUnauthenticated.
	Authenticate(r *http.Request) (store.Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (store.Identity, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (store.Identity, error) { return f(r) }

// InsecureHeaderAuth trusts the X-Ssync-User and X-Ssync-Linked headers
// (wire.HeaderUser, wire.HeaderLinked) as they come. Anyone can claim to be
// anyone: use it only for local development and tests, never where clients
// are not fully trusted.
func InsecureHeaderAuth() Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (store.Identity, error) {
		user := strings.TrimSpace(r.Header.Get(wire.HeaderUser))
		if user == "" {
			return store.Identity{}, fmt.Errorf("%w: missing %s header", ErrUnauthenticated, wire.HeaderUser)
		}
		id := store.Identity{SyncID: user}
		if l := r.Header.Get(wire.HeaderLinked); l != "" {
			for _, s := range strings.Split(l, ",") {
				if s = strings.TrimSpace(s); s != "" {
					id.Linked = append(id.Linked, s)
				}
			}
		}
		return id, nil
	})
}
