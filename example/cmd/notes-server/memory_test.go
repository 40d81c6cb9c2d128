package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/wire"
)

// TestPullMemory loads SSYNC_PULL_MEMORY_MIB MiB (e.g. 180) of one user's
// notes into a notes-server process on SQLite, restarts it, and runs six
// concurrent pulls of all of them (three paging through /pull, three
// /pull-stream), then reads the server's peak resident memory (VmHWM in
// /proc/<pid>/status): it must stay under 300 MB. It is skipped unless the
// variable is set (the load takes a minute or two).
func TestPullMemory(t *testing.T) {
	mib, _ := strconv.Atoi(os.Getenv("SSYNC_PULL_MEMORY_MIB"))
	if mib <= 0 {
		t.Skip("set SSYNC_PULL_MEMORY_MIB (e.g. 180) to measure the server's memory under six concurrent pulls")
	}
	bin := buildServer(t)
	db := filepath.Join(t.TempDir(), "memory.db")
	loader, err := spawn(t, bin, db)
	if err != nil {
		t.Fatal(err)
	}
	rows := loadNotes(t, loader.url, mib<<20)
	loader.cmd.Process.Kill()
	<-loader.exited
	srv, err := spawn(t, bin, db)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	counts := make([]int, 6)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				counts[i], err = pullPages(srv.url)
			} else {
				counts[i], err = pullStream(srv.url)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	hwm := peakRSS(t, srv.cmd.Process.Pid)
	t.Logf("%d MiB in %d notes; six concurrent pulls took %v and got %v rows; server peak RSS (VmHWM) %d MB",
		mib, rows, time.Since(start).Round(time.Millisecond), counts, hwm>>20)
	for i, n := range counts {
		if n != rows {
			t.Errorf("puller %d got %d rows, want %d", i, n, rows)
		}
	}
	if hwm > 300<<20 {
		t.Errorf("server peak RSS %d MB, want under 300 MB", hwm>>20)
	}
}

// loadNotes pushes notes of about 4 KiB for user bob until they hold size
// bytes, and returns how many.
func loadNotes(t *testing.T, base string, size int) int {
	t.Helper()
	msg := strings.Repeat("0123456789abcdef", 256)
	n := 0
	for total := 0; total < size; {
		var rows []string
		for range 1000 {
			rows = append(rows, fmt.Sprintf(`{"id":%q,"createdAt":"2024-12-21T17:25:53Z","updatedAt":"2024-12-21T17:25:53Z","deletedAt":null,"message":%q,"completed":false,"userId":null,"userName":"Bob","file":null}`,
				uuid.NewString(), msg))
			total += len(msg)
		}
		body := `[{"collection":"ss_tb_note","changes":{"created":[` + strings.Join(rows, ",") + `]}}]`
		req, _ := http.NewRequest(http.MethodPost, base+"/api/sync/push?collections=ss_tb_note", strings.NewReader(body))
		req.Header.Set(wire.HeaderUser, "bob")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("load push: %d %s", resp.StatusCode, b)
		}
		n += len(rows)
	}
	return n
}

// get sends bob's GET and returns the response, which must be a 200.
func get(ctx context.Context, u string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set(wire.HeaderUser, "bob")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return resp, nil
}

// pullPages pulls every note with /pull, page after page, and counts them.
func pullPages(base string) (int, error) {
	cp, n := "", 0
	for {
		resp, err := get(context.Background(), base+"/api/sync/pull?collections=ss_tb_note&timestamp="+url.QueryEscape(cp))
		if err != nil {
			return n, err
		}
		var sets []struct {
			Timestamp string `json:"timestamp"`
			Changes   struct {
				Created []json.RawMessage `json:"created"`
				Updated []json.RawMessage `json:"updated"`
			} `json:"changes"`
		}
		err = json.NewDecoder(resp.Body).Decode(&sets)
		resp.Body.Close()
		if err != nil || len(sets) != 1 {
			return n, fmt.Errorf("pull: %v", err)
		}
		// Rows of the version a page ended in come as updated.
		n += len(sets[0].Changes.Created) + len(sets[0].Changes.Updated)
		cp = sets[0].Timestamp
		if resp.Header.Get(wire.HeaderMore) != "true" {
			return n, nil
		}
	}
}

// pullStream pulls every note with /pull-stream and counts them.
func pullStream(base string) (int, error) {
	resp, err := get(context.Background(), base+"/api/sync/pull-stream?collections=ss_tb_note")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 256<<20)
	n := 0
	for sc.Scan() {
		var line struct {
			Done    bool `json:"done"`
			Changes struct {
				Created []json.RawMessage `json:"created"`
			} `json:"changes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return n, err
		}
		if line.Done {
			return n, nil
		}
		n += len(line.Changes.Created)
	}
	return n, fmt.Errorf("pull-stream ended without its done line: %v", sc.Err())
}

// peakRSS returns the process's peak resident memory in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
