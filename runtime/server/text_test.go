package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/internal/storetest"
)

// TestNULRefusedAtDecode: NUL (U+0000) in any text of a pushed row (a text
// column, a JSON column, the syncId) is refused at decode time with 400
// invalid_change_set naming the collection, the row's id and the field,
// with the same answer on every store and nothing written. PostgreSQL
// cannot store NUL in text and SQLite and MariaDB can: the answer must not
// depend on the store.
func TestNULRefusedAtDecode(t *testing.T) {
	attachment := `{"hash":"` + strings.Repeat("a", 64) + `","size":1,"name":"a\u0000b","contentType":"text/plain"}`
	cases := []struct{ name, coll, key, raw, field string }{
		{"note message", "ss_tb_note", "message", `"a\u0000b"`, "message"},
		{"note message, NUL alone", "ss_tb_note", "message", `"\u0000"`, "message"},
		{"note userName", "ss_tb_note", "userName", `"\u0000Al"`, "userName"},
		{"note file name", "ss_tb_note", "file", attachment, "file"},
		{"note syncId", "ss_tb_note", "syncId", `"alice\u0000"`, "syncId"},
		{"user name", "ss_tb_user", "name", `"Al\u0000ice"`, "name"},
	}
	answers := map[string]string{}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		hs := newHostileServer(t, b)
		before := hs.dump()
		for _, c := range cases {
			hs.t = t
			fields := hNoteFields(hNewID, "alice")
			if c.coll == "ss_tb_user" {
				fields = hUserFields(hNewID, "alice")
			}
			// A valid row, then the row holding NUL: created[1].
			body := hBody(hSet(c.coll, "created", hRow(fields, "id", `"`+hNewID2+`"`), hRow(fields, c.key, c.raw)))
			status, got := hs.do(http.MethodPost, hPushBoth, hs.tok["alice"], nil, body)
			want := `{"error":{"code":"invalid_change_set","message":"malformed change set: collection \"` + c.coll +
				`\": created[1] row ` + hNewID + `: field \"` + c.field + `\": text holds NUL (\\u0000), which the server does not store"}}`
			if status != http.StatusBadRequest || got != want {
				t.Errorf("%s: %d %s\nwant 400 %s", c.name, status, got, want)
			}
			if prev, ok := answers[c.name]; ok && prev != got {
				t.Errorf("%s: answer differs between stores:\n%s\n%s", c.name, prev, got)
			}
			answers[c.name] = got
			if after := hs.dump(); after != before {
				t.Fatalf("%s: the refused push changed the store:\nbefore:\n%s\nafter:\n%s", c.name, before, after)
			}
		}
		// Text that merely looks like the escape is text.
		hs.t = t
		lookalike := hBody(hSet("ss_tb_note", "created", hRow(hNoteFields(hNewID3, "alice"), "message", `"a\\u0000b"`)))
		if status, got := hs.do(http.MethodPost, hPushBoth, hs.tok["alice"], nil, lookalike); status != http.StatusOK {
			t.Fatalf(`a message holding a backslash then "u0000": %d %s, want 200`, status, got)
		}
	})
}
