package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssync-go/ssync/internal/s3test"
	"github.com/ssync-go/ssync/runtime/wire"
)

// TestServeBlobsOnS3: -blobs s3://... keeps attachment content in the
// bucket, with the credentials from the environment.
func TestServeBlobsOnS3(t *testing.T) {
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	t.Setenv(secretEnv, "")
	t.Setenv("AWS_ACCESS_KEY_ID", gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.SecretKey)
	where := "s3://" + bucket + "/notes?endpoint=" + gw.Endpoint + "&region=" + gw.Region
	url, stderr := start(t, "-insecure-dev", "-blobs", where)
	if !strings.Contains(stderr.String(), where) {
		t.Errorf("the log does not name the attachment store:\n%s", stderr.String())
	}

	data := []byte("attached through the notes server")
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest(http.MethodPut, url+"/api/sync/blobs/"+hash, bytes.NewReader(data))
	req.Header.Set(wire.HeaderUser, "alice")
	req.Header.Set(wire.HeaderUploadLength, strconv.Itoa(len(data)))
	req.Header.Set(wire.HeaderUploadOffset, "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", resp.Status)
	}
	key := "notes/blobs/" + hash
	obj, err := gw.Client().GetObject(t.Context(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("the content is not in the bucket as %s: %v", key, err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("the bucket holds %q", got)
	}
}

func TestBlobsURLErrors(t *testing.T) {
	t.Setenv(secretEnv, testSecret)
	code, _, errs := runOnce(t, "-addr", "127.0.0.1:0", "-blobs", "s3://bucket?secret=x")
	if code != exitUsage || !strings.Contains(errs, "-blobs") {
		t.Fatalf("exit %d, stderr %q; want a usage error about -blobs", code, errs)
	}
}
