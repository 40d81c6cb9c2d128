package server

import (
	"bytes"
	"io"
	"net/http"

	"github.com/ssync-go/ssync/internal/contentenc"
	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/wire"
)

// encodings lists the content codings the server takes on request bodies
// and answers with, preferred first; none when Config.DisableCompression.
func (s *Server) encodings() []string {
	if s.cfg.DisableCompression {
		return nil
	}
	return contentenc.Supported
}

// compressed wraps w so that a 200 answer is sent in the coding the
// request's Accept-Encoding prefers (zstd, then gzip), unless compression
// is off; error answers go as they are. Flush sends what was written so far
// as a complete compressed block, so a streamed pull stays streamed. The
// returned finish must be called when the handler has written everything.
func (s *Server) compressed(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func()) {
	if s.cfg.DisableCompression {
		return w, func() {}
	}
	w.Header().Add("Vary", "Accept-Encoding")
	enc := contentenc.Negotiate(r.Header.Get("Accept-Encoding"))
	if enc == "" {
		return w, func() {}
	}
	cw := &compressWriter{ResponseWriter: w, enc: enc}
	return cw, cw.finish
}

// compressWriter is a ResponseWriter whose 200 body is compressed.
type compressWriter struct {
	http.ResponseWriter
	enc         string
	wroteHeader bool
	zw          contentenc.Writer // nil: the answer goes as it is
}

func (c *compressWriter) WriteHeader(status int) {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	if status == http.StatusOK {
		h := c.Header()
		h.Set("Content-Encoding", c.enc)
		h.Del("Content-Length")
		c.zw, _ = contentenc.NewWriter(c.enc, c.ResponseWriter) // enc is one Negotiate returned
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *compressWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.zw == nil {
		return c.ResponseWriter.Write(p)
	}
	return c.zw.Write(p)
}

// Flush sends the compressed block written so far, then flushes the
// connection.
func (c *compressWriter) Flush() {
	if c.zw != nil {
		c.zw.Flush()
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *compressWriter) finish() {
	if c.zw != nil {
		c.zw.Close()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// worthCompressing reports whether content (read from its start) gains
// from enc, judged by its first contentenc.SampleBytes (see
// contentenc.Compresses). It leaves content at its start.
func worthCompressing(content io.ReadSeeker, enc string) bool {
	sample, err := io.ReadAll(io.LimitReader(content, contentenc.SampleBytes))
	if _, serr := content.Seek(0, io.SeekStart); serr != nil || err != nil {
		return false
	}
	return contentenc.Compresses(enc, sample)
}

// decodedBody returns the request's body decoded from its Content-Encoding,
// failing past limit decoded bytes with contentenc.ErrTooLarge; ok false
// (the answer written: 415) when the coding is not one the server takes.
func (s *Server) decodedBody(w http.ResponseWriter, r *http.Request, limit int64) (io.ReadCloser, bool) {
	raw := http.MaxBytesReader(w, r.Body, limit)
	enc := r.Header.Get("Content-Encoding")
	if enc == "" || enc == "identity" {
		return raw, true
	}
	if s.cfg.DisableCompression || !contentenc.Known(enc) {
		w.Header().Set("Connection", "close")
		s.fail(w, r, apiError{wire.CodeUnsupportedEncoding, "this server takes request bodies as they are" + takes(s.encodings()) +
			", not in Content-Encoding " + echo.Clip(enc)})
		return nil, false
	}
	body, err := contentenc.NewReader(enc, raw, limit)
	if err != nil {
		// A body whose coding header is malformed: read as a body that
		// cannot be read.
		return io.NopCloser(errReader{err}), true
	}
	return body, true
}

func takes(encs []string) string {
	if len(encs) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteString(" or in Content-Encoding ")
	for i, e := range encs {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(e)
	}
	return b.String()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
