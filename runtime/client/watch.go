package client

import (
	"context"
	"iter"
	"maps"
	"slices"
	"sync"
)

// Origin says where a committed change to local tables came from.
type Origin uint8

// The origins of a Change; a coalesced Change may have both.
const (
	// OriginLocal is a write through a repository (or a Transaction of
	// them) on this device.
	OriginLocal Origin = 1 << iota
	// OriginPull is rows a sync applied: pulled changes, a full pull's
	// clean-up.
	OriginPull
)

// Change tells that tables changed: one or more commits, coalesced while
// the subscriber was busy.
type Change struct {
	// Tables are the tables changed, sorted.
	Tables []string
	// Origin is where the changes came from (OriginLocal, OriginPull, or
	// both).
	Origin Origin
}

// Subscription receives the changes committed to some tables (Subscribe).
type Subscription struct {
	db     *DB
	tables map[string]bool // nil: every table
	ready  chan struct{}   // holds a token while pending is not empty
	mu     sync.Mutex
	// pending are the changes committed since the subscriber last took
	// them.
	pending map[string]bool
	origin  Origin
}

// Subscribe returns a subscription to the changes committed to tables (all
// synchronized tables when none is named), from local writes and from
// applied pulls. Commits are announced after they commit, once per commit
// (a Transaction is one), and coalesced while the subscriber does not
// read: a slow reader gets one Change naming every table changed
// meanwhile, never a backlog. Close the subscription when done.
func (db *DB) Subscribe(tables ...string) *Subscription {
	s := &Subscription{db: db, ready: make(chan struct{}, 1)}
	if len(tables) > 0 {
		s.tables = map[string]bool{}
		for _, t := range tables {
			s.tables[t] = true
		}
	}
	db.watch.mu.Lock()
	if db.watch.subs == nil {
		db.watch.subs = map[*Subscription]bool{}
	}
	db.watch.subs[s] = true
	db.watch.mu.Unlock()
	return s
}

// Ready receives a value when changes are waiting; Take them then.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the changes committed since the last Take, and false when
// there are none.
func (s *Subscription) Take() (Change, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return Change{}, false
	}
	c := Change{Tables: slices.Sorted(maps.Keys(s.pending)), Origin: s.origin}
	s.pending, s.origin = nil, 0
	return c, true
}

// Next waits for changes and returns them, or ctx's error.
func (s *Subscription) Next(ctx context.Context) (Change, error) {
	for {
		if c, ok := s.Take(); ok {
			return c, nil
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return Change{}, ctx.Err()
		}
	}
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.db.watch.mu.Lock()
	delete(s.db.watch.subs, s)
	s.db.watch.mu.Unlock()
}

// Changes returns the changes committed to tables (every synchronized
// table when none is named) as an iterator, until ctx ends or the loop
// stops:
//
//	for c := range db.Changes(ctx, "ss_tb_note") {
//		refresh(c.Tables)
//	}
func (db *DB) Changes(ctx context.Context, tables ...string) iter.Seq[Change] {
	return func(yield func(Change) bool) {
		s := db.Subscribe(tables...)
		defer s.Close()
		for {
			c, err := s.Next(ctx)
			if err != nil || !yield(c) {
				return
			}
		}
	}
}

// Watch returns the result of a Select with opts now and again after every
// committed change to the repository's table (local writes and applied
// pulls, coalesced), until ctx ends or the loop stops. An error ends the
// sequence after it is yielded.
//
//	for notes, err := range db.Notes().Watch(ctx, client.OrderBy(...)) { ... }
func (r *Repo[T]) Watch(ctx context.Context, opts ...SelectOption) iter.Seq2[[]*T, error] {
	return func(yield func([]*T, error) bool) {
		s := r.db.Subscribe(r.table.Name)
		defer s.Close()
		for {
			rows, err := r.Select(ctx, opts...)
			if !yield(rows, err) || err != nil {
				return
			}
			if _, err := s.Next(ctx); err != nil {
				return
			}
		}
	}
}

// watchers are a database's subscriptions.
type watchers struct {
	mu   sync.Mutex
	subs map[*Subscription]bool
}

// changed announces a commit that changed tables.
func (db *DB) changed(origin Origin, tables ...string) {
	if len(tables) == 0 {
		return
	}
	db.watch.mu.Lock()
	defer db.watch.mu.Unlock()
	for s := range db.watch.subs {
		s.add(origin, tables)
	}
}

// add records a commit for the subscriber.
func (s *Subscription) add(origin Origin, tables []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hit := false
	for _, t := range tables {
		if s.tables == nil || s.tables[t] {
			if s.pending == nil {
				s.pending = map[string]bool{}
			}
			s.pending[t] = true
			hit = true
		}
	}
	if !hit {
		return
	}
	s.origin |= origin
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// touchedKey marks a context inside a Transaction: the tables its writes
// change, announced when it commits.
type touchedKey struct{ db *DB }

// touched are the tables a Transaction wrote.
type touched struct {
	tables []string
	// missing are references to rows the transaction had not written
	// yet when it wrote them (a reference cycle written in one
	// Transaction): checked again before it commits.
	missing []missingRef
}

// wrote records a local write to table: announced now, or, inside a
// Transaction, when it commits.
func (db *DB) wrote(ctx context.Context, table string) {
	if t, ok := ctx.Value(touchedKey{db}).(*touched); ok {
		if !slices.Contains(t.tables, table) {
			t.tables = append(t.tables, table)
		}
		return
	}
	db.changed(OriginLocal, table)
}
