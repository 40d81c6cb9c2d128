package store

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
