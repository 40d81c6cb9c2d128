package contentenc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestNegotiate(t *testing.T) {
	for accept, want := range map[string]string{
		"": "", "identity": "", "zstd": "zstd", "gzip": "gzip", "gzip, zstd": "zstd", "ZSTD": "zstd",
		"zstd;q=0, gzip": "gzip", "zstd;q=0,gzip;q=0": "", "br, gzip;q=0.5": "gzip", "*": "",
	} {
		if got := Negotiate(accept); got != want {
			t.Errorf("Negotiate(%q) = %q, want %q", accept, got, want)
		}
	}
}

// TestRoundTripAndLimit: what a Writer writes a reader reads back, a line
// at a time after each Flush, and a reader stops at its limit.
func TestRoundTripAndLimit(t *testing.T) {
	for _, enc := range Supported {
		var buf bytes.Buffer
		w, err := NewWriter(enc, &buf)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "line one\n")
		w.Flush()
		flushed := buf.Len()
		io.WriteString(w, strings.Repeat("x", 1<<20))
		w.Close()
		// What was flushed decodes alone.
		r, _ := NewReader(enc, bytes.NewReader(buf.Bytes()[:flushed]), -1)
		got := make([]byte, 9)
		if _, err := io.ReadFull(r, got); err != nil || string(got) != "line one\n" {
			t.Fatalf("%s: flushed part read as %q, %v", enc, got, err)
		}
		r, _ = NewReader(enc, bytes.NewReader(buf.Bytes()), 1000)
		if n, err := io.Copy(io.Discard, r); err != ErrTooLarge || n > 1001 {
			t.Fatalf("%s: limited read: %d bytes, %v; want ErrTooLarge after 1000", enc, n, err)
		}
		r, _ = NewReader(enc, bytes.NewReader(buf.Bytes()), 9+1<<20)
		if n, err := io.Copy(io.Discard, r); err != nil || n != 9+1<<20 {
			t.Fatalf("%s: read to the limit: %d bytes, %v", enc, n, err)
		}
	}
}

// sample is NDJSON shaped like a pull of notes.
func sample(rows int) []byte {
	var b bytes.Buffer
	for i := range rows {
		fmt.Fprintf(&b, `{"id":%q,"createdAt":"2026-11-27T18:%02d:%02d.%06dZ","updatedAt":"2026-11-27T18:%02d:%02d.%06dZ","deletedAt":null,"syncId":"bench-user","message":"remember to buy item number %06d","completed":%v,"userId":null,"userName":"bench user bench-user","file":null},`,
			uuid.Must(uuid.NewV7()).String(), i/60%60, i%60, i*7%1000000, i/60%60, i%60, i*7%1000000, i, i%3 == 0)
		if i%1000 == 999 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// BenchmarkLevels compresses and decompresses a pull of 20,000 notes at
// each candidate level (writers reused, as the pool does); ratio is
// compressed/plain. The levels in use were chosen from it: zstd's fastest
// gives the best ratio per CPU second, gzip's fastest is for clients
// without zstd.
func BenchmarkLevels(b *testing.B) {
	data := sample(20_000)
	zw := func(l zstd.EncoderLevel) func() resetWriter {
		return func() resetWriter {
			z, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1))
			return z
		}
	}
	gw := func(l int) func() resetWriter {
		return func() resetWriter { g, _ := gzip.NewWriterLevel(nil, l); return g }
	}
	for _, c := range []struct {
		name, enc string
		new       func() resetWriter
	}{
		{"zstd-fastest", Zstd, zw(zstd.SpeedFastest)}, {"zstd-default", Zstd, zw(zstd.SpeedDefault)},
		{"gzip-1", Gzip, gw(1)}, {"gzip-6", Gzip, gw(6)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			w := c.new()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out.Reset()
				w.Reset(&out)
				w.Write(data)
				w.Close()
				r, _ := NewReader(c.enc, bytes.NewReader(out.Bytes()), -1)
				io.Copy(io.Discard, r)
				r.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(len(data)), "ratio")
		})
	}
}

type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}
