package ssync

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
