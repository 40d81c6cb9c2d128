package server

import (
	"fmt"
	"sync"
)

// RetryAfterBusy is the Retry-After, in seconds, of a request refused
// because its user has as many requests in progress as a UserLimit allows.
const RetryAfterBusy = "1"

// UserLimit caps the requests each user has in progress at once on one
// server instance, a user's devices together (Config.MaxUserRequests). A
// Server has one (Server.UserLimit); other fronts over the same store (the
// WatermelonDB front's watermelon.Config.UserLimit) take it too, so that
// a user's requests count together whichever protocol they speak.
type UserLimit struct {
	max      int
	mu       sync.Mutex
	inFlight map[string]int // sync id → requests in progress
}

// NewUserLimit returns a limit of max requests in progress per user; max
// 0 or less is no limit.
func NewUserLimit(max int) *UserLimit {
	return &UserLimit{max: max, inFlight: map[string]int{}}
}

// TooManyRequestsError refuses a request whose user has Max requests in
// progress: 429 too_many_requests with Retry-After: RetryAfterBusy.
type TooManyRequestsError struct{ Max int }

// Error says what the client reads in the refusal.
func (e *TooManyRequestsError) Error() string {
	return fmt.Sprintf("%d requests of this user are in progress, the most this server serves at once; retry after a second", e.Max)
}

// Acquire counts a request of user in progress; the caller gives it back
// with release when the request ends. At the limit it returns a
// *TooManyRequestsError and counts nothing. A nil limit has no limit.
func (l *UserLimit) Acquire(user string) (release func(), err error) {
	if l == nil || l.max <= 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[user] >= l.max {
		return nil, &TooManyRequestsError{Max: l.max}
	}
	l.inFlight[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.inFlight[user]--; l.inFlight[user] <= 0 {
				delete(l.inFlight, user)
			}
		})
	}, nil
}
