package ssync

import "fmt"

// TableOf returns the registered collection name as a *Table[T], or an error
// when it is not registered or holds another model type.
func TableOf[T any](r *Registry, name string) (*Table[T], error) {
	c, err := r.Lookup(name)
	if err != nil {
		return nil, err
	}
	t, ok := c.(*Table[T])
	if !ok {
		var zero T
		return nil, fmt.Errorf("ssync: collection %q holds %T rows, not %T", name, c.NewRow(), &zero)
	}
	return t, nil
}
