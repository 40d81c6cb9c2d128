package ssync_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ssync-go/ssync/runtime/ssync"

	"github.com/ssync-go/ssync/runtime/blob"
)

const hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestAttachmentJSONAndSQL(t *testing.T) {
	a := ssync.Attachment{Hash: hash, Size: 4, Name: "test.txt", ContentType: "text/plain"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"hash":"` + hash + `","size":4,"name":"test.txt","contentType":"text/plain"}`
	if string(b) != want {
		t.Fatalf("marshal = %s, want %s", b, want)
	}
	var back ssync.Attachment
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Fatalf("unmarshal = %+v, %v", back, err)
	}
	v, err := a.Value()
	if err != nil || v != want {
		t.Fatalf("Value = %v, %v", v, err)
	}
	var scanned ssync.Attachment
	if err := scanned.Scan([]byte(want)); err != nil || scanned != a {
		t.Fatalf("Scan = %+v, %v", scanned, err)
	}

	// The zero value is no attachment: null on the wire, "null" in SQL.
	var zero ssync.Attachment
	if b, _ := json.Marshal(zero); string(b) != "null" {
		t.Fatalf("zero marshals to %s", b)
	}
	if v, _ := zero.Value(); v != "null" {
		t.Fatalf("zero Value = %v", v)
	}
	for _, src := range []any{nil, "", "null", []byte("null")} {
		got := a
		if err := got.Scan(src); err != nil || !got.IsZero() {
			t.Fatalf("Scan(%#v) = %+v, %v", src, got, err)
		}
	}
	if err := json.Unmarshal([]byte("null"), &back); err != nil || !back.IsZero() {
		t.Fatalf("unmarshal null = %+v, %v", back, err)
	}
	var nilPtr *ssync.Attachment
	if !nilPtr.IsZero() || nilPtr.OrNil() != nil || zero.OrNil() != nil || a.OrNil() != &a {
		t.Fatal("IsZero/OrNil")
	}
}

func TestAttachmentValidation(t *testing.T) {
	for name, doc := range map[string]string{
		"short hash":     `{"hash":"abc","size":1}`,
		"upper hash":     `{"hash":"` + strings.ToUpper(hash) + `","size":1}`,
		"path in hash":   `{"hash":"../../../../etc/passwd","size":1}`,
		"negative size":  `{"hash":"` + hash + `","size":-1}`,
		"empty object":   `{}`,
		"not an object":  `"x"`,
		"long name":      `{"hash":"` + hash + `","size":1,"name":"` + strings.Repeat("n", 1025) + `"}`,
		"long mime type": `{"hash":"` + hash + `","size":1,"contentType":"` + strings.Repeat("t", 256) + `"}`,
	} {
		var a ssync.Attachment
		if err := json.Unmarshal([]byte(doc), &a); !errors.Is(err, ssync.ErrInvalidAttachment) {
			t.Errorf("%s: err = %v, want ErrInvalidAttachment", name, err)
		}
	}
	// Unknown keys are ignored: a newer peer may add some.
	var a ssync.Attachment
	if err := json.Unmarshal([]byte(`{"hash":"`+hash+`","size":1,"etag":"x"}`), &a); err != nil || a.Size != 1 {
		t.Fatalf("unknown key: %+v, %v", a, err)
	}
	if !blob.ValidHash(hash) || blob.ValidHash(hash[1:]) || blob.ValidHash(strings.Replace(hash, "9", "g", 1)) {
		t.Fatal("ValidHash")
	}
}
