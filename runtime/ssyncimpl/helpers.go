package ssyncimpl

import "github.com/ssync-go/ssync/runtime/ssync"

// PtrValue returns p as a SQL argument: nil (NULL) when p is nil, p
// otherwise. Generated binders pass pointers to types stored as JSON text
// through it, so that database/sql never calls a pointer-receiver Value
// method on a nil pointer.
func PtrValue[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

// MustRegistry is like ssync.NewRegistry but panics on error. Generated
// Registry functions use it: ssyncgen has already checked what NewRegistry
// checks.
func MustRegistry(collections ...ssync.Collection) *ssync.Registry {
	r, err := ssync.NewRegistry(collections...)
	if err != nil {
		panic(err)
	}
	return r
}
