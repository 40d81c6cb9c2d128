package ssyncimpl_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/mailru/easyjson/jlexer"

	"github.com/ssync-go/ssync/runtime/ssyncimpl"
)

func TestReadNull(t *testing.T) {
	l := jlexer.Lexer{Data: []byte(`[null,"x"]`)}
	l.Delim('[')
	if !ssyncimpl.ReadNull(&l) {
		t.Error("null not seen")
	}
	l.WantComma()
	if ssyncimpl.ReadNull(&l) {
		t.Error("a string read as null")
	}
	if s := l.String(); s != "x" {
		t.Errorf("after ReadNull the value reads %q", s)
	}
	l.WantComma()
	l.Delim(']')
	l.Consumed()
	if err := l.Error(); err != nil {
		t.Fatal(err)
	}
}

// doc keeps the JSON it is given.
type doc struct{ raw string }

var errRefused = errors.New("refused")

func (d *doc) UnmarshalJSON(b []byte) error {
	if string(b) == `"bad"` {
		return errRefused
	}
	d.raw = string(b)
	return nil
}

func TestReadJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":[1,{"b":null}]}`: `{"a":[1,{"b":null}]}`,
		`[1, 2]`:               `[1, 2]`,
		`"s"`:                  `"s"`,
		`12.5`:                 `12.5`,
		`null`:                 `null`,
	} {
		var d doc
		l := jlexer.Lexer{Data: []byte(in)}
		ssyncimpl.ReadJSON(&l, &d)
		if err := l.Error(); err != nil {
			t.Errorf("%s: %v", in, err)
		}
		if d.raw != want {
			t.Errorf("%s: UnmarshalJSON got %s", in, d.raw)
		}
	}
	var d doc
	l := jlexer.Lexer{Data: []byte(`"bad"`)}
	ssyncimpl.ReadJSON(&l, &d)
	if !errors.Is(l.Error(), errRefused) {
		t.Errorf("error %v, want the UnmarshalJSON error", l.Error())
	}
	l = jlexer.Lexer{Data: []byte(`{"a":`)}
	ssyncimpl.ReadJSON(&l, &d)
	if l.Error() == nil {
		t.Error("truncated JSON read without error")
	}
}

var _ json.Unmarshaler = (*doc)(nil)
