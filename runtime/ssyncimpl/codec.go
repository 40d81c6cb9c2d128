package ssyncimpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// The value readers and writers of generated encoders and decoders: each
// writes or reads one JSON value with no reflection. The jwriter.Writer and
// jlexer.Lexer methods cover strings, booleans and numbers.

// WriteUUID writes id as a JSON string.
func WriteUUID(w *jwriter.Writer, id uuid.UUID) { wire.WriteUUID(w, id) }

// ReadUUID reads a JSON string holding a UUID.
func ReadUUID(l *jlexer.Lexer) uuid.UUID { return wire.ReadUUID(l) }

// WriteTime writes t as a JSON string in wire.TimeLayout, in UTC.
func WriteTime(w *jwriter.Writer, t time.Time) {
	var buf [48]byte
	b := append(buf[:0], '"')
	b = t.UTC().AppendFormat(b, wire.TimeLayout)
	b = append(b, '"')
	w.Buffer.AppendBytes(b)
}

// ReadTime reads a JSON string holding a time in RFC 3339, or in the
// zone-less form "2006-01-02T15:04:05.9999999", which is taken as UTC (see
// wire.ParseTime).
func ReadTime(l *jlexer.Lexer) time.Time {
	s := l.UnsafeString()
	if !l.Ok() {
		return time.Time{}
	}
	t, err := wire.ParseTime(s)
	if err != nil {
		l.AddError(err)
		return time.Time{}
	}
	return t
}

// WriteBytes writes b as a base64 JSON string.
func WriteBytes(w *jwriter.Writer, b []byte) {
	if b == nil {
		b = []byte{}
	}
	w.Base64Bytes(b)
}

// ReadBytes reads a base64 JSON string; null reads as nil.
func ReadBytes(l *jlexer.Lexer) []byte {
	if l.IsNull() {
		l.Skip()
		return nil
	}
	return l.Bytes()
}

// WritePtr writes *v with write, or null when v is nil.
func WritePtr[V any](w *jwriter.Writer, v *V, write func(*jwriter.Writer, V)) {
	if v == nil {
		w.RawString("null")
		return
	}
	write(w, *v)
}

// ReadPtr reads null as nil, or a value with read.
func ReadPtr[V any](l *jlexer.Lexer, read func(*jlexer.Lexer) V) *V {
	if l.IsNull() {
		l.Skip()
		return nil
	}
	v := read(l)
	if !l.Ok() {
		return nil
	}
	return &v
}

// ReadNull reports whether the next value is a JSON null, and consumes it
// when it is. Generated decoders of sql.Null* fields call it before reading
// the value itself.
func ReadNull(l *jlexer.Lexer) bool {
	if l.IsNull() {
		l.Skip()
		return true
	}
	return false
}

// ReadJSON reads the next JSON value, whatever its type, and hands it to u's
// UnmarshalJSON; an error from UnmarshalJSON becomes the lexer's error. A
// null is handed over too, as encoding/json does. Generated decoders call it
// for fields whose type implements json.Unmarshaler; the matching encoders
// call jwriter's Raw with the field's MarshalJSON.
func ReadJSON(l *jlexer.Lexer, u json.Unmarshaler) {
	data := l.Raw()
	if !l.Ok() {
		return
	}
	if err := u.UnmarshalJSON(data); err != nil {
		l.AddError(err)
	}
}

// WriteRecord opens a row object and writes the metadata fields of rec. The
// generated encoder then writes each user field with a leading comma and
// closes the object.
func WriteRecord(w *jwriter.Writer, rec *ssync.Record) {
	w.RawString(`{"id":`)
	WriteUUID(w, rec.ID)
	w.RawString(`,"createdAt":`)
	WriteTime(w, rec.CreatedAt)
	w.RawString(`,"updatedAt":`)
	WriteTime(w, rec.UpdatedAt)
	w.RawString(`,"deletedAt":`)
	WritePtr(w, rec.DeletedAt, WriteTime)
	w.RawString(`,"syncId":`)
	w.String(rec.SyncID)
}

// ReadRecordField reads the value of a metadata field into rec. It reports
// false, reading nothing, when key is not a metadata field.
func ReadRecordField(l *jlexer.Lexer, rec *ssync.Record, key string) bool {
	switch key {
	case ssync.WireID:
		rec.ID = ReadUUID(l)
	case ssync.WireCreatedAt:
		rec.CreatedAt = ReadTime(l)
	case ssync.WireUpdatedAt:
		rec.UpdatedAt = ReadTime(l)
	case ssync.WireDeletedAt:
		rec.DeletedAt = ReadPtr(l, ReadTime)
	case ssync.WireSyncID:
		if l.IsNull() {
			l.Skip()
			rec.SyncID = ""
		} else {
			rec.SyncID = l.String()
		}
	default:
		return false
	}
	return true
}

// UnknownField handles a field key that a row decoder does not know: under
// strict options it records an error wrapping wire.ErrUnknownField;
// otherwise it skips the value.
func UnknownField(l *jlexer.Lexer, key string, opts ssync.DecodeOptions) {
	if opts.Strict {
		l.AddError(fmt.Errorf("%w %q", wire.ErrUnknownField, echo.Clip(key)))
		return
	}
	l.SkipRecursive()
}

// NewFieldError returns the error for field key, a *wire.FieldError, copying
// the key (which may point into the decoder's buffer). An unknown field's
// error is returned as it is.
func NewFieldError(key string, err error) error {
	if errors.Is(err, wire.ErrUnknownField) {
		return err
	}
	return &wire.FieldError{Field: strings.Clone(key), Err: err}
}
