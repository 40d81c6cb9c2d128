package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Defaults of the change-notification stream (GET {base}/events).
const (
	// DefaultEventHeartbeat is how often an idle event stream sends a
	// comment line, so that proxies keep it open and clients notice a
	// dead one.
	DefaultEventHeartbeat = 20 * time.Second
	// DefaultMaxEventStream is how long one event stream lasts before the
	// server ends it; the client reconnects, authenticating again (a
	// token that expired meanwhile is refused then).
	DefaultMaxEventStream = 15 * time.Minute
)

// eventWriteTimeout bounds one write to an event stream: a client that
// reads nothing for this long is dropped.
const eventWriteTimeout = 10 * time.Second

// handleEvents serves a Server-Sent Events stream that announces the
// pushes changing rows in the user's scope past the checkpoint in ?since=,
// saying when they were all the requesting device's own (X-Ssync-Device).
// The stream does not count against MaxUserRequests: it is idle nearly
// always.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if slot, _ := r.Context().Value(slotKey{}).(*userSlot); slot != nil && slot.release != nil {
		slot.release()
		slot.release = nil
	}
	since, err := store.ParseCheckpoint(r.URL.Query().Get(wire.ParamSince))
	if err != nil {
		s.fail(w, r, apiError{wire.CodeInvalidCheckpoint, fmt.Sprintf("%s: %v", wire.ParamSince, err)})
		return
	}
	ctx := r.Context()
	changes, err := s.store.Watch(ctx, id, since, device(r))
	if err != nil {
		s.internal(w, r, "events", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", wire.ContentTypeEvents)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(text string) bool {
		rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := io.WriteString(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// A client reconnects a second after the stream ends, unless it says
	// otherwise.
	if !send("retry: 1000\n: ssync events\n\n") {
		return
	}
	beat := time.NewTicker(s.cfg.EventHeartbeat)
	defer beat.Stop()
	end := time.NewTimer(s.cfg.MaxEventStream)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-beat.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case c, open := <-changes:
			if !open {
				return
			}
			data, _ := json.Marshal(wire.EventData{Checkpoint: c.Checkpoint.String(), Own: c.Own})
			if !send("event: " + wire.EventChanged + "\ndata: " + string(data) + "\n\n") {
				return
			}
		}
	}
}
