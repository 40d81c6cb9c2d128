package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/wire"
)

// process is a notes-server running as its own operating-system process.
type process struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	exited chan error // receives cmd.Wait's answer
}

// buildServer compiles notes-server once for the test.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "notes-server")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// spawn starts bin on the SQLite file db and waits until it listens.
func spawn(t *testing.T, bin, db string) (*process, error) {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db, "-insecure-dev")
	var stderr syncBuffer
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			stderr.Write(append(sc.Bytes(), '\n'))
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	p := &process{cmd: cmd, stderr: &stderr, exited: exited}
	select {
	case p.url = <-urls:
		t.Cleanup(func() { p.cmd.Process.Kill() })
		return p, nil
	case err := <-p.exited:
		return nil, fmt.Errorf("notes-server exited before listening (%v):\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("notes-server did not listen within 20 s:\n%s", stderr.String())
	}
}

// pushNote pushes one new note and reports whether the server took it.
func pushNote(ctx context.Context, url string) error {
	id := uuid.NewString()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	body := fmt.Sprintf(`[{"collection":"ss_tb_note","timestamp":"","changes":{"created":[{"id":%q,"createdAt":%q,"updatedAt":%q,"deletedAt":null,"syncId":"w","message":"m","completed":false,"userId":null,"userName":"","file":null}],"updated":[],"deleted":[]}}]`,
		id, now, now)
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/api/sync/push?collections=ss_tb_note", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(wire.HeaderUser, "w")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("push: %d %s", resp.StatusCode, b)
	}
	return nil
}

// TestInstancesShareSQLiteFile runs notes-server processes on one SQLite
// file: while one process takes a steady stream of pushes, another starts,
// serves, is killed and started again, several times, and every start
// succeeds.
func TestInstancesShareSQLiteFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildServer(t)
	db := filepath.Join(t.TempDir(), "shared.db")
	first, err := spawn(t, bin, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pushed atomic.Int64
	var wg sync.WaitGroup
	writeErr := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := pushNote(ctx, first.url); err != nil {
					if ctx.Err() == nil {
						writeErr <- err
					}
					return
				}
				pushed.Add(1)
			}
		}()
	}
	for i := range 8 {
		second, err := spawn(t, bin, db)
		if err != nil {
			t.Fatalf("start %d of a second instance while the first writes: %v", i+1, err)
		}
		if err := pushNote(ctx, second.url); err != nil {
			t.Fatalf("second instance, start %d: %v\n%s", i+1, err, second.stderr.String())
		}
		second.cmd.Process.Signal(os.Kill)
		<-second.exited
	}
	cancel()
	wg.Wait()
	select {
	case err := <-writeErr:
		t.Fatalf("the first instance failed a push: %v", err)
	default:
	}
	if pushed.Load() == 0 {
		t.Fatal("the first instance took no push while the second started")
	}
	t.Logf("%d pushes through the first instance while a second started 8 times", pushed.Load())
}
