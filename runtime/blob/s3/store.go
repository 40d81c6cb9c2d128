package s3

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/internal/echo"
)

// Part sizes: S3 refuses multipart parts under MinPartSize (but the last)
// and over MaxPartSize.
const (
	// DefaultPartSize is Config.PartSize when it is 0.
	DefaultPartSize = 8 << 20
	// MinPartSize is the smallest Config.PartSize, and the smallest part
	// Commit copies without reading it into memory.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest Config.PartSize.
	MaxPartSize = 5 << 30
)

// DefaultRegion is the region used when neither Config.Region nor the
// environment (AWS_REGION, the shared config file) gives one.
const DefaultRegion = "us-east-1"

// ErrNoConditionalWrites is returned by New when the server ignores (or
// refuses) PUT with If-None-Match: *, on which Append relies when several
// instances share a bucket.
var ErrNoConditionalWrites = errors.New("blob/s3: the server does not honour conditional writes (PUT with If-None-Match: *)")

// saveTimeout bounds writing the bytes an interrupted Append read, once
// the request's context is gone.
const saveTimeout = time.Minute

// deleteConcurrency bounds the DELETEs one call sends at once.
const deleteConcurrency = 8

// Config says where a Store keeps its objects and how it reaches them.
type Config struct {
	// Bucket names the bucket, which must exist.
	Bucket string
	// Prefix is put before every key (e.g. "notes/"; a missing final "/"
	// is added), so that several stores share a bucket.
	Prefix string
	// Endpoint is the URL of an S3-compatible server, e.g.
	// "http://127.0.0.1:7070"; empty means AWS S3. A custom endpoint is
	// addressed path-style (<endpoint>/<bucket>/<key>).
	Endpoint string
	// Region is the bucket's region; default: AWS_REGION or the shared
	// config file, else DefaultRegion.
	Region string
	// AccessKey and SecretKey are static credentials; when both are empty
	// the AWS SDK's default chain is used (AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, the instance's role).
	AccessKey, SecretKey string
	// PartSize is how many bytes Append buffers before it writes a part,
	// and the size of the parts Commit gathers small parts into; default
	// DefaultPartSize, between MinPartSize and MaxPartSize. Each Append in
	// progress holds up to PartSize bytes of memory.
	PartSize int64
	// HTTPClient sends the requests; default: the SDK's.
	HTTPClient *http.Client
	// SkipCheck skips New's check that the bucket is reachable, writable
	// and honours conditional writes (ErrNoConditionalWrites).
	SkipCheck bool
}

// Store is a blob.Store in an S3 bucket; see the package documentation for
// its layout. Its methods are safe for concurrent use, also by several
// processes sharing the bucket and prefix.
type Store struct {
	client   *awss3.Client
	bucket   string
	prefix   string
	partSize int64
	buffers  sync.Pool // *[]byte of partSize
}

var _ blob.Store = (*Store)(nil)

// New returns the store cfg describes. Unless cfg.SkipCheck, it writes,
// overwrites conditionally and deletes an object under <prefix>tmp/ to
// check the bucket, the credentials and the server's conditional writes.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blob/s3: no bucket")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize {
		return nil, fmt.Errorf("blob/s3: part size %d is outside [%d, %d]", cfg.PartSize, MinPartSize, MaxPartSize)
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("blob/s3: endpoint %q is not an http:// or https:// URL", cfg.Endpoint)
		}
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	switch {
	case cfg.AccessKey != "" && cfg.SecretKey != "":
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	case cfg.AccessKey != "" || cfg.SecretKey != "":
		return nil, errors.New("blob/s3: give both the access key and the secret key, or neither")
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		// Commit checks the content's SHA-256 itself; default checksums
		// would only break servers that do not know the newer headers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.TrimLeft(cfg.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &Store{client: client, bucket: cfg.Bucket, prefix: prefix, partSize: cfg.PartSize}
	s.buffers.New = func() any { b := make([]byte, s.partSize); return &b }
	if !cfg.SkipCheck {
		if err := s.check(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// check writes an object twice with If-None-Match: * (the second write
// must be refused) and deletes it.
func (s *Store) check(ctx context.Context) error {
	var r [8]byte
	rand.Read(r[:])
	key := s.prefix + "tmp/check-" + hex.EncodeToString(r[:])
	if err := s.putIfAbsent(ctx, key, nil); err != nil {
		return fmt.Errorf("blob/s3: write to bucket %s: %w", s.bucket, err)
	}
	defer s.deleteKeys(context.WithoutCancel(ctx), []string{key})
	err := s.putIfAbsent(ctx, key, nil)
	switch {
	case err == nil:
		return fmt.Errorf("%w: a second PUT of %s succeeded", ErrNoConditionalWrites, key)
	case !isConflict(err):
		return fmt.Errorf("%w: %w", ErrNoConditionalWrites, err)
	}
	return nil
}

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the prefix of the store's keys: "" or ending in "/".
func (s *Store) Prefix() string { return s.prefix }

// String returns the store's location as an s3:// URL, without its
// endpoint.
func (s *Store) String() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s *Store) blobKey(hash string) (string, error) {
	if !blob.ValidHash(hash) {
		return "", fmt.Errorf("%w: %q", blob.ErrInvalidHash, echo.Clip(hash))
	}
	return s.prefix + "blobs/" + hash, nil
}

func (s *Store) uploadPrefix(id string) (string, error) {
	if !blob.ValidUploadID(id) {
		return "", fmt.Errorf("%w %q", blob.ErrInvalidUpload, echo.Clip(id))
	}
	return s.prefix + "uploads/" + id + "/", nil
}

// partName is the last segment of the key of the part at offset.
func partName(offset int64) string { return fmt.Sprintf("%020d", offset) }

// Errors of the S3 API, told apart by type and status, not by text.

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// isConflict reports whether a conditional write was refused because the
// object exists (412), or because another conditional write to it was in
// flight (409).
func isConflict(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if c := re.HTTPStatusCode(); c == http.StatusPreconditionFailed || c == http.StatusConflict {
			return true
		}
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, hash string) (blob.Info, error) {
	key, err := s.blobKey(hash)
	if err != nil {
		return blob.Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if isNotFound(err) {
		return blob.Info{}, fmt.Errorf("%w: %s", blob.ErrNotFound, hash)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/s3: stat %s: %w", key, err)
	}
	return blob.Info{Hash: hash, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Open implements blob.Store: a reader that sends a ranged GET from the
// position Seek sets, on its first Read after the Seek. Its requests use
// ctx, which must stay alive while it is read.
func (s *Store) Open(ctx context.Context, hash string) (io.ReadSeekCloser, error) {
	info, err := s.Stat(ctx, hash)
	if err != nil {
		return nil, err
	}
	key, _ := s.blobKey(hash)
	return &reader{ctx: ctx, s: s, key: key, hash: hash, size: info.Size}, nil
}

// reader reads an object from pos with ranged GETs.
type reader struct {
	ctx    context.Context
	s      *Store
	key    string
	hash   string
	size   int64
	pos    int64
	body   io.ReadCloser
	closed bool
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("blob/s3: read after Close")
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body == nil {
		in := &awss3.GetObjectInput{Bucket: &r.s.bucket, Key: &r.key}
		if r.pos > 0 {
			in.Range = aws.String("bytes=" + strconv.FormatInt(r.pos, 10) + "-")
		}
		out, err := r.s.client.GetObject(r.ctx, in)
		if isNotFound(err) {
			return 0, fmt.Errorf("%w: %s", blob.ErrNotFound, r.hash)
		}
		if err != nil {
			return 0, fmt.Errorf("blob/s3: get %s from %d: %w", r.key, r.pos, err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	if err == io.EOF {
		r.body.Close()
		r.body = nil
		if r.pos < r.size {
			return n, fmt.Errorf("blob/s3: %s ended at %d of %d bytes: %w", r.key, r.pos, r.size, io.ErrUnexpectedEOF)
		}
		err = nil
		if n == 0 {
			err = io.EOF
		}
	}
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return r.pos, errors.New("blob/s3: Seek: invalid whence")
	}
	if abs < 0 {
		return r.pos, errors.New("blob/s3: Seek: negative position")
	}
	if abs != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = abs
	return abs, nil
}

func (r *reader) Close() error {
	r.closed = true
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, hash string) error {
	key, err := s.blobKey(hash)
	if err != nil {
		return err
	}
	return s.deleteKeys(ctx, []string{key})
}

// Walk implements blob.Store: one ListObjectsV2 page at a time.
func (s *Store) Walk(ctx context.Context, fn func(blob.Info) error) error {
	prefix := s.prefix + "blobs/"
	return s.list(ctx, prefix, func(o types.Object) error {
		hash := strings.TrimPrefix(aws.ToString(o.Key), prefix)
		if !blob.ValidHash(hash) {
			return nil
		}
		return fn(blob.Info{Hash: hash, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
	})
}

// list calls fn for every object under prefix.
func (s *Store) list(ctx context.Context, prefix string, fn func(types.Object) error) error {
	p := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blob/s3: list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// part is one part object of an upload.
type part struct {
	key     string
	offset  int64
	size    int64
	modTime time.Time
}

// parts lists an upload's parts. run holds the parts that follow each
// other from offset 0, which make the upload; stray holds the others: left
// by an Append that raced with Abort or Commit deleting the parts before
// it. A stray part is never read.
func (s *Store) parts(ctx context.Context, id string) (run, stray []part, err error) {
	prefix, err := s.uploadPrefix(id)
	if err != nil {
		return nil, nil, err
	}
	var all []part
	err = s.list(ctx, prefix, func(o types.Object) error {
		key := aws.ToString(o.Key)
		name := strings.TrimPrefix(key, prefix)
		off, perr := strconv.ParseInt(name, 10, 64)
		p := part{key: key, offset: off, size: aws.ToInt64(o.Size), modTime: aws.ToTime(o.LastModified)}
		if perr != nil || off < 0 || name != partName(off) {
			p.offset = -1 // not a part: stray
		}
		all = append(all, p)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(all, func(a, b part) int { return cmp.Compare(a.offset, b.offset) })
	next, broken := int64(0), false
	for _, p := range all {
		switch {
		case p.offset < 0:
			stray = append(stray, p)
		case p.offset == next && !broken:
			run = append(run, p)
			next += p.size
		default:
			broken = true
			stray = append(stray, p)
		}
	}
	return run, stray, nil
}

// end returns the size of the upload a run of parts makes.
func end(run []part) int64 {
	if len(run) == 0 {
		return 0
	}
	last := run[len(run)-1]
	return last.offset + last.size
}

func keys(lists ...[]part) []string {
	var out []string
	for _, l := range lists {
		for _, p := range l {
			out = append(out, p.key)
		}
	}
	return out
}

// UploadSize implements blob.Store.
func (s *Store) UploadSize(ctx context.Context, upload string) (int64, error) {
	run, _, err := s.parts(ctx, upload)
	if err != nil {
		return 0, err
	}
	return end(run), nil
}

// Append implements blob.Store. It reads up to PartSize bytes at a time
// and writes each as a part, created only if no part has its key (so that
// of two Appends at one offset one fails, with a *blob.OffsetError). When
// r fails, the bytes read before are written as a part (with a context
// of their own: the request's is usually gone by then), and r's error is
// returned.
func (s *Store) Append(ctx context.Context, upload string, offset int64, r io.Reader) (int64, error) {
	prefix, err := s.uploadPrefix(upload)
	if err != nil {
		return 0, err
	}
	run, stray, err := s.parts(ctx, upload)
	if err != nil {
		return 0, err
	}
	have := end(run)
	if len(stray) > 0 {
		// What an Abort or Commit left while an Append raced it: it would
		// block the offsets the upload grows into.
		if err := s.deleteKeys(ctx, keys(stray)); err != nil {
			return have, err
		}
	}
	if offset != have {
		return have, &blob.OffsetError{Offset: offset, Have: have}
	}
	bp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bp)
	buf := *bp
	pos := offset
	for {
		n, rerr := fill(r, buf)
		if rerr == nil && ctx.Err() != nil {
			rerr = ctx.Err()
		}
		if n > 0 {
			wctx := ctx
			if rerr != nil && rerr != io.EOF {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
				defer cancel() // once: the loop ends below
			}
			err := s.putIfAbsent(wctx, prefix+partName(pos), buf[:n])
			if isConflict(err) {
				// Another Append wrote at this offset first.
				have, lerr := s.UploadSize(wctx, upload)
				if lerr != nil {
					return pos, lerr
				}
				return have, &blob.OffsetError{Offset: pos, Have: have}
			}
			if err != nil {
				return pos, fmt.Errorf("blob/s3: append to upload %s at %d: %w", upload, pos, err)
			}
			pos += int64(n)
		}
		switch {
		case rerr == io.EOF:
			return pos, nil
		case rerr != nil:
			return pos, fmt.Errorf("blob/s3: append to upload %s: %w", upload, rerr)
		}
	}
}

// fill reads into p until it is full (nil), r ends (io.EOF, p maybe full)
// or r fails (its error).
func fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// putIfAbsent writes data to key unless an object has that key.
func (s *Store) putIfAbsent(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch:   aws.String("*"),
	})
	return err
}

// Commit implements blob.Store. It reads the upload's parts in order
// through a SHA-256 while it writes them to the blob's key: as one PUT,
// sent only after the check, up to PartSize bytes; else as a multipart
// upload, completed only after the check. A blob that exists is written
// again, which refreshes its time.
func (s *Store) Commit(ctx context.Context, upload, hash string, size int64) error {
	if _, err := s.uploadPrefix(upload); err != nil {
		return err
	}
	key, err := s.blobKey(hash)
	if err != nil {
		return err
	}
	run, stray, err := s.parts(ctx, upload)
	if err != nil {
		return err
	}
	have := end(run)
	switch {
	case len(run) == 0 && size > 0:
		return fmt.Errorf("%w: no upload %s", blob.ErrIncomplete, upload)
	case have < size:
		return fmt.Errorf("%w: %d of %d bytes", blob.ErrIncomplete, have, size)
	case have > size:
		return s.discard(ctx, run, stray, fmt.Errorf("%w: %d bytes, expected %d", blob.ErrMismatch, have, size))
	}
	if size <= s.partSize {
		err = s.commitSmall(ctx, run, key, hash, size)
	} else {
		err = s.commitMultipart(ctx, run, key, hash, size)
	}
	switch {
	case errors.Is(err, blob.ErrMismatch):
		return s.discard(ctx, run, stray, err)
	case err != nil:
		return err
	}
	// The blob is readable: leftover parts only cost space, and Abort
	// (PurgeBlobs) removes them later.
	s.deleteKeys(ctx, keys(run, stray))
	return nil
}

// discard deletes an upload's parts and returns verr.
func (s *Store) discard(ctx context.Context, run, stray []part, verr error) error {
	if err := s.deleteKeys(ctx, keys(run, stray)); err != nil {
		return fmt.Errorf("%w (and removing the upload failed: %w)", verr, err)
	}
	return verr
}

// verified returns nil when h and n are the SHA-256 and size expected,
// else an ErrMismatch.
func verified(h []byte, n int64, hash string, size int64) error {
	switch got := hex.EncodeToString(h); {
	case n != size:
		return fmt.Errorf("%w: %d bytes, expected %d", blob.ErrMismatch, n, size)
	case got != hash:
		return fmt.Errorf("%w: SHA-256 is %s, expected %s", blob.ErrMismatch, got, hash)
	}
	return nil
}

// getPart opens a part for reading.
func (s *Store) getPart(ctx context.Context, p part) (*awss3.GetObjectOutput, error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &s.bucket, Key: &p.key})
	if isNotFound(err) {
		// Removed meanwhile, by an Abort or a concurrent Commit.
		return nil, fmt.Errorf("%w: part %s is gone", blob.ErrIncomplete, p.key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/s3: read part %s: %w", p.key, err)
	}
	return out, nil
}

// commitSmall reads the parts into memory, checks them and PUTs them.
func (s *Store) commitSmall(ctx context.Context, run []part, key, hash string, size int64) error {
	bp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bp)
	buf := (*bp)[:0]
	for _, p := range run {
		out, err := s.getPart(ctx, p)
		if err != nil {
			return err
		}
		m, rerr := fill(out.Body, (*bp)[len(buf):size])
		buf = buf[:len(buf)+m]
		if rerr == nil {
			// The part holds more than listed (or than size): the
			// upload changed meanwhile.
			var one [1]byte
			if k, _ := out.Body.Read(one[:]); k > 0 {
				out.Body.Close()
				return fmt.Errorf("%w: part %s grew while it was read", blob.ErrMismatch, p.key)
			}
		} else if rerr != io.EOF {
			out.Body.Close()
			return fmt.Errorf("blob/s3: read part %s: %w", p.key, rerr)
		}
		out.Body.Close()
	}
	sum := sha256.Sum256(buf)
	if err := verified(sum[:], int64(len(buf)), hash, size); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(int64(len(buf))),
	})
	if err != nil {
		return fmt.Errorf("blob/s3: write %s: %w", key, err)
	}
	return nil
}

// commitMultipart writes the blob as a multipart upload while it hashes
// the parts: a part of at least MinPartSize (or the last one) that starts
// a new destination part is copied by the server, from the very version
// that was hashed (x-amz-copy-source-if-match its ETag); smaller ones are
// gathered into parts of PartSize. The upload is completed only when the
// whole content matches.
func (s *Store) commitMultipart(ctx context.Context, run []part, key, hash string, size int64) (err error) {
	created, err := s.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("blob/s3: start writing %s: %w", key, err)
	}
	mpu := created.UploadId
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
			s.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: mpu})
			cancel()
		}
	}()
	bp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bp)
	buf, held := *bp, 0
	h := sha256.New()
	var n int64
	var done []types.CompletedPart
	flush := func() error {
		num := int32(len(done) + 1)
		out, err := s.client.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: &s.bucket, Key: &key, UploadId: mpu, PartNumber: &num,
			Body: bytes.NewReader(buf[:held]), ContentLength: aws.Int64(int64(held)),
		})
		if err != nil {
			return fmt.Errorf("blob/s3: write part %d of %s: %w", num, key, err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: &num})
		held = 0
		return nil
	}
	for i, p := range run {
		out, err := s.getPart(ctx, p)
		if err != nil {
			return err
		}
		if held == 0 && (p.size >= MinPartSize || i == len(run)-1) {
			m, rerr := io.Copy(h, out.Body)
			out.Body.Close()
			n += m
			if rerr != nil {
				return fmt.Errorf("blob/s3: read part %s: %w", p.key, rerr)
			}
			num := int32(len(done) + 1)
			copied, err := s.client.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{
				Bucket: &s.bucket, Key: &key, UploadId: mpu, PartNumber: &num,
				CopySource:        aws.String(copySource(s.bucket, p.key)),
				CopySourceIfMatch: out.ETag,
			})
			if isNotFound(err) || isConflict(err) {
				return fmt.Errorf("%w: part %s changed while it was read", blob.ErrIncomplete, p.key)
			}
			if err != nil {
				return fmt.Errorf("blob/s3: copy part %s to %s: %w", p.key, key, err)
			}
			var etag *string
			if copied.CopyPartResult != nil {
				etag = copied.CopyPartResult.ETag
			}
			done = append(done, types.CompletedPart{ETag: etag, PartNumber: &num})
			continue
		}
		for {
			m, rerr := fill(out.Body, buf[held:])
			h.Write(buf[held : held+m])
			held += m
			n += int64(m)
			if held == len(buf) {
				if err := flush(); err != nil {
					out.Body.Close()
					return err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				out.Body.Close()
				return fmt.Errorf("blob/s3: read part %s: %w", p.key, rerr)
			}
		}
		out.Body.Close()
	}
	if held > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	if err := verified(h.Sum(nil), n, hash, size); err != nil {
		return err
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: mpu,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		return fmt.Errorf("blob/s3: complete %s: %w", key, err)
	}
	return nil
}

// copySource is the x-amz-copy-source of an object: bucket/key, escaped.
func copySource(bucket, key string) string {
	segs := strings.Split(bucket+"/"+key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Abort implements blob.Store: it deletes every object under the upload's
// key prefix.
func (s *Store) Abort(ctx context.Context, upload string) error {
	prefix, err := s.uploadPrefix(upload)
	if err != nil {
		return err
	}
	var all []string
	if err := s.list(ctx, prefix, func(o types.Object) error { all = append(all, aws.ToString(o.Key)); return nil }); err != nil {
		return err
	}
	return s.deleteKeys(ctx, all)
}

// WalkUploads implements blob.Store: it lists the uploads (a delimited
// listing of <prefix>uploads/), then each one's parts. An upload's ModTime
// is its newest part's.
func (s *Store) WalkUploads(ctx context.Context, fn func(blob.Upload) error) error {
	prefix := s.prefix + "uploads/"
	p := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blob/s3: list %s: %w", prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			id := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if !blob.ValidUploadID(id) {
				continue
			}
			run, stray, err := s.parts(ctx, id)
			if err != nil {
				return err
			}
			if len(run) == 0 && len(stray) == 0 {
				continue // removed meanwhile
			}
			u := blob.Upload{ID: id, Size: end(run)}
			for _, p := range append(run, stray...) {
				if p.modTime.After(u.ModTime) {
					u.ModTime = p.modTime
				}
			}
			if err := fn(u); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteKeys deletes objects (a missing one is not an error), a few at a
// time with single DELETEs, which every S3-compatible server supports.
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, deleteConcurrency)
	)
	for _, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
			if err != nil && !isNotFound(err) {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("blob/s3: delete %s: %w", key, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}
