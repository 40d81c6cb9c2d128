package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ssync-go/ssync/runtime/wire"
)

// Identity is who a request acts for: a user (syncId) and the users it is
// linked to, whose rows it may also read and write.
type Identity struct {
	// SyncID is the authenticated user.
	SyncID string
	// Linked are the users whose data SyncID may read and write too.
	Linked []string
}

// Allowed reports whether the identity may read and write rows owned by
// owner.
func (id Identity) Allowed(owner string) bool {
	if owner == id.SyncID {
		return true
	}
	for _, l := range id.Linked {
		if owner == l {
			return true
		}
	}
	return false
}

func (id Identity) owners() []string {
	out := make([]string, 0, 1+len(id.Linked))
	out = append(out, id.SyncID)
	for _, l := range id.Linked {
		if l != "" && l != id.SyncID {
			out = append(out, l)
		}
	}
	return out
}

// ErrUnauthenticated is returned by an Authenticator when a request carries
// no valid credential; the server answers 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticator turns a request into the identity it acts for. It must take
// the identity from a verified credential, never from a field the client
// may set freely.
type Authenticator interface {
	// Authenticate returns the request's identity, or an error wrapping
	// ErrUnauthenticated.
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// InsecureHeaderAuth trusts the X-Ssync-User and X-Ssync-Linked headers
// (wire.HeaderUser, wire.HeaderLinked) as they come. Anyone can claim to be
// anyone: use it only for local development and tests, never where clients
// are not fully trusted.
func InsecureHeaderAuth() Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (Identity, error) {
		user := strings.TrimSpace(r.Header.Get(wire.HeaderUser))
		if user == "" {
			return Identity{}, fmt.Errorf("%w: missing %s header", ErrUnauthenticated, wire.HeaderUser)
		}
		id := Identity{SyncID: user}
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
