package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestWatch: `notes watch` on one device prints the list as another
// device's notes arrive, without any sync command on the watching device,
// and pushes the watching device's own notes (added by a second process on
// the same file) by itself; it stops cleanly, exit code 0, when its context
// ends (Ctrl-C).
func TestWatch(t *testing.T) {
	srv := startServer(t)
	a := newDevice(t, "a", srv, "alice")
	b := newDevice(t, "b", srv, "alice")
	id := b.add("from b before watch")
	b.sync()

	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the server closes, which waits for the stream
	exit := make(chan int, 1)
	go func() {
		var errb strings.Builder
		code := run(ctx, []string{"-db", a.db, "-server", a.server, "-user", a.user, "watch"}, pw, &errb)
		pw.Close()
		if code != 0 {
			t.Errorf("notes watch: exit %d: %s", code, errb.String())
		}
		exit <- code
	}()
	lines := bufio.NewScanner(pr)
	// waitFor reads listings (each ends with an empty line) until one has
	// every line wanted.
	waitFor := func(want ...string) {
		t.Helper()
		timer := time.AfterFunc(time.Minute, func() { pr.CloseWithError(io.ErrUnexpectedEOF) })
		defer timer.Stop()
		var listing []string
		for lines.Scan() {
			if l := lines.Text(); l != "" {
				listing = append(listing, l)
				continue
			}
			all := true
			for _, w := range want {
				found := false
				for _, l := range listing {
					found = found || strings.HasSuffix(l, w)
				}
				all = all && found
			}
			if all {
				return
			}
			listing = nil
		}
		t.Fatalf("notes watch never listed %q (%v)", want, lines.Err())
	}
	waitFor(id + " [ ] from b before watch")
	b.add("from b while watching")
	b.sync()
	waitFor("from b before watch", "from b while watching")
	// Another process adds a note to the watching device's file: watch
	// lists it and pushes it, and b gets it.
	a.add("from a")
	waitFor("from a")
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(b.must("sync")+b.must("list"), "from a") {
		if time.Now().After(deadline) {
			t.Fatal("the watching device never pushed its note")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
