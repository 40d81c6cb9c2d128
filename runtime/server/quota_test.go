package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// TestUploadLimits: a user's incomplete uploads are capped (429
// too_many_uploads, with Retry-After the upload expiry) and so are the
// bytes of its uploads (413 blob_quota_exceeded), each user on its own;
// incomplete uploads stop counting, and PurgeBlobs removes them, once they
// are older than the upload expiry, much shorter than the retention of
// content. On every store.
func TestUploadLimits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		dir, err := blob.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		db, _ := b.Open(t)
		st, err := store.Open(context.Background(), db, b.Dialect, generatedRegistry(),
			store.WithBlobStore(dir), store.WithUploadExpiry(time.Hour), store.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		f := &fixture{t: t, url: storetest.Serve(t, st, server.Config{MaxUserBlobBytes: 100, MaxOpenUploads: 2}) + "/api/sync", db: db}
		content := func(c byte, n int) (string, string) { s := strings.Repeat(string(c), n); return s, hashOf(s) }
		a, ha := content('a', 40)
		bb, hb := content('b', 40)
		c, hc := content('c', 10)
		d, hd := content('d', 30)
		e, he := content('e', 20)
		expect := func(what string, r reply, status int, code string) {
			t.Helper()
			if r.status != status || (code != "" && !strings.Contains(r.body, `"`+code+`"`)) {
				t.Fatalf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
			}
		}
		expect("alice starts a", f.put("alice", ha, 40, 0, a[:10]), 204, "")
		expect("alice starts b", f.put("alice", hb, 40, 0, bb[:10]), 204, "")
		r := f.put("alice", hc, 10, 0, c)
		expect("alice's third open upload", r, 429, "too_many_uploads")
		if got := r.header.Get("Retry-After"); got != "3600" {
			t.Fatalf("Retry-After %q, want the upload expiry, 3600", got)
		}
		expect("bob's own uploads", f.put("bob", hc, 10, 0, c), 201, "")
		expect("alice resumes a", f.put("alice", ha, 40, 10, a[10:]), 201, "")
		// alice: a (40) kept, b (40) open.
		r = f.put("alice", hd, 30, 0, d[:5])
		expect("alice over her quota", r, 413, "blob_quota_exceeded")
		if !strings.Contains(r.body, "80 bytes") || !strings.Contains(r.body, "100 bytes") {
			t.Fatalf("the quota answer gives no figures: %s", r.body)
		}
		expect("alice up to her quota", f.put("alice", he, 20, 0, e[:5]), 204, "")
		expect("alice's quota, again", f.put("alice", hc, 10, 0, c), 429, "too_many_uploads")

		// Two hours later: her open uploads (b, e) expired; a is kept.
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		expect("alice after the expiry", f.put("alice", hd, 30, 0, d), 201, "")
		report, err := st.PurgeBlobs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if report.Uploads != 2 || report.Deleted != 0 {
			t.Fatalf("purge: %+v, want the 2 abandoned uploads removed and no content", report)
		}
		u, err := st.BlobUsage(context.Background(), "alice", "")
		if err != nil {
			t.Fatal(err)
		}
		if u != (store.BlobUsage{Bytes: 70}) {
			t.Fatalf("alice's usage after the purge: %+v, want a and d (70 bytes), nothing open", u)
		}
		expect("alice's a is still there", f.req("HEAD", "/blobs/"+ha, map[string]string{"X-Ssync-User": "alice"}, ""), 200, "")
	})
}
