package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
	"github.com/ssync-go/ssync/runtime/wire"
)

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// put sends part of an upload as user.
func (f *fixture) put(user, hash string, length, offset int, part string) reply {
	f.t.Helper()
	return f.req(http.MethodPut, "/blobs/"+hash, map[string]string{
		wire.HeaderUser:         user,
		wire.HeaderUploadLength: strconv.Itoa(length),
		wire.HeaderUploadOffset: strconv.Itoa(offset),
	}, part)
}

func TestBlobUploadProtocol(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		dir, err := blob.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, b, server.Config{MaxBlobBytes: 100}, store.WithBlobStore(dir))
		const content = "the quick brown fox"
		h := hashOf(content)
		alice := map[string]string{wire.HeaderUser: "alice"}

		for _, c := range []struct {
			name   string
			path   string
			hdr    map[string]string
			body   string
			status int
			code   string
		}{
			{"bad hash", "/blobs/" + strings.ToUpper(h), map[string]string{wire.HeaderUploadLength: "1"}, "x", 400, "invalid_hash"},
			{"path in hash", "/blobs/..%2F..%2Fetc", map[string]string{wire.HeaderUploadLength: "1"}, "x", 400, "invalid_hash"},
			{"no length", "/blobs/" + h, nil, "x", 400, "invalid_upload"},
			{"negative length", "/blobs/" + h, map[string]string{wire.HeaderUploadLength: "-1"}, "", 400, "invalid_upload"},
			{"offset past length", "/blobs/" + h, map[string]string{wire.HeaderUploadLength: "3", wire.HeaderUploadOffset: "4"}, "", 400, "invalid_upload"},
			{"body past length", "/blobs/" + h, map[string]string{wire.HeaderUploadLength: "2"}, "abc", 400, "invalid_upload"},
			{"too large", "/blobs/" + h, map[string]string{wire.HeaderUploadLength: "101"}, "", 413, "blob_too_large"},
		} {
			hdr := map[string]string{wire.HeaderUser: "alice"}
			for k, v := range c.hdr {
				hdr[k] = v
			}
			r := f.req(http.MethodPut, c.path, hdr, c.body)
			if r.status != c.status || !strings.Contains(r.body, `"`+c.code+`"`) {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
			}
		}

		// Parts, a wrong offset, and a user who cannot see another's
		// upload.
		if r := f.put("alice", h, len(content), 0, content[:5]); r.status != http.StatusNoContent || r.header.Get(wire.HeaderUploadOffset) != "5" {
			t.Fatalf("first part: %d %q", r.status, r.header.Get(wire.HeaderUploadOffset))
		}
		if r := f.put("alice", h, len(content), 2, content[2:]); r.status != http.StatusConflict ||
			r.header.Get(wire.HeaderUploadOffset) != "5" || !strings.Contains(r.body, "upload_offset_mismatch") {
			t.Fatalf("wrong offset: %d %s", r.status, r.body)
		}
		if r := f.req(http.MethodHead, "/blobs/"+h, map[string]string{wire.HeaderUser: "bob"}, ""); r.status != http.StatusNotFound ||
			r.header.Get(wire.HeaderUploadOffset) != "0" {
			t.Fatalf("bob sees alice's upload: %d %q", r.status, r.header.Get(wire.HeaderUploadOffset))
		}
		if r := f.put("alice", h, len(content), 5, content[5:]); r.status != http.StatusCreated {
			t.Fatalf("last part: %d %s", r.status, r.body)
		}
		// Content alice may read is not taken again.
		if r := f.put("alice", h, len(content), 0, content); r.status != http.StatusOK ||
			r.header.Get(wire.HeaderUploadOffset) != strconv.Itoa(len(content)) {
			t.Fatalf("upload of content alice has: %d", r.status)
		}
		r := f.req(http.MethodGet, "/blobs/"+h, alice, "")
		if r.status != http.StatusOK || r.body != content || r.header.Get("ETag") != `"`+h+`"` {
			t.Fatalf("GET: %d %q %q", r.status, r.body, r.header.Get("ETag"))
		}
		// An empty file is content too.
		empty := hashOf("")
		if r := f.put("alice", empty, 0, 0, ""); r.status != http.StatusCreated {
			t.Fatalf("empty upload: %d %s", r.status, r.body)
		}
		if r := f.req(http.MethodGet, "/blobs/"+empty, alice, ""); r.status != http.StatusOK || r.body != "" {
			t.Fatalf("GET of the empty file: %d %q", r.status, r.body)
		}
	})
}

func TestBlobsWithoutBlobStore(t *testing.T) {
	f := newFixture(t, storetest.Backends(t)[0], server.Config{})
	r := f.req(http.MethodGet, "/blobs/"+hashOf("x"), map[string]string{wire.HeaderUser: "alice"}, "")
	if r.status != http.StatusNotImplemented || !strings.Contains(r.body, "blobs_unsupported") {
		t.Fatalf("GET without a blob store: %d %s", r.status, r.body)
	}
	// Rows with attachments still sync: only their references.
	body := `[{"collection":"ss_tb_note","changes":{"created":[{"id":"` + newID() + `","createdAt":"2024-01-01T00:00:00Z",` +
		`"updatedAt":"2024-01-01T00:00:00Z","deletedAt":null,"message":"m","completed":false,"userId":null,"userName":"A",` +
		`"file":{"hash":"` + hashOf("x") + `","size":1}}]}}]`
	if r := f.req(http.MethodPost, "/push?collections=ss_tb_note", map[string]string{wire.HeaderUser: "alice"}, body); r.status != http.StatusOK {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	// A malformed attachment is refused like any bad field.
	bad := strings.Replace(body, hashOf("x"), "../../etc/passwd", 1)
	if r := f.req(http.MethodPost, "/push?collections=ss_tb_note", map[string]string{wire.HeaderUser: "alice"}, bad); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "invalid attachment") {
		t.Fatalf("push of a malformed attachment: %d %s", r.status, r.body)
	}
}
