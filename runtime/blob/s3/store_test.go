package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssync-go/ssync/internal/s3test"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/blob/blobtest"
	"github.com/ssync-go/ssync/runtime/blob/s3"
)

// open returns a store on the gateway's bucket under prefix, as one more
// server instance would open it.
func open(t *testing.T, gw *s3test.Server, bucket, prefix string, partSize int64) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), s3.Config{
		Bucket:    bucket,
		Prefix:    prefix,
		Endpoint:  gw.Endpoint,
		Region:    gw.Region,
		AccessKey: gw.AccessKey,
		SecretKey: gw.SecretKey,
		PartSize:  partSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformance runs the tests every blob.Store passes against a real
// S3-compatible server, through two stores on one bucket: two instances.
func TestConformance(t *testing.T) {
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	blobtest.Run(t, func(t *testing.T) (blob.Store, blob.Store) {
		prefix := "conformance/" + strings.ReplaceAll(t.Name(), "/", "-")
		return open(t, gw, bucket, prefix, 0), open(t, gw, bucket, prefix, 0)
	})
}

// TestLargeCommit commits uploads of several parts as multipart uploads:
// whole parts are copied by the server, the small parts an interrupted
// Append leaves are gathered, and the content must come out the same.
func TestLargeCommit(t *testing.T) {
	ctx := context.Background()
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	a := open(t, gw, bucket, "p", s3.MinPartSize)
	b := open(t, gw, bucket, "p", s3.MinPartSize)
	content := blobtest.Content(13<<20+12345, 3)
	hash := blobtest.Sum(content)

	// Uninterrupted: parts of 5, 5 and 3 MiB, all copied.
	if got := blobtest.Upload(t, a, "whole", content); got != hash {
		t.Fatal(got)
	}
	if !bytes.Equal(blobtest.Read(t, b, hash), content) {
		t.Fatal("the copied multipart blob differs")
	}
	multipart := func(parts string) {
		t.Helper()
		head, err := gw.Client().HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: aws.String("p/blobs/" + hash)})
		if err != nil || !strings.HasSuffix(strings.Trim(aws.ToString(head.ETag), `"`), "-"+parts) {
			t.Fatalf("blob ETag %v, %v: want a multipart upload of %s parts", head, err, parts)
		}
	}
	multipart("3")
	if err := a.Delete(ctx, hash); err != nil {
		t.Fatal(err)
	}

	// Interrupted twice: small parts (some KiB, then 1 MiB), then 5, 5
	// and about 2 MiB.
	n, err := a.Append(ctx, "cut", 0, iotest.TimeoutReader(bytes.NewReader(content[:70_000])))
	if err == nil || n == 0 {
		t.Fatalf("interrupted Append = %d, %v", n, err)
	}
	next := n + 1<<20
	if n, err = b.Append(ctx, "cut", n, bytes.NewReader(content[n:next])); err != nil || n != next {
		t.Fatalf("Append = %d, %v", n, err)
	}
	if n, err = a.Append(ctx, "cut", n, bytes.NewReader(content[n:])); err != nil || n != int64(len(content)) {
		t.Fatalf("Append the rest = %d, %v", n, err)
	}
	if err := b.Commit(ctx, "cut", hash, int64(len(content))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blobtest.Read(t, a, hash), content) {
		t.Fatal("the gathered multipart blob differs")
	}
	multipart("3")
	info, err := a.Stat(ctx, hash)
	if err != nil || info.Size != int64(len(content)) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}

	// A large mismatch is refused, its parts deleted, and nothing appears.
	wrong := bytes.Clone(content)
	wrong[len(wrong)/2] ^= 1
	if _, err := a.Append(ctx, "bad", 0, bytes.NewReader(wrong)); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, "bad", hash, int64(len(content))); !errors.Is(err, blob.ErrMismatch) {
		t.Fatalf("Commit of wrong content = %v, want ErrMismatch", err)
	}
	if _, err := a.Stat(ctx, hash); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("wrong content became readable: %v", err)
	}
	if size, _ := a.UploadSize(ctx, "bad"); size != 0 {
		t.Fatalf("the mismatching upload was kept: %d bytes", size)
	}
	// No multipart upload is left behind.
	mpus, err := gw.Client().ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(mpus.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left", len(mpus.Uploads))
	}
}

// gateReader tells when it is first read (its Append has looked at the
// upload), then waits for the gate to open.
type gateReader struct {
	r       io.Reader
	started chan struct{}
	gate    chan struct{}
	once    bool
}

func (g *gateReader) Read(p []byte) (int, error) {
	if !g.once {
		g.once = true
		close(g.started)
		<-g.gate
	}
	return g.r.Read(p)
}

// TestConditionalPartWrite: two instances append at the same offset, both
// having seen the upload at that size; the conditional PUT lets only the
// first create the part, and the second is told where the upload stands.
func TestConditionalPartWrite(t *testing.T) {
	ctx := context.Background()
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	a := open(t, gw, bucket, "", 0)
	b := open(t, gw, bucket, "", 0)
	if _, err := a.Append(ctx, "race", 0, strings.NewReader("head-")); err != nil {
		t.Fatal(err)
	}
	slow := &gateReader{r: strings.NewReader("from A"), started: make(chan struct{}), gate: make(chan struct{})}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result)
	go func() {
		n, err := a.Append(ctx, "race", 5, slow)
		done <- result{n, err}
	}()
	<-slow.started // A saw 5 bytes and reads its body
	if n, err := b.Append(ctx, "race", 5, strings.NewReader("from B, longer")); err != nil || n != 19 {
		t.Fatalf("B's Append = %d, %v", n, err)
	}
	close(slow.gate)
	res := <-done
	var oe *blob.OffsetError
	if !errors.As(res.err, &oe) || oe.Offset != 5 || oe.Have != 19 || res.n != 19 {
		t.Fatalf("A's Append = %d, %v; want an OffsetError at 5 with Have 19", res.n, res.err)
	}
	want := "head-from B, longer"
	if err := b.Commit(ctx, "race", blobtest.Sum([]byte(want)), int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if got := blobtest.Read(t, a, blobtest.Sum([]byte(want))); string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// cancelReader cancels its context, then fails: a client that went away.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.cancel()
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// TestAppendKeepsBytesAfterDisconnect: when the client goes away, the
// request's context is cancelled as its body fails; what arrived is kept.
func TestAppendKeepsBytesAfterDisconnect(t *testing.T) {
	gw := s3test.Start(t)
	s := open(t, gw, gw.NewBucket(t), "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := s.Append(ctx, "gone", 0, &cancelReader{r: strings.NewReader("these bytes arrived"), cancel: cancel})
	if err == nil || n != 19 {
		t.Fatalf("Append = %d, %v; want 19 and an error", n, err)
	}
	if size, err := s.UploadSize(context.Background(), "gone"); err != nil || size != 19 {
		t.Fatalf("UploadSize = %d, %v; want 19", size, err)
	}
}

// TestStrayParts: a part that an Append raced with Abort left behind
// (not preceded by the upload's other parts) is not counted, is never
// read, and does not block the upload.
func TestStrayParts(t *testing.T) {
	ctx := context.Background()
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	s := open(t, gw, bucket, "x/", 0)
	stray := "x/uploads/up/00000000000000000005"
	if _, err := gw.Client().PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &stray, Body: strings.NewReader("junk")}); err != nil {
		t.Fatal(err)
	}
	if size, err := s.UploadSize(ctx, "up"); err != nil || size != 0 {
		t.Fatalf("UploadSize with a stray part = %d, %v; want 0", size, err)
	}
	found := false
	s.WalkUploads(ctx, func(u blob.Upload) error { found = u.ID == "up" && u.Size == 0; return nil })
	if !found {
		t.Fatal("WalkUploads does not list the upload holding a stray part (PurgeBlobs could not remove it)")
	}
	hash := blobtest.Upload(t, s, "up", []byte("0123456789"))
	if got := blobtest.Read(t, s, hash); string(got) != "0123456789" {
		t.Fatalf("read %q", got)
	}
	// A key that names no part is not counted, and does not hide the parts.
	for key, body := range map[string]string{"x/uploads/up2/junk": "junk", "x/uploads/up2/00000000000000000000": "abc"} {
		if _, err := gw.Client().PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if size, err := s.UploadSize(ctx, "up2"); err != nil || size != 3 {
		t.Fatalf("UploadSize with a foreign key = %d, %v; want 3", size, err)
	}
	if err := s.Abort(ctx, "up2"); err != nil {
		t.Fatal(err)
	}
	list, err := gw.Client().ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("x/uploads/")})
	if err != nil || len(list.Contents) != 0 {
		t.Fatalf("objects left under uploads/: %d, %v", len(list.Contents), err)
	}
}

// TestPrefixesAreSeparate: two stores in one bucket under other prefixes
// see nothing of each other.
func TestPrefixesAreSeparate(t *testing.T) {
	ctx := context.Background()
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	a := open(t, gw, bucket, "a", 0)
	b := open(t, gw, bucket, "a2/", 0)
	hash := blobtest.Upload(t, a, "u", []byte("only in a"))
	if _, err := b.Stat(ctx, hash); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat through another prefix = %v", err)
	}
	a.Append(ctx, "pending", 0, strings.NewReader("x"))
	count := 0
	b.Walk(ctx, func(blob.Info) error { count++; return nil })
	b.WalkUploads(ctx, func(blob.Upload) error { count++; return nil })
	if count != 0 {
		t.Fatalf("the other prefix sees %d blobs and uploads", count)
	}
	if a.Prefix() != "a/" || a.Bucket() != bucket || a.String() != "s3://"+bucket+"/a/" {
		t.Fatalf("Prefix %q, Bucket %q, String %q", a.Prefix(), a.Bucket(), a.String())
	}
}

func TestNewChecksTheBucket(t *testing.T) {
	gw := s3test.Start(t)
	ctx := context.Background()
	_, err := s3.New(ctx, s3.Config{Bucket: "no-such-bucket", Endpoint: gw.Endpoint, AccessKey: gw.AccessKey, SecretKey: gw.SecretKey})
	if err == nil {
		t.Fatal("New on a missing bucket succeeded")
	}
	_, err = s3.New(ctx, s3.Config{Bucket: gw.NewBucket(t), Endpoint: gw.Endpoint, AccessKey: gw.AccessKey, SecretKey: "wrong-secret"})
	if err == nil {
		t.Fatal("New with a wrong secret succeeded")
	}
	if _, err := s3.New(ctx, s3.Config{Bucket: "b", PartSize: 1 << 20, SkipCheck: true}); err == nil {
		t.Fatal("New with a 1 MiB part size succeeded")
	}
	if _, err := s3.New(ctx, s3.Config{Bucket: "b", AccessKey: "only", SkipCheck: true}); err == nil {
		t.Fatal("New with an access key and no secret succeeded")
	}
}

func TestParseURL(t *testing.T) {
	cfg, err := s3.ParseURL("s3://attachments/notes/prod?endpoint=http://127.0.0.1:7070&region=eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Bucket: "attachments", Prefix: "notes/prod", Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1"}
	if cfg != want {
		t.Fatalf("ParseURL = %+v, want %+v", cfg, want)
	}
	if cfg, err := s3.ParseURL("s3://bucket"); err != nil || cfg != (s3.Config{Bucket: "bucket"}) {
		t.Fatalf("ParseURL(s3://bucket) = %+v, %v", cfg, err)
	}
	for _, bad := range []string{
		"bucket/prefix",
		"http://bucket/prefix",
		"s3:///prefix",
		"s3://key:secret@bucket",
		"s3://bucket?endpoint=127.0.0.1:9000",
		"s3://bucket?acces_key=x",
		"s3://bucket?region=a&region=b",
	} {
		if _, err := s3.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}

// TestListingsPage: Walk and an upload's parts go past the first page of
// a listing (1,000 keys).
func TestListingsPage(t *testing.T) {
	ctx := context.Background()
	gw := s3test.Start(t)
	bucket := gw.NewBucket(t)
	s := open(t, gw, bucket, "many", 0)
	const n = 1010
	put := func(key string) error {
		_, err := gw.Client().PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("x")})
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs <- put("many/blobs/" + blobtest.Sum([]byte(strconv.Itoa(i))))
			errs <- put(fmt.Sprintf("many/uploads/u/%020d", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count := 0
	if err := s.Walk(ctx, func(blob.Info) error { count++; return nil }); err != nil || count != n {
		t.Fatalf("Walk found %d blobs, %v; want %d", count, err, n)
	}
	if size, err := s.UploadSize(ctx, "u"); err != nil || size != n {
		t.Fatalf("UploadSize = %d, %v; want %d", size, err, n)
	}
	if err := s.Abort(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if size, err := s.UploadSize(ctx, "u"); err != nil || size != 0 {
		t.Fatalf("UploadSize after Abort = %d, %v", size, err)
	}
}
