package ssync

import (
	"errors"
	"fmt"
	"sort"
)

// ErrUnknownCollection is returned (wrapped) when a collection name is not in
// the registry.
var ErrUnknownCollection = errors.New("unknown collection")

// Registry is the ordered set of synchronized collections of one schema.
// ssyncgen emits a function that builds it; a Registry is immutable once built.
type Registry struct {
	ordered []Collection
	byName  map[string]Collection
}

// NewRegistry returns a registry of the given collections sorted by their
// order (parents first), with ties broken by name. It refuses an empty or
// duplicate collection name, and a column or index description that no
// database could create (an invalid kind or size, a default of the wrong
// type, an index on an unknown column).
func NewRegistry(collections ...Collection) (*Registry, error) {
	r := &Registry{byName: make(map[string]Collection, len(collections))}
	for _, c := range collections {
		name := c.CollectionName()
		if name == "" {
			return nil, errors.New("ssync: collection with an empty name")
		}
		if _, dup := r.byName[name]; dup {
			return nil, fmt.Errorf("ssync: collection %q registered twice", name)
		}
		if err := checkSchema(c); err != nil {
			return nil, fmt.Errorf("ssync: collection %q: %w", name, err)
		}
		r.byName[name] = c
		r.ordered = append(r.ordered, c)
	}
	sort.SliceStable(r.ordered, func(i, j int) bool {
		a, b := r.ordered[i], r.ordered[j]
		if a.CollectionOrder() != b.CollectionOrder() {
			return a.CollectionOrder() < b.CollectionOrder()
		}
		return a.CollectionName() < b.CollectionName()
	})
	return r, nil
}

// Collections returns the collections in order, parents first. The slice is a
// copy.
func (r *Registry) Collections() []Collection {
	return append([]Collection(nil), r.ordered...)
}

// Names returns the collection names in order, parents first.
func (r *Registry) Names() []string {
	names := make([]string, len(r.ordered))
	for i, c := range r.ordered {
		names[i] = c.CollectionName()
	}
	return names
}

// Lookup returns the collection with the given name, or an error wrapping
// [ErrUnknownCollection].
func (r *Registry) Lookup(name string) (Collection, error) {
	c, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCollection, name)
	}
	return c, nil
}

// Index returns the position of the named collection in the order, or -1.
func (r *Registry) Index(name string) int {
	for i, c := range r.ordered {
		if c.CollectionName() == name {
			return i
		}
	}
	return -1
}
