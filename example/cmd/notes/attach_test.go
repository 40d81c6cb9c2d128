package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// startBlobServer is startServer with a folder for attached files.
func startBlobServer(t *testing.T) string {
	t.Helper()
	blobs, err := blob.NewDir(filepath.Join(t.TempDir(), "server.blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := storetest.SQLite().Store(t, generated.Registry(), store.WithBlobStore(blobs))
	return storetest.Serve(t, st, server.Config{})
}

func TestAttachAndOpen(t *testing.T) {
	srv := startBlobServer(t)
	a := newDevice(t, "a", srv, "alice")
	b := newDevice(t, "b", srv, "alice")
	dir := t.TempDir()
	data := make([]byte, 200_000)
	rand.Read(data)
	src := filepath.Join(dir, "scan.pdf")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}

	id := a.add("with a scan")
	plain := a.add("no file")
	if out := a.must("attach", id, src); out != "" {
		t.Fatalf("attach printed %q", out)
	}
	if got := a.must("list"); !strings.Contains(got, id+" [ ] with a scan [file scan.pdf, 200000 bytes]\n") ||
		!strings.Contains(got, plain+" [ ] no file\n") {
		t.Fatalf("list after attach:\n%s", got)
	}
	out := a.must("sync")
	if !syncLine.MatchString(out) || !strings.Contains(out, "uploaded 1 file (200000 bytes)") {
		t.Fatalf("sync printed %q", out)
	}

	out = b.must("sync")
	if !syncLine.MatchString(out) || !strings.Contains(out, "downloaded 1 file (200000 bytes)") {
		t.Fatalf("sync on b printed %q", out)
	}
	if a.must("list") != b.must("list") {
		t.Fatal("the devices list different notes")
	}
	dst := filepath.Join(dir, "copy.pdf")
	if out := b.must("open", id, dst); out != "" {
		t.Fatalf("open printed %q", out)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("open wrote %d bytes (%v), want the %d attached", len(got), err, len(data))
	}
	if out := b.must("open", id, "-"); out != string(data) {
		t.Fatalf("open - wrote %d bytes, want %d", len(out), len(data))
	}

	// Content this device lost is fetched from the server.
	if err := os.RemoveAll(b.db + ".blobs"); err != nil {
		t.Fatal(err)
	}
	if out := b.must("open", id, "-"); out != string(data) {
		t.Fatalf("open after losing the content wrote %d bytes", len(out))
	}

	// Replacing the file.
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("short text\n"), 0o600)
	b.must("attach", id, other)
	b.must("sync")
	a.must("sync")
	if out := a.must("open", id, "-"); out != "short text\n" {
		t.Fatalf("open after the replacement wrote %q", out)
	}
}

func TestAttachAndOpenErrors(t *testing.T) {
	srv := startBlobServer(t)
	a := newDevice(t, "a", srv, "alice")
	id := a.add("note")
	missing := "0190a5e4-0000-7000-8000-000000000000"
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"attach", id}, exitUsage, "attach takes two arguments"},
		{[]string{"open", id}, exitUsage, "open takes two arguments"},
		{[]string{"attach", "not-an-id", file}, exitUsage, "invalid note id"},
		{[]string{"attach", id, filepath.Join(dir, "nope.txt")}, exitError, "no such file"},
		{[]string{"attach", id, dir}, exitError, "is a directory"},
		{[]string{"attach", missing, file}, exitError, "no note " + missing},
		{[]string{"open", id, filepath.Join(dir, "out")}, exitError, "has no file"},
		{[]string{"open", missing, "-"}, exitError, "no note " + missing},
	} {
		code, _, stderr := a.exec(c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("notes %s: exit %d, stderr %q; want exit %d and %q", strings.Join(c.args, " "), code, stderr, c.code, c.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a failed open left its output file")
	}
}
