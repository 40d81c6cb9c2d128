package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"testing"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/s3test"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/blob/s3"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// s3Instance starts one server instance over the database sdb, keeping
// attachment content in its own S3 store on bucket, on its own HTTP
// server.
func s3Instance(t *testing.T, be storetest.Backend, sdb *sql.DB, gw *s3test.Server, bucket string) (*harness, *s3.Store) {
	t.Helper()
	ctx := context.Background()
	bs, err := s3.New(ctx, s3.Config{
		Bucket: bucket, Prefix: "attachments/", Endpoint: gw.Endpoint, Region: gw.Region,
		AccessKey: gw.AccessKey, SecretKey: gw.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, sdb, be.Dialect, generated.Registry(), store.WithBlobStore(bs))
	if err != nil {
		t.Fatal(err)
	}
	return serveHarness(t, be, st, sdb, server.Config{}), bs
}

// TestAttachmentAcrossInstancesOnS3: two server instances share one
// database and one S3 bucket (a real S3-compatible server). A file attached
// on device A and synced through instance 1 opens on device B through
// instance 2, with the same bytes; an upload cut through one instance
// resumes through the other, without sending anything twice.
func TestAttachmentAcrossInstancesOnS3(t *testing.T) {
	gw := s3test.Start(t)
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		ctx := context.Background()
		bucket := gw.NewBucket(t)
		sdb, again := be.Open(t)
		one, blobs1 := s3Instance(t, be, sdb, gw, bucket)
		two, blobs2 := s3Instance(t, be, again(), gw, bucket)

		a := one.device("a", "alice")
		data := content(700_000, 21)
		n := noteWithFile(t, a, "through instance 1", data, "scan.pdf")
		if res := one.sync(a); res.Uploaded != 1 || res.UploadedBytes != int64(len(data)) {
			t.Fatalf("A uploaded %d attachments, %d bytes through instance 1", res.Uploaded, res.UploadedBytes)
		}
		if info, err := blobs2.Stat(ctx, n.File.Hash); err != nil || info.Size != int64(len(data)) {
			t.Fatalf("instance 2's store: %+v, %v", info, err)
		}

		b := two.device("b", "alice")
		res := two.sync(b)
		if res.Downloaded != 1 || res.DownloadedBytes != int64(len(data)) || len(res.AttachmentFailures) != 0 {
			t.Fatalf("B downloaded %d attachments, %d bytes through instance 2, failures %v", res.Downloaded, res.DownloadedBytes, res.AttachmentFailures)
		}
		got, att, err := openBytes(t, b, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) || att.Hash != n.File.Hash || att.Name != "scan.pdf" {
			t.Fatalf("B opens %d bytes (%+v); A attached %d bytes (%+v)", len(got), att, len(data), n.File)
		}

		// Cut through instance 1, resumed through instance 2: instance 2
		// sees the bytes instance 1 kept.
		big := content(1<<20+4321, 22)
		m := noteWithFile(t, b, "cut, then resumed elsewhere", big, "big.bin")
		cut := &cutUpload{n: 300_000}
		wrap := cut.wrap
		one.wrap.Store(&wrap)
		opts := one.opts(b)
		opts.MaxAttempts = 1
		if _, err := b.Synchronize(ctx, opts); err == nil {
			t.Fatal("a sync whose upload broke succeeded")
		}
		var held []blob.Upload
		if err := blobs2.WalkUploads(ctx, func(u blob.Upload) error { held = append(held, u); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(held) != 1 || held[0].Size != cut.n {
			t.Fatalf("instance 2 sees the uploads %+v, want one of %d bytes", held, cut.n)
		}
		res = two.sync(b)
		if res.Uploaded != 1 || res.UploadedBytes != int64(len(big))-cut.n {
			t.Fatalf("the resumed upload sent %d attachments, %d bytes; want 1, %d", res.Uploaded, res.UploadedBytes, int64(len(big))-cut.n)
		}
		res = one.sync(a)
		if res.Downloaded != 1 || len(res.AttachmentFailures) != 0 {
			t.Fatalf("A downloaded %d attachments through instance 1, failures %v", res.Downloaded, res.AttachmentFailures)
		}
		if got, _, err := openBytes(t, a, m.ID); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("A opens %d bytes, %v; want the %d B attached", len(got), err, len(big))
		}

		// The collection of unreferenced content walks the shared bucket:
		// both files are referenced, nothing goes, no upload is left.
		rep, err := one.server.PurgeBlobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted != 0 || rep.Kept != 2 || rep.Uploads != 0 {
			t.Fatalf("PurgeBlobs = %+v, want 2 kept", rep)
		}
		uploads := 0
		blobs1.WalkUploads(ctx, func(blob.Upload) error { uploads++; return nil })
		if uploads != 0 {
			t.Fatalf("%d uploads left in the bucket", uploads)
		}
	})
}
