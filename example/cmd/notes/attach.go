package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/client"
)

// attach stores the file at path as the note's file.
func (a *app) attach(ctx context.Context, id uuid.UUID, path string) error {
	if _, err := a.get(ctx, "attach", id); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("attach: %s is a directory", path)
	}
	if err := a.notes.Attach(ctx, id, f, filepath.Base(path), ""); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return nil
}

// open writes the note's file to out, or to stdout for "-". A file is
// written whole or not at all: through a temporary file renamed into place.
func (a *app) open(ctx context.Context, id uuid.UUID, out string) error {
	if _, err := a.get(ctx, "open", id); err != nil {
		return err
	}
	// Content this device lacks is fetched from the server.
	if err := a.db.SetRemote(a.syncOptions()); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	rc, att, err := a.notes.Open(ctx, id)
	if errors.Is(err, client.ErrNoAttachment) {
		return fmt.Errorf("open: note %s has no file", id)
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	if out == "-" {
		_, err := io.Copy(a.stdout, rc)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	n, err := io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != att.Size {
		err = fmt.Errorf("read %d of %d bytes", n, att.Size)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("open: %w", err)
	}
	return nil
}

// files counts files in words: "1 file", "2 files".
func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}
