package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// TestDeviceRecordsPerUser: the checkpoint a device records (which holds
// back the purge of tombstones) belongs to the user and the device together.
// Another user sending the same device id, with a checkpoint far beyond
// the server's, changes nothing of the first user's record, and the
// checkpoint recorded for it is never beyond the server's position.
func TestDeviceRecordsPerUser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var mu sync.Mutex
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func() { mu.Lock(); now = now.Add(2 * time.Minute); mu.Unlock() }
		f := newFixture(t, b, server.Config{}, store.WithClock(clock))
		if r := f.do("POST", "/push?collections=ss_tb_note", "alice", "", pushBody([]string{note(newID(), "one", false)}, nil, nil)); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		pull := func(user, since string) reply {
			t.Helper()
			r := f.req("GET", "/pull?collections=ss_tb_note&timestamp="+since,
				map[string]string{"X-Ssync-User": user, "X-Ssync-Device": "alice-phone"}, "")
			if r.status != 200 {
				t.Fatalf("pull by %s: %d %s", user, r.status, r.body)
			}
			return r
		}
		_, cp := f.pull("alice", "")
		advance()
		pull("alice", cp)
		record := func(user string) (int64, bool) {
			t.Helper()
			var v int64
			err := f.db.QueryRow("SELECT checkpoint FROM ss_device_seen WHERE sync_id = '" + user + "' AND device = 'alice-phone'").Scan(&v)
			return v, err == nil
		}
		want, ok := record("alice")
		if !ok {
			t.Fatal("alice's device was not recorded")
		}
		advance()
		pull("bob", "4611686018427387904")
		if got, ok := record("alice"); !ok || got != want {
			t.Fatalf("bob's pull with alice's device id changed alice's record: %d (present %v), want %d", got, ok, want)
		}
		got, ok := record("bob")
		if !ok {
			t.Fatal("bob's device was not recorded")
		}
		if got > want {
			t.Fatalf("bob's record holds checkpoint %d, beyond the server's position %d", got, want)
		}
	})
}
