// Package contentenc is the HTTP content coding of ssync's bodies (zstd and
// gzip, through github.com/klauspost/compress), shared by the server and the
// client: which coding an Accept-Encoding allows, writers that flush per
// batch, and readers that stop at a limit of decoded bytes, so that a small
// compressed body cannot expand into a large one.
package contentenc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The content codings, as named in Accept-Encoding and Content-Encoding.
const (
	Zstd = "zstd"
	Gzip = "gzip"
)

// Supported lists the codings this package reads and writes, preferred
// first.
var Supported = []string{Zstd, Gzip}

// AcceptEncoding is the Accept-Encoding a client that reads every supported
// coding sends.
const AcceptEncoding = "zstd, gzip"

// The levels, chosen by measurement on loopback (cmd/ssync-bench): zstd's
// fastest level compresses the JSON of a pull about 8 times at several
// hundred MB/s, which costs a first sync less than it saves in bytes; gzip
// (for clients without zstd) at its fastest level.
var (
	zstdLevel = zstd.SpeedFastest
	gzipLevel = gzip.BestSpeed
)

// zstdWindow is the window zstd writers use (the default is 8 MiB). The
// pools lose their coders at every garbage collection, and a busy process
// collects often: a new writer allocates about twice its window, and the
// reader of its frames a window too. Measured on the JSON of 20,000 notes,
// 1 MiB compresses as well as 8 MiB (ratio 0.0872 against 0.0875) and a
// new writer and reader allocate 3.3 MB instead of 9.6 MB.
const zstdWindow = 1 << 20

// Known reports whether enc names a supported coding.
func Known(enc string) bool { return enc == Zstd || enc == Gzip }

// Negotiate returns the coding to answer with for the Accept-Encoding
// header value accept: zstd when accepted, else gzip, else "" (identity).
// A coding with q=0 is not accepted.
func Negotiate(accept string) string {
	ok := map[string]bool{}
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		ok[name] = q > 0
	}
	for _, enc := range Supported {
		if ok[enc] {
			return enc
		}
	}
	return ""
}

// Writer compresses into an underlying writer. Flush sends what was written
// so far as a complete block, so that a reader can decode it before more
// comes; Close ends the stream (and must be called).
type Writer interface {
	io.WriteCloser
	Flush() error
}

var (
	zstdWriters = sync.Pool{New: func() any {
		w, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevel), zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(zstdWindow))
		return w
	}}
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzipLevel)
		return w
	}}
)

// NewWriter returns a writer of enc into w. Its Close returns it to a pool;
// it must not be used after.
func NewWriter(enc string, w io.Writer) (Writer, error) {
	switch enc {
	case Zstd:
		z := zstdWriters.Get().(*zstd.Encoder)
		z.Reset(w)
		return &pooled{Writer: z, put: func() { zstdWriters.Put(z) }}, nil
	case Gzip:
		g := gzipWriters.Get().(*gzip.Writer)
		g.Reset(w)
		return &pooled{Writer: g, put: func() { gzipWriters.Put(g) }}, nil
	}
	return nil, fmt.Errorf("content coding %q is not supported", enc)
}

type pooled struct {
	Writer
	put  func()
	done bool
}

func (p *pooled) Close() error {
	if p.done {
		return nil
	}
	p.done = true
	err := p.Writer.Close()
	p.put()
	return err
}

// Encode returns data compressed with enc.
func Encode(enc string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(data)/4 + 64)
	w, err := NewWriter(enc, &buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SampleBytes is how much of attachment content is compressed to decide
// whether compressing the whole is worth it (Compresses).
const SampleBytes = 64 << 10

// Compresses reports whether sample, the start of some content (up to
// SampleBytes), compresses in enc to at most 90% of its size: text and
// uncompressed data do, photos, videos and archives do not. A sample under
// 512 bytes is not worth the trouble.
func Compresses(enc string, sample []byte) bool {
	if len(sample) < 512 {
		return false
	}
	packed, err := Encode(enc, sample)
	return err == nil && len(packed) <= len(sample)*9/10
}

// ErrTooLarge is returned (wrapped) by a reader from NewReader once the
// decoded content passes its limit.
var ErrTooLarge = errors.New("decoded content exceeds the limit")

// maxWindow bounds the memory a zstd frame may make the decoder hold for
// its window, whatever the frame declares.
const maxWindow = 8 << 20

// NewReader returns a reader of the content that r carries in coding enc
// ("" or "identity": as it is), which fails with ErrTooLarge once more than
// limit decoded bytes are read (limit < 0: no limit). Close releases the
// decoder, not r.
func NewReader(enc string, r io.Reader, limit int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	switch enc {
	case "", "identity":
		rc = io.NopCloser(r)
	case Zstd:
		d := zstdReaders.Get().(*zstd.Decoder)
		if err := d.Reset(r); err != nil {
			zstdReaders.Put(d)
			return nil, fmt.Errorf("zstd: %w", err)
		}
		rc = &zstdReader{d: d}
	case Gzip:
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		rc = g
	default:
		return nil, fmt.Errorf("content coding %q is not supported", enc)
	}
	if limit < 0 {
		return rc, nil
	}
	return &limited{rc: rc, left: limit}, nil
}

// Sniff returns the content coding whose magic number data starts with
// (Zstd or Gzip), or "" when it starts with neither, as JSON text never
// does.
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, zstdMagic):
		return Zstd
	case bytes.HasPrefix(data, gzipMagic):
		return Gzip
	}
	return ""
}

// The first bytes of a zstd frame and of a gzip member.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// Decode returns data decoded from enc, failing with ErrTooLarge past
// limit decoded bytes (limit < 0: no limit).
func Decode(enc string, data []byte, limit int64) ([]byte, error) {
	r, err := NewReader(enc, bytes.NewReader(data), limit)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// zstdReaders keeps decoders for reuse: making one costs more than
// decoding a small answer.
var zstdReaders = sync.Pool{New: func() any {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow))
	return d
}}

// zstdReader reads through a pooled decoder, given back on Close.
type zstdReader struct{ d *zstd.Decoder }

func (z *zstdReader) Read(p []byte) (int, error) {
	if z.d == nil {
		return 0, errors.New("zstd: read after close")
	}
	return z.d.Read(p)
}

func (z *zstdReader) Close() error {
	if z.d != nil {
		z.d.Reset(nil)
		zstdReaders.Put(z.d)
		z.d = nil
	}
	return nil
}

// limited fails a read past its limit instead of ending quietly.
type limited struct {
	rc   io.ReadCloser
	left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}

func (l *limited) Close() error { return l.rc.Close() }
