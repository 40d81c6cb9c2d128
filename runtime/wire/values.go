// Package wire reads and writes the ssync change-set format: a JSON array of
// {"collection", "timestamp", "changes": {"created", "updated", "deleted", "deletedAt"}}
// objects, one per collection, whose rows carry "id", "createdAt",
// "updatedAt", "deletedAt", "syncId" and the model's fields by wire name.
//
// Generated encoders and decoders write and read the values of a row with
// the helpers of runtime/ssyncimpl, with no reflection; the time layout, the
// UUID codec and the field errors they share with the change-set codec are
// here.
package wire

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"
	"github.com/ssync-go/ssync/runtime/internal/echo"
)

// TimeLayout is the layout of every time on the wire: RFC 3339 in UTC with
// up to nanosecond precision.
const TimeLayout = time.RFC3339Nano

// zonelessLayout is the layout of SSync-style times that carry no zone; they
// are read as UTC.
const zonelessLayout = "2006-01-02T15:04:05.999999999"

// WriteUUID writes id as a JSON string.
func WriteUUID(w *jwriter.Writer, id uuid.UUID) {
	var buf [38]byte
	buf[0] = '"'
	encodeUUID(buf[1:37], id)
	buf[37] = '"'
	w.Buffer.AppendBytes(buf[:])
}

const hexDigits = "0123456789abcdef"

func encodeUUID(dst []byte, id uuid.UUID) {
	j := 0
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j] = hexDigits[b>>4]
		dst[j+1] = hexDigits[b&0x0f]
		j += 2
	}
}

// ReadUUID reads a JSON string holding a UUID.
func ReadUUID(l *jlexer.Lexer) uuid.UUID {
	s := l.UnsafeBytes()
	if !l.Ok() {
		return uuid.Nil
	}
	id, err := uuid.ParseBytes(s)
	if err != nil {
		l.AddError(fmt.Errorf("invalid UUID %q", echo.Clip(string(s))))
		return uuid.Nil
	}
	return id
}

// ParseTime parses a wire time: RFC 3339, or zone-less (taken as UTC). The
// result is in UTC. A time whose UTC year falls outside 0000-9999 (an
// offset can move 9999-12-31 into year 10000) is refused: RFC 3339 cannot
// write it, so it could never be sent on.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse(zonelessLayout, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339, e.g. 2024-12-21T17:37:41.761Z)", echo.Clip(s))
	}
	if t = t.UTC(); t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("invalid time %q: outside the years 0000-9999 in UTC", echo.Clip(s))
	}
	return t, nil
}

// ErrUnknownField is wrapped by the error for a field a strict decoder does
// not know.
var ErrUnknownField = errors.New("unknown field")

// FieldError is the error of one field of a row that could not be decoded.
type FieldError struct {
	// Field is the field's wire name.
	Field string
	// Err is what went wrong.
	Err error
}

// Error names the field and says what is wrong with its value.
func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q: %s", e.Field, lexerReason(e.Err))
}

// Unwrap returns what is wrong with the value.
func (e *FieldError) Unwrap() error { return e.Err }

// lexerReason shortens jlexer's errors to their reason and the offending
// text.
func lexerReason(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON input"
	}
	if le, ok := err.(*jlexer.LexerError); ok {
		if strings.HasPrefix(le.Reason, "EOF reached") {
			return "unexpected end of JSON input"
		}
		if strings.HasPrefix(le.Reason, "skipped array/object") {
			return "invalid JSON value (malformed, or nested too deeply)"
		}
		if le.Data != "" {
			return fmt.Sprintf("%s, got %s", le.Reason, echo.Clip(le.Data))
		}
		return le.Reason
	}
	return err.Error()
}
