package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultWatchInterval is how often a store with watchers reads
// ss_activity for pushes other server instances committed, unless
// WithWatchInterval says otherwise. Pushes through the store itself are
// seen at once.
const DefaultWatchInterval = 50 * time.Millisecond

// ErrListenUnsupported is wrapped by a Dialect.Listen that cannot listen
// on this database handle (its driver has no notifications): the store
// then learns of other instances' pushes by polling alone.
var ErrListenUnsupported = errors.New("the database driver cannot listen for notifications")

// WithWatchInterval sets how often a store with watchers (Watch) looks for
// pushes committed by other server instances over the same database (one
// small indexed query per interval, whatever the number of watchers; none
// while nobody watches). Pushes through this store are announced as they
// commit.
func WithWatchInterval(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return errors.New("WithWatchInterval: interval must be positive")
		}
		s.feed.interval = d
		return nil
	}
}

// Announcement is what Watch sends: pushes changed rows in the watcher's
// scope up to a checkpoint.
type Announcement struct {
	// Checkpoint is the checkpoint of the newest push announced.
	Checkpoint Checkpoint
	// Own is true when every push announced (since the announcement
	// before) was made by the watching device: a device that pulled after
	// its own pushes has nothing new to pull. Announcements replaced
	// before they were read are folded in: Own only if all were.
	Own bool
}

// Watch announces the pushes that change rows of the users of id (the user
// and the users it is linked to) past checkpoint since: it sends the
// checkpoint of the newest such push on the returned channel, at once when
// one committed already, and then as pushes commit, on this store or on
// any store over the same database. Announcements are coalesced: a
// watcher that reads slowly gets the newest checkpoint, never a backlog.
// The channel is closed when ctx ends. A watcher learns nothing of other
// users' pushes. device is the watching device (PushRequest.Device): an
// announcement of pushes all made by that device of id's user says so
// (Announcement.Own); "" never does.
//
// One goroutine per store serves every watcher, while there is one.
func (s *Store) Watch(ctx context.Context, id Identity, since Checkpoint, device string) (<-chan Announcement, error) {
	w := &watcher{users: id.owners(), since: since.Version, writer: activityWriter(id.SyncID, device), ch: make(chan Announcement, 1)}
	if err := s.feed.add(ctx, s, w); err != nil {
		return nil, fmt.Errorf("ssync store: watch: %w", err)
	}
	// Registered before looking: a push the feed has not read yet is
	// announced by it; one it has read committed before this look.
	v, own, err := s.lastActivity(ctx, w)
	if err != nil {
		s.feed.remove(w)
		return nil, fmt.Errorf("ssync store: watch: %w", err)
	}
	s.feed.announce(w, v, own)
	go func() {
		<-ctx.Done()
		s.feed.remove(w)
	}()
	return w.ch, nil
}

// lastActivity returns the newest version recorded for any of w's users,
// and whether w made every push recorded past its checkpoint.
func (s *Store) lastActivity(ctx context.Context, w *watcher) (uint64, bool, error) {
	marks := make([]string, len(w.users))
	args := make([]any, len(w.users))
	for i, u := range w.users {
		marks[i], args[i] = s.dialect.Placeholder(i+1), u
	}
	rows, err := s.db.QueryContext(ctx, "SELECT version, writer, other FROM ss_activity WHERE sync_id IN ("+strings.Join(marks, ", ")+")", args...)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	var last uint64
	own := true
	for rows.Next() {
		var a activity
		if err := rows.Scan(&a.version, &a.writer, &a.other); err != nil {
			return 0, false, err
		}
		if uint64(a.version) > w.since {
			last = max(last, uint64(a.version))
			own = own && w.owns(a)
		}
	}
	return last, own, rows.Err()
}

// activity is a row of ss_activity.
type activity struct {
	version, other int64
	writer         string
}

// watcher is one Watch.
type watcher struct {
	users  []string
	since  uint64 // the newest version announced (or the watcher's checkpoint)
	writer string // the watching device's activityWriter
	ch     chan Announcement
	closed bool
}

// owns reports whether the pushes a's row records past w's checkpoint
// were all w's own: its writer is w's device, and no other writer's push
// came after the checkpoint.
func (w *watcher) owns(a activity) bool {
	return w.writer != "" && a.writer == w.writer && uint64(a.other) <= w.since
}

// feed reads ss_activity for the store's watchers.
type feed struct {
	interval time.Duration
	start    sync.Mutex // held while the feed's goroutine starts
	mu       sync.Mutex
	byUser   map[string]map[*watcher]bool
	n        int
	running  bool
	wake     chan struct{}
}

// poke tells the feed that a push committed on this store.
func (f *feed) poke() {
	f.mu.Lock()
	running := f.running
	f.mu.Unlock()
	if !running {
		return
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// add registers w, starting the feed's goroutine for the first watcher
// with a cursor proven complete before w is registered.
func (f *feed) add(ctx context.Context, s *Store, w *watcher) error {
	f.start.Lock()
	defer f.start.Unlock()
	f.mu.Lock()
	if f.running {
		f.register(w)
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()
	from, err := s.provenNow(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byUser == nil {
		f.byUser = map[string]map[*watcher]bool{}
		f.wake = make(chan struct{}, 1)
	}
	f.register(w)
	f.running = true
	go f.run(s, from)
	return nil
}

// register adds w to the watchers (f.mu held).
func (f *feed) register(w *watcher) {
	for _, u := range w.users {
		if f.byUser[u] == nil {
			f.byUser[u] = map[*watcher]bool{}
		}
		f.byUser[u][w] = true
	}
	f.n++
}

// provenNow returns the version up to which every push has committed and
// is visible (the horizon a pull from scratch would use).
func (s *Store) provenNow(ctx context.Context) (uint64, error) {
	tx, err := s.db.BeginTx(ctx, s.dialect.PullTx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	return s.horizon(ctx, tx, 0)
}

// remove unregisters w and closes its channel.
func (f *feed) remove(w *watcher) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.closed {
		return
	}
	for _, u := range w.users {
		delete(f.byUser[u], w)
		if len(f.byUser[u]) == 0 {
			delete(f.byUser, u)
		}
	}
	f.n--
	w.closed = true
	close(w.ch)
}

// announce sends w version v unless it had it already.
func (f *feed) announce(w *watcher, v uint64, own bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.send(w, v, own)
}

// send offers v to w (f.mu held), replacing an announcement not read yet
// (own only if that one was too).
func (f *feed) send(w *watcher, v uint64, own bool) {
	if w.closed || v <= w.since {
		return
	}
	w.since = v
	select {
	case old := <-w.ch:
		own = own && old.Own
	default:
	}
	w.ch <- Announcement{Checkpoint: Checkpoint{Version: v}, Own: own}
}

// run reads ss_activity past version last, when poked and every
// interval, until no watcher is left.
func (f *feed) run(s *Store, last uint64) {
	ctx := context.Background()
	interval := f.interval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	if s.dialect.Listen != nil {
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		go s.listen(lctx, f, interval)
	}
	for f.waitOrStop(tick) {
		next, err := s.readActivity(ctx, last, f)
		if err != nil {
			// The database is away: try again while someone watches.
			s.logger.Warn("ssync store: watch: read ss_activity", "error", err)
			continue
		}
		last = next
	}
}

// listen runs the dialect's Listen while the feed runs, again after each
// failure: its notifications wake the feed at once.
func (s *Store) listen(ctx context.Context, f *feed, retry time.Duration) {
	for ctx.Err() == nil {
		err := s.dialect.Listen(ctx, s.db, func() {
			select {
			case f.wake <- struct{}{}:
			default:
			}
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrListenUnsupported) {
			s.logger.Info("ssync store: watch: no notifications from the database; polling", "error", err)
			return
		}
		s.logger.Warn("ssync store: watch: listen", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

// waitOrStop waits for a poke or a tick; false when no watcher is left
// (and the feed has stopped).
func (f *feed) waitOrStop(tick *time.Ticker) bool {
	select {
	case <-f.wake:
	case <-tick.C:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.running = false
		return false
	}
	return true
}

// readActivity announces the activity recorded after version from, up to
// what the read's snapshot proves complete (the horizon a pull uses), and
// returns that horizon.
func (s *Store) readActivity(ctx context.Context, from uint64, f *feed) (uint64, error) {
	tx, err := s.db.BeginTx(ctx, s.dialect.PullTx)
	if err != nil {
		return from, err
	}
	defer tx.Rollback()
	h, err := s.horizon(ctx, tx, from)
	if err != nil || h <= from {
		return from, err
	}
	ph := s.dialect.Placeholder
	rows, err := tx.QueryContext(ctx, "SELECT sync_id, version, writer, other FROM ss_activity WHERE version > "+ph(1)+" AND version <= "+ph(2),
		int64(from), int64(h))
	if err != nil {
		return from, err
	}
	defer rows.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for rows.Next() {
		var user string
		var a activity
		if err := rows.Scan(&user, &a.version, &a.writer, &a.other); err != nil {
			return from, err
		}
		for w := range f.byUser[user] {
			f.send(w, uint64(a.version), w.owns(a))
		}
	}
	if err := rows.Err(); err != nil {
		return from, err
	}
	return h, nil
}
