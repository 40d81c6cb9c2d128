// Package s3 is a blob.Store in an S3-compatible bucket (AWS S3, or any
// server that speaks its API and honours conditional writes, such as the
// Versity S3 gateway), so that several server instances share attachment
// content: an upload
// started through one instance resumes through another, and a blob
// committed by one is read through all.
//
// It follows the mapping documented in package blob, under an optional
// key prefix:
//
//	<prefix>blobs/<hash>                  a complete blob, readable once verified
//	<prefix>uploads/<id>/<offset>         the parts of an incomplete upload; the
//	                                      offset has 20 digits, so that the
//	                                      keys' order is the offsets' order
//	<prefix>tmp/                          New's short-lived check object
//
// Append buffers what it reads (up to Config.PartSize bytes) and writes it
// as one part object at its offset, so the bytes that arrived before a
// broken connection are kept, even when the request's context is gone. The
// size of an upload is the length of the run of parts that follow each
// other from offset 0.
//
// # Several instances
//
// Every part is written with a conditional PUT (If-None-Match: *): of two
// Appends at the same offset, from two instances or two requests, only one
// creates the part; the other gets a *blob.OffsetError with the size it
// should resume from. This needs a server that honours conditional writes
// (AWS S3 has since 2024, and the Versity S3 gateway, which the tests run
// against, does too); New checks it, and refuses a server that ignores the
// condition with ErrNoConditionalWrites. Commit verifies the whole content
// anyway, so even on such a server (Config.SkipCheck) two racing Appends
// could only cost a new upload, never make wrong content readable.
//
// What remains is an Append racing an Abort or a Commit, which delete the
// parts: it can leave a part that the upload's other parts no longer
// precede. Such a stray part is not counted, never read, and deleted by
// the next Append or Abort of that upload (WalkUploads lists it, so the
// server's collection of stale uploads removes it too).
//
// Commit reads the parts through a SHA-256 and writes the blob as a
// multipart upload (UploadPartCopy for the parts of at least 5 MiB, which
// then do not travel again; smaller ones are gathered into parts of
// PartSize) or, up to PartSize, as one PUT. A multipart upload is only
// completed, and a single PUT only sent, once the SHA-256 and size match:
// no content is ever readable under a hash it does not have. Writing the
// blob again when it exists refreshes its time, which the server's
// collection of unreferenced content reads.
//
// # Needs
//
// From the server: ListObjectsV2 (with delimiters), HEAD, ranged GET, PUT
// with If-None-Match: *, DELETE, and multipart uploads with
// UploadPartCopy. The bucket must exist. An interrupted Commit can leave
// an incomplete multipart upload behind: give the bucket a lifecycle rule
// that aborts incomplete multipart uploads after a day.
//
// # Credentials
//
// Config.AccessKey and Config.SecretKey, or else the AWS SDK's default
// chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN) from the environment, then AWS_PROFILE and the shared
// files in ~/.aws, then the instance's role. ParseURL never reads
// credentials from the URL: command lines are visible to other local
// users.
package s3
