package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssync-go/ssync/runtime/server/jwtauth"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// syncBuffer is a bytes.Buffer safe for a writer and a reader in
// different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnce runs a command line that must end by itself.
func runOnce(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

var listening = regexp.MustCompile(`notes-server listening on (http://\S+)`)

// start runs the server until the test ends and returns its URL and
// stderr.
func start(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	all := append([]string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "server.db")}, args...)
	go func() { done <- run(ctx, all, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("server exited %d after shutdown; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not shut down")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], &stderr
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d; stderr:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start; stderr:\n%s", stderr.String())
	return "", nil
}

// pull asks for the notes with the given headers and returns the status.
func pull(t *testing.T, url string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/api/sync/pull?collections=ss_tb_note", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRefusesToStartWithoutSecret(t *testing.T) {
	t.Setenv(secretEnv, "")
	code, out, errs := runOnce(t, "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "x.db"))
	if code != exitUsage || out != "" || !strings.Contains(errs, "no JWT secret: set -jwt-secret or SSYNC_JWT_SECRET") || !strings.Contains(errs, "-insecure-dev") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 explaining the secret and -insecure-dev", code, out, errs)
	}
	if strings.Contains(errs, "listening") {
		t.Fatal("server started without a secret")
	}
}

func TestUsageErrors(t *testing.T) {
	t.Setenv(secretEnv, "")
	dbPath := filepath.Join(t.TempDir(), "x.db")
	for _, c := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"short secret", "", []string{"-jwt-secret", "short"}, "-jwt-secret: ssync jwtauth: secret is 5 bytes; it must be at least 32"},
		{"short secret from env", "short", nil, "$SSYNC_JWT_SECRET: ssync jwtauth: secret is 5 bytes"},
		{"secret and insecure", "", []string{"-jwt-secret", testSecret, "-insecure-dev"}, "-insecure-dev and a JWT secret (-jwt-secret) exclude each other"},
		{"env secret and insecure", testSecret, []string{"-insecure-dev"}, "-insecure-dev and a JWT secret ($SSYNC_JWT_SECRET) exclude each other"},
		{"bad db scheme", "", []string{"-insecure-dev", "-db", "redis://localhost/0"}, `-db: unsupported store scheme "redis:"`},
		{"empty db", "", []string{"-insecure-dev", "-db", ""}, "-db: empty store"},
		{"mint without secret", "", []string{"-mint-token", "alice"}, "-mint-token needs the JWT secret"},
		{"mint without user", "", []string{"-jwt-secret", testSecret, "-mint-token", " "}, "-mint-token needs the user's syncId"},
		{"mint with zero ttl", "", []string{"-jwt-secret", testSecret, "-mint-token", "alice", "-ttl", "0s"}, "ttl 0s is not positive"},
		{"mint with short secret", "", []string{"-jwt-secret", "short", "-mint-token", "alice"}, "secret is 5 bytes"},
		{"linked without mint", "", []string{"-jwt-secret", testSecret, "-linked", "bob"}, "-linked only goes with -mint-token"},
		{"ttl without mint", "", []string{"-jwt-secret", testSecret, "-ttl", "1h"}, "-ttl only goes with -mint-token"},
		{"argument", "", []string{"-insecure-dev", "serve"}, `unexpected argument "serve"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(secretEnv, c.env)
			code, out, errs := runOnce(t, append([]string{"-addr", "127.0.0.1:0", "-db", dbPath}, c.args...)...)
			if code != exitUsage || out != "" || !strings.Contains(errs, c.want) || !strings.Contains(errs, "usage: notes-server") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 saying %q", code, out, errs, c.want)
			}
			if strings.Contains(errs, "listening") {
				t.Fatal("server started")
			}
		})
	}
}

func TestMintToken(t *testing.T) {
	auth, err := jwtauth.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) store.Identity {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		id, err := auth.Authenticate(r)
		if err != nil {
			t.Fatalf("minted token refused: %v", err)
		}
		return id
	}

	t.Setenv(secretEnv, "")
	code, out, errs := runOnce(t, "-jwt-secret", testSecret, "-mint-token", "alice", "-linked", "bob, carol,", "-ttl", "1h")
	if code != exitOK || errs != "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("mint: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if id := verify(strings.TrimSpace(out)); id.SyncID != "alice" || strings.Join(id.Linked, ",") != "bob,carol" {
		t.Fatalf("minted identity %+v, want alice linked to bob and carol", id)
	}

	// The secret may come from the environment.
	t.Setenv(secretEnv, testSecret)
	code, out, errs = runOnce(t, "-mint-token", "dave")
	if code != exitOK {
		t.Fatalf("mint with env secret: exit %d, stderr %q", code, errs)
	}
	if id := verify(strings.TrimSpace(out)); id.SyncID != "dave" || len(id.Linked) != 0 {
		t.Fatalf("minted identity %+v, want dave", id)
	}
}

func TestServeWithJWT(t *testing.T) {
	t.Setenv(secretEnv, testSecret)
	url, stderr := start(t)
	alice, err := jwtauth.Mint([]byte(testSecret), "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := jwtauth.Mint([]byte("another secret of thirty-two bytes!!"), "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"token", map[string]string{"Authorization": "Bearer " + alice}, 200},
		{"no credential", nil, 401},
		{"user header", map[string]string{wire.HeaderUser: "alice"}, 401},
		{"token of another secret", map[string]string{"Authorization": "Bearer " + other}, 401},
	} {
		if got := pull(t, url, c.header); got != c.want {
			t.Errorf("pull with %s: %d, want %d", c.name, got, c.want)
		}
	}
	if s := stderr.String(); strings.Contains(s, "INSECURE") || !strings.Contains(s, "bearer token") {
		t.Errorf("server log does not say it needs bearer tokens:\n%s", s)
	}
	if strings.Contains(stderr.String(), testSecret) {
		t.Error("server log shows the secret")
	}
}

func TestServeInsecureDev(t *testing.T) {
	t.Setenv(secretEnv, "")
	url, stderr := start(t, "-insecure-dev")
	if got := pull(t, url, map[string]string{wire.HeaderUser: "alice"}); got != 200 {
		t.Errorf("pull with %s: %d, want 200", wire.HeaderUser, got)
	}
	if got := pull(t, url, nil); got != 401 {
		t.Errorf("pull without a user: %d, want 401", got)
	}
	if !strings.Contains(stderr.String(), "INSECURE: -insecure-dev trusts the X-Ssync-User header") {
		t.Errorf("no loud warning in the log:\n%s", stderr.String())
	}
}

func TestServeSQLitePrefix(t *testing.T) {
	t.Setenv(secretEnv, testSecret)
	path := filepath.Join(t.TempDir(), "prefixed.db")
	_, stderr := start(t, "-db", "sqlite:"+path)
	if !strings.Contains(stderr.String(), "store=sqlite:"+path) {
		t.Errorf("log does not name the store:\n%s", stderr.String())
	}
}

func TestUnreachableStore(t *testing.T) {
	t.Setenv(secretEnv, testSecret)
	code, _, errs := runOnce(t, "-addr", "127.0.0.1:0", "-db", "postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2")
	if code != exitError || !strings.Contains(errs, "postgres store postgres://u:xxxxx@127.0.0.1:1/db") || strings.Contains(errs, "secretpw") {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming the store without its password", code, errs)
	}
}
