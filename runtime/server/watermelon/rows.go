package watermelon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"

	"github.com/ssync-go/ssync/runtime/internal/echo"
	"github.com/ssync-go/ssync/runtime/ssync"
	"github.com/ssync-go/ssync/runtime/wire"
)

// Column names of WatermelonDB's raw records that are not user columns.
const (
	rawID        = "id"
	rawCreatedAt = "created_at"
	rawUpdatedAt = "updated_at"
	rawStatus    = "_status"
	rawChanged   = "_changed"
)

// errBadRecord is wrapped by the error for a pushed record that cannot be
// mapped onto its collection.
var errBadRecord = errors.New("invalid record")

// rawWriter writes one collection's stored rows as WatermelonDB raw
// records: the id, the record times as milliseconds since the epoch under
// created_at and updated_at, and each user column under its column name,
// times as milliseconds and JSON values as their JSON text (WatermelonDB
// keeps JSON in string columns).
type rawWriter struct {
	coll  ssync.Collection
	cols  []ssync.Column
	names [][]byte       // `,"<column name>":` of each column
	index map[string]int // wire name → column
	vals  [][]byte       // a row's values, by column (reused)
}

func newRawWriter(coll ssync.Collection) *rawWriter {
	cols := coll.UserColumns()
	rw := &rawWriter{coll: coll, cols: cols, names: make([][]byte, len(cols)), index: make(map[string]int, len(cols)),
		vals: make([][]byte, len(cols))}
	for i, c := range cols {
		name, _ := json.Marshal(c.Name)
		rw.names[i] = append(append([]byte{','}, name...), ':')
		rw.index[c.Wire] = i
	}
	return rw
}

// appendRow appends row's raw record to dst.
func (rw *rawWriter) appendRow(dst []byte, row any) ([]byte, error) {
	var w jwriter.Writer
	rw.coll.EncodeRow(&w, row)
	data, err := w.BuildBytes()
	if err != nil {
		return dst, err
	}
	clear(rw.vals)
	l := jlexer.Lexer{Data: data}
	l.Delim('{')
	for !l.IsDelim('}') {
		key := l.UnsafeString()
		l.WantColon()
		if i, ok := rw.index[key]; ok {
			rw.vals[i] = l.Raw()
		} else {
			l.SkipRecursive()
		}
		l.WantComma()
	}
	l.Delim('}')
	if err := l.Error(); err != nil {
		return dst, err
	}
	rec := rw.coll.RecordOf(row)
	dst = append(dst, `{"`+rawID+`":"`...)
	dst = append(dst, rec.ID.String()...)
	dst = append(dst, `","`+rawCreatedAt+`":`...)
	dst = strconv.AppendInt(dst, rec.CreatedAt.UnixMilli(), 10)
	dst = append(dst, `,"`+rawUpdatedAt+`":`...)
	dst = strconv.AppendInt(dst, rec.UpdatedAt.UnixMilli(), 10)
	for i, c := range rw.cols {
		dst = append(dst, rw.names[i]...)
		v := rw.vals[i]
		if v == nil || string(v) == "null" {
			dst = append(dst, "null"...)
			continue
		}
		switch c.Kind {
		case ssync.KindTime:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return dst, fmt.Errorf("column %s: %w", c.Name, err)
			}
			t, err := wire.ParseTime(s)
			if err != nil {
				return dst, fmt.Errorf("column %s: %w", c.Name, err)
			}
			dst = strconv.AppendInt(dst, t.UnixMilli(), 10)
		case ssync.KindJSON:
			var w jwriter.Writer
			w.String(string(v))
			dst = append(dst, w.Buffer.BuildBytes()...)
		default:
			dst = append(dst, v...)
		}
	}
	return append(dst, '}'), nil
}

// fromRaw turns a pushed WatermelonDB raw record into the ssync wire
// object of its row (decoded afterwards by the collection's strict
// decoder, which checks every value). _status and _changed are local
// bookkeeping and dropped; a column the collection lacks is refused;
// created_at and updated_at, when absent, are now.
func fromRaw(coll ssync.Collection, data json.RawMessage, now time.Time) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: want a JSON object", errBadRecord)
	}
	byName := make(map[string]ssync.Column, len(coll.UserColumns()))
	for _, c := range coll.UserColumns() {
		byName[c.Name] = c
	}
	out := make(map[string]json.RawMessage, len(obj)+2)
	for key, v := range obj {
		switch key {
		case rawStatus, rawChanged:
			continue
		case rawID:
			out[ssync.WireID] = v
			continue
		case rawCreatedAt, rawUpdatedAt:
			t, err := millis(v)
			if err != nil {
				return nil, fmt.Errorf("%w: column %q: %w", errBadRecord, key, err)
			}
			name := ssync.WireCreatedAt
			if key == rawUpdatedAt {
				name = ssync.WireUpdatedAt
			}
			out[name] = quote(t)
			continue
		}
		c, ok := byName[key]
		if !ok {
			return nil, fmt.Errorf("%w: unknown column %q", errBadRecord, echo.Clip(key))
		}
		if string(v) == "null" {
			out[c.Wire] = v
			continue
		}
		switch c.Kind {
		case ssync.KindTime:
			t, err := millis(v)
			if err != nil {
				return nil, fmt.Errorf("%w: column %q: %w", errBadRecord, key, err)
			}
			out[c.Wire] = quote(t)
		case ssync.KindJSON:
			var s string
			if err := json.Unmarshal(v, &s); err != nil || !json.Valid([]byte(s)) {
				return nil, fmt.Errorf("%w: column %q: want a string holding JSON text", errBadRecord, key)
			}
			out[c.Wire] = json.RawMessage(s)
		default:
			out[c.Wire] = v
		}
	}
	if _, ok := out[ssync.WireID]; !ok {
		return nil, fmt.Errorf("%w: no id", errBadRecord)
	}
	for _, name := range []string{ssync.WireCreatedAt, ssync.WireUpdatedAt} {
		if _, ok := out[name]; !ok {
			out[name] = quote(now)
		}
	}
	return json.Marshal(out)
}

// millis reads a time in milliseconds since the epoch.
func millis(v json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return time.Time{}, fmt.Errorf("want milliseconds since 1970 as a number, not %s", echo.Clip(string(v)))
	}
	ms, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil {
			return time.Time{}, fmt.Errorf("want milliseconds since 1970, not %s", echo.Clip(n.String()))
		}
		ms = int64(f)
	}
	return time.UnixMilli(ms).UTC(), nil
}

func quote(t time.Time) json.RawMessage {
	b, _ := json.Marshal(t.UTC().Format(time.RFC3339Nano))
	return b
}
