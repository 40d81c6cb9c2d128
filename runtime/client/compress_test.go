package client_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestCompressionInterop: clients with and without compression sync with
// servers with and without it, in every combination; requests and answers
// are compressed exactly when both sides take it.
func TestCompressionInterop(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	for _, serverOff := range []bool{false, true} {
		for _, clientOff := range []bool{false, true} {
			t.Run(fmt.Sprintf("server-compression-%v/client-compression-%v", !serverOff, !clientOff), func(t *testing.T) {
				h := newHarnessWith(t, be, server.Config{DisableCompression: serverOff})
				var mu sync.Mutex
				seen := map[string]string{} // "push" → request coding, "pull-stream" → answer coding
				// Recorded as the answer starts: a client may leave once it
				// has read what it needs, before the handler returns.
				record := func(key, coding string) {
					mu.Lock()
					defer mu.Unlock()
					seen[key] = coding
				}
				wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					switch {
					case strings.HasSuffix(r.URL.Path, "/push"):
						record("push", r.Header.Get("Content-Encoding"))
					case strings.HasSuffix(r.URL.Path, "/pull-stream"):
						w = &answerSpy{ResponseWriter: w, started: func(h http.Header) { record("pull-stream", h.Get("Content-Encoding")) }}
					}
					next.ServeHTTP(w, r)
				}
				h.wrap.Store(&wrap)
				sync := func(name string) {
					dev := h.device(name, "alice")
					if name == "writer" {
						insertNotes(t, dev, 300, "note")
					}
					opts := h.opts(dev)
					opts.DisableCompression = clientOff
					res, err := dev.Synchronize(t.Context(), opts)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if name == "reader" && (len(res.Pulled) != 1 || res.Pulled[0].Created != 300) {
						t.Fatalf("reader pulled %+v, want 300 notes", res.Pulled)
					}
				}
				sync("writer")
				sync("reader")
				want := "zstd"
				if serverOff || clientOff {
					want = ""
				}
				if seen["push"] != want || seen["pull-stream"] != want {
					t.Fatalf("push sent in %q, pull-stream answered in %q; want %q both", seen["push"], seen["pull-stream"], want)
				}
			})
		}
	}
}

// TestDisableCompressionTakesEffect: a sync with DisableCompression sends
// its push as it is, even right after a compressed sync whose handshake it
// reuses (HandshakeInterval).
func TestDisableCompressionTakesEffect(t *testing.T) {
	h := newHarnessWith(t, storetest.Backends(t)[0], server.Config{})
	var mu sync.Mutex
	var codings []string
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/push") {
			mu.Lock()
			codings = append(codings, r.Header.Get("Content-Encoding"))
			mu.Unlock()
		}
		next.ServeHTTP(w, r)
	}
	h.wrap.Store(&wrap)
	dev := h.device("writer", "alice")
	opts := h.opts(dev)
	for _, off := range []bool{false, true} {
		insertNotes(t, dev, 300, fmt.Sprintf("off=%v", off))
		opts.DisableCompression = off
		if _, err := dev.Synchronize(t.Context(), opts); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codings) != 2 || codings[0] != "zstd" || codings[1] != "" {
		t.Fatalf("pushes sent in %q, want zstd, then as they are", codings)
	}
}

// answerSpy calls started with the answer's header when it is sent.
type answerSpy struct {
	http.ResponseWriter
	started func(http.Header)
	sent    bool
}

func (a *answerSpy) WriteHeader(code int) {
	if !a.sent {
		a.sent = true
		a.started(a.Header())
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerSpy) Write(b []byte) (int, error) {
	if !a.sent {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(b)
}

func (a *answerSpy) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (a *answerSpy) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// TestAttachmentCompression: attachment content that compresses (text) is
// uploaded and downloaded compressed, content that does not (random bytes,
// like a photo) as it is; both arrive intact and count their own bytes.
func TestAttachmentCompression(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h, dir := blobHarness(t, be, server.Config{})
	var mu sync.Mutex
	down := map[string]string{} // hash → Content-Encoding of its GET answer
	up := map[string]string{}   // hash → Content-Encoding of its PUT
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(&answerHook{ResponseWriter: w, on: func(_ int, h http.Header) {
			if !strings.Contains(r.URL.Path, "/blobs/") {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch r.Method {
			case http.MethodGet:
				down[path.Base(r.URL.Path)] = h.Get("Content-Encoding")
			case http.MethodPut:
				up[path.Base(r.URL.Path)] = r.Header.Get("Content-Encoding")
			}
		}}, r)
	}
	h.wrap.Store(&wrap)
	a := h.device("a", "alice")
	text := []byte(strings.Repeat("a line of text that repeats, as text does\n", 20_000))
	random := content(300_000, 7)
	tn := noteWithFile(t, a, "text", text, "notes.txt")
	rn := noteWithFile(t, a, "photo", random, "photo.jpg")
	res := h.sync(a)
	if res.Uploaded != 2 || res.UploadedBytes != int64(len(text)+len(random)) {
		t.Fatalf("uploaded %d attachments, %d bytes", res.Uploaded, res.UploadedBytes)
	}
	for hash, want := range map[string]int{tn.File.Hash: len(text), rn.File.Hash: len(random)} {
		if info, err := dir.Stat(t.Context(), hash); err != nil || info.Size != int64(want) {
			t.Fatalf("the server holds %+v (%v) of %s, want %d bytes", info, err, hash, want)
		}
	}
	b := h.device("b", "alice")
	res = h.sync(b)
	if res.Downloaded != 2 || res.DownloadedBytes != int64(len(text)+len(random)) {
		t.Fatalf("downloaded %d attachments, %d bytes", res.Downloaded, res.DownloadedBytes)
	}
	mu.Lock()
	defer mu.Unlock()
	for name, c := range map[string]map[string]string{"uploaded": up, "downloaded": down} {
		if got := c[tn.File.Hash]; got != "zstd" {
			t.Errorf("text attachment %s in Content-Encoding %q, want zstd", name, got)
		}
		if got := c[rn.File.Hash]; got != "" {
			t.Errorf("random attachment %s in Content-Encoding %q, want none", name, got)
		}
	}
	for id, want := range map[uuid.UUID][]byte{tn.ID: text, rn.ID: random} {
		got, _, err := openBytes(t, b, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("device B reads %d bytes (%v), want the %d attached", len(got), err, len(want))
		}
	}
}

// TestUploadFallsBackToPlain: a server instance that stopped taking
// compressed bodies after the device's handshake answers its zstd upload
// with 415 before any byte is sent; the device uploads that content and
// the rest of the sync's as they are, and the content arrives intact.
func TestUploadFallsBackToPlain(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h, dir := blobHarness(t, be, server.Config{})
	plainSrv, err := server.New(server.Config{Store: h.server, Authenticator: server.InsecureHeaderAuth(), DisableCompression: true})
	if err != nil {
		t.Fatal(err)
	}
	plain := http.NewServeMux()
	plainSrv.Mount(plain, "")
	var mu sync.Mutex
	var puts []string
	var toPlain atomic.Bool
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if toPlain.Load() {
			next = plain
		}
		next.ServeHTTP(&answerHook{ResponseWriter: w, on: func(status int, _ http.Header) {
			if r.Method == http.MethodPut {
				mu.Lock()
				puts = append(puts, fmt.Sprintf("%s %d", r.Header.Get("Content-Encoding"), status))
				mu.Unlock()
			}
		}}, r)
	}
	h.wrap.Store(&wrap)
	a := h.device("a", "alice")
	h.sync(a) // the handshake: the server takes zstd uploads
	toPlain.Store(true)
	first := []byte(strings.Repeat("the first text attachment\n", 10_000))
	second := []byte(strings.Repeat("the second text attachment\n", 10_000))
	noteWithFile(t, a, "first", first, "first.txt")
	noteWithFile(t, a, "second", second, "second.txt")
	res := h.sync(a)
	if res.Uploaded != 2 || res.UploadedBytes != int64(len(first)+len(second)) {
		t.Fatalf("uploaded %d attachments, %d bytes", res.Uploaded, res.UploadedBytes)
	}
	if want := []string{"zstd 415", " 201", " 201"}; fmt.Sprint(puts) != fmt.Sprint(want) {
		t.Fatalf("uploads (coding status): %q, want %q", puts, want)
	}
	for _, c := range [][]byte{first, second} {
		if info, err := dir.Stat(t.Context(), sha(c)); err != nil || info.Size != int64(len(c)) {
			t.Fatalf("the server holds %+v (%v), want %d bytes", info, err, len(c))
		}
	}
}

// TestPushFallsBackToPlain: a server instance that stopped taking
// compressed bodies after the device's handshake (redeployed with
// DisableCompression behind the same URL) answers the device's zstd push
// with 415; the device sends the same push (the same key) as it is, sends
// the rest of that sync's pushes as they are, and asks again at the next
// sync's handshake, which tells it to push plain. Every row arrives once.
func TestPushFallsBackToPlain(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h := newHarnessWith(t, be, server.Config{})
	plainSrv, err := server.New(server.Config{Store: h.server, Authenticator: server.InsecureHeaderAuth(), DisableCompression: true})
	if err != nil {
		t.Fatal(err)
	}
	plain := http.NewServeMux()
	plainSrv.Mount(plain, "")

	type push struct {
		coding, key string
		status      int
	}
	var mu sync.Mutex
	var pushes []push
	var toPlain atomic.Bool
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if toPlain.Load() {
			next = plain
		}
		next.ServeHTTP(&answerHook{ResponseWriter: w, on: func(status int, _ http.Header) {
			if strings.HasSuffix(r.URL.Path, "/push") {
				mu.Lock()
				pushes = append(pushes, push{r.Header.Get("Content-Encoding"), r.Header.Get(wire.HeaderIdempotencyKey), status})
				mu.Unlock()
			}
		}}, r)
	}
	h.wrap.Store(&wrap)
	taken := func() []push {
		mu.Lock()
		defer mu.Unlock()
		out := pushes
		pushes = nil
		return out
	}

	dev := h.device("writer", "alice")
	opts := h.opts(dev)
	opts.PushBatchRows = 5
	insertNotes(t, dev, 5, "first")
	if _, err := dev.Synchronize(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if got := taken(); len(got) != 1 || got[0].coding != "zstd" || got[0].status != http.StatusOK {
		t.Fatalf("first sync pushed %+v, want one zstd push answered 200", got)
	}

	// Redeployed without compression; the device's handshake is recent.
	toPlain.Store(true)
	insertNotes(t, dev, 12, "second")
	res, err := dev.Synchronize(t.Context(), opts)
	if err != nil {
		t.Fatalf("sync after the server stopped taking compressed bodies: %v", err)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Created != 12 {
		t.Fatalf("pushed %+v, want 12 notes", res.Pushed)
	}
	got := taken()
	want := []string{"zstd 415", " 200", " 200", " 200"}
	var seen []string
	for _, p := range got {
		seen = append(seen, fmt.Sprintf("%s %d", p.coding, p.status))
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("pushes (coding status): %q, want %q", seen, want)
	}
	if got[0].key == "" || got[1].key != got[0].key {
		t.Fatalf("the plain push has key %q, the refused one %q: want the same key", got[1].key, got[0].key)
	}

	// The next sync handshakes again and pushes as it is from the start.
	insertNotes(t, dev, 3, "third")
	if _, err := dev.Synchronize(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if got := taken(); len(got) != 1 || got[0].coding != "" || got[0].status != http.StatusOK {
		t.Fatalf("next sync pushed %+v, want one plain push answered 200", got)
	}
	var n int
	if err := h.st.QueryRow("SELECT COUNT(*) FROM ss_tb_note WHERE ss_sync_id = "+h.ph(1), "alice").Scan(&n); err != nil || n != 20 {
		t.Fatalf("the server holds %d notes of alice (%v), want 20 (each once)", n, err)
	}
}

// answerHook calls on with the status and headers of the answer as the
// handler writes its header, before any of the answer reaches the client:
// what it records is there once the client has the answer.
type answerHook struct {
	http.ResponseWriter
	on    func(status int, h http.Header)
	wrote bool
}

func (a *answerHook) WriteHeader(code int) {
	if !a.wrote {
		a.wrote = true
		a.on(code, a.Header())
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerHook) Write(p []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(p)
}

func (a *answerHook) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (a *answerHook) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// lostAnswer is a response writer that keeps the handler's answer from the
// client: the push is applied, its answer lost.
type lostAnswer struct{ h http.Header }

func (l *lostAnswer) Header() http.Header         { return l.h }
func (l *lostAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (l *lostAnswer) WriteHeader(int)             {}

// TestOutboxKeepsCompressedBody: a compressed push is kept in the outbox
// as it was sent (zstd, a fraction of the JSON); when its answer is lost,
// the next sync sends the same bytes with the same key, the server answers
// with what it recorded, and the rows are acknowledged once.
func TestOutboxKeepsCompressedBody(t *testing.T) {
	be := storetest.Backends(t)[0] // SQLite
	h := newHarness(t, be)
	type push struct {
		coding, key, replayed string
		body                  []byte
	}
	var mu sync.Mutex
	var pushes []push
	var lose atomic.Bool
	lose.Store(true)
	wrap := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if !strings.HasSuffix(r.URL.Path, "/push") {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p := push{coding: r.Header.Get("Content-Encoding"), key: r.Header.Get(wire.HeaderIdempotencyKey), body: body}
		if lose.CompareAndSwap(true, false) {
			next.ServeHTTP(&lostAnswer{h: http.Header{}}, r)
			w.WriteHeader(http.StatusBadGateway)
		} else {
			rec := &answerHook{ResponseWriter: w, on: func(_ int, hdr http.Header) { p.replayed = hdr.Get(wire.HeaderIdempotentReplayed) }}
			next.ServeHTTP(rec, r)
		}
		mu.Lock()
		pushes = append(pushes, p)
		mu.Unlock()
	}
	h.wrap.Store(&wrap)

	dev := h.device("writer", "alice")
	insertNotes(t, dev, 200, "kept")
	opts := h.opts(dev)
	opts.MaxAttempts = 1
	if _, err := dev.Synchronize(t.Context(), opts); err == nil {
		t.Fatal("the sync whose push answer was lost succeeded")
	}
	var stored []byte
	if err := dev.SQL().QueryRow(`SELECT body FROM ss_outbox`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(pushes) != 1 || pushes[0].coding != contentenc.Zstd || !bytes.Equal(stored, pushes[0].body) {
		t.Fatalf("the outbox keeps %d bytes (coding %q); want the %q body sent", len(stored), contentenc.Sniff(stored), "zstd")
	}
	plain, err := contentenc.Decode(contentenc.Zstd, stored, -1)
	if err != nil || !bytes.HasPrefix(plain, []byte(`[{"collection":"ss_tb_note"`)) || len(stored)*3 > len(plain) {
		t.Fatalf("the stored body decodes to %d bytes from %d (%v); want a change set at least 3 times larger", len(plain), len(stored), err)
	}

	res := h.sync(dev)
	if len(pushes) != 2 || pushes[1].key != pushes[0].key || !bytes.Equal(pushes[1].body, pushes[0].body) || pushes[1].replayed != "true" {
		t.Fatalf("the resent push: %d pushes, same key %v, same bytes %v, replayed %q; want the same bytes, key, and a replayed answer",
			len(pushes), pushes[len(pushes)-1].key == pushes[0].key, bytes.Equal(pushes[len(pushes)-1].body, pushes[0].body), pushes[len(pushes)-1].replayed)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Created != 200 {
		t.Fatalf("the resending sync reports %+v pushed, want the 200 notes", res.Pushed)
	}
	if n, err := dev.PendingPushes(t.Context()); err != nil || n != 0 {
		t.Fatalf("pending pushes: %d, %v; want none", n, err)
	}
	var onServer, dirty int
	if err := h.st.QueryRow(`SELECT COUNT(*) FROM ss_tb_note`).Scan(&onServer); err != nil || onServer != 200 {
		t.Fatalf("the server holds %d notes (%v), want 200", onServer, err)
	}
	if err := dev.SQL().QueryRow(`SELECT COUNT(*) FROM ss_tb_note WHERE ss_dirty > 0`).Scan(&dirty); err != nil || dirty != 0 {
		t.Fatalf("%d notes still pending on the device (%v), want none", dirty, err)
	}
}
