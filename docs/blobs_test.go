package docs_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/store"
)

// blobStore keeps the examples' attachment content in a temporary folder.
func blobStore(t *testing.T) store.Option {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return store.WithBlobStore(d)
}

// rawAnswer reports whether a documented answer is compared as text: it has
// no body (HEAD, 201, 204), or a body that is not JSON (blob content).
func rawAnswer(hdr http.Header, body string) bool {
	return body == "" || !strings.Contains(hdr.Get("Content-Type"), "json")
}
