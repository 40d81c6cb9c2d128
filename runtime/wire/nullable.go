package wire

import (
	"encoding/json"

	"github.com/mailru/easyjson/jlexer"
)

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
