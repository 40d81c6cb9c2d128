package ssync

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ssync-go/ssync/runtime/blob"
	"github.com/ssync-go/ssync/runtime/internal/echo"
)

// Attachment is a reference to a file that belongs to a row: the SHA-256 of
// its content, its size, and the name and content type it was attached
// with. A model holds one in a field tagged `ssync:"attachment"`, of type
// *Attachment (nil: no attachment) or Attachment (the zero value: none):
//
//	type Note struct {
//		ssync.Record `ssync:"table=ss_tb_note,order=2"`
//		File *ssync.Attachment `json:"file" ssync:"attachment"`
//	}
//
// The row carries only the reference; the content is stored once per hash,
// in a folder beside the device's database and in the server's blob store,
// and Synchronize moves it. The generated repository's Attach and Open
// write and read it.
//
// On the wire an attachment is the JSON object
// {"hash": "<64 hex digits>", "size": <bytes>, "name": "...", "contentType": "..."}
// (or null); in the databases it is that JSON as text.
type Attachment struct {
	// Hash is the SHA-256 of the content, as 64 lowercase hex digits.
	Hash string `json:"hash"`
	// Size is the content's length in bytes.
	Size int64 `json:"size"`
	// Name is the file name it was attached with (informational).
	Name string `json:"name,omitempty"`
	// ContentType is its media type, e.g. "application/pdf"
	// (informational).
	ContentType string `json:"contentType,omitempty"`
}

// Limits on the informational fields of an attachment.
const (
	maxAttachmentName = 1024
	maxContentType    = 255
)

// ErrInvalidAttachment is wrapped by the errors of an attachment that is
// not well formed: a hash that is not 64 lowercase hex digits, a negative
// size, or an overlong name or content type.
var ErrInvalidAttachment = errors.New("invalid attachment")

// IsZero reports whether a holds no attachment: a nil pointer or the zero
// value.
func (a *Attachment) IsZero() bool { return a == nil || *a == Attachment{} }

// OrNil returns a, or nil when a holds no attachment. Generated code reads
// attachment fields held by value through it.
func (a *Attachment) OrNil() *Attachment {
	if a.IsZero() {
		return nil
	}
	return a
}

// Validate checks that a is well formed; the zero value is (it means no
// attachment).
func (a Attachment) Validate() error {
	if a == (Attachment{}) {
		return nil
	}
	switch {
	case !blob.ValidHash(a.Hash):
		return fmt.Errorf("%w: hash %q is not a SHA-256 in 64 lowercase hex digits", ErrInvalidAttachment, echo.Clip(a.Hash))
	case a.Size < 0:
		return fmt.Errorf("%w: negative size %d", ErrInvalidAttachment, a.Size)
	case len(a.Name) > maxAttachmentName:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidAttachment, maxAttachmentName)
	case len(a.ContentType) > maxContentType:
		return fmt.Errorf("%w: content type longer than %d bytes", ErrInvalidAttachment, maxContentType)
	}
	return nil
}

// attachmentJSON has Attachment's fields without its methods.
type attachmentJSON Attachment

// MarshalJSON writes the attachment as a JSON object, or null for the zero
// value.
func (a Attachment) MarshalJSON() ([]byte, error) {
	if a == (Attachment{}) {
		return []byte("null"), nil
	}
	return json.Marshal(attachmentJSON(a))
}

// UnmarshalJSON reads an attachment object, or null (the zero value). It
// refuses a malformed attachment (see Validate); unknown keys are ignored.
func (a *Attachment) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*a = Attachment{}
		return nil
	}
	var v attachmentJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidAttachment, err)
	}
	if err := Attachment(v).Validate(); err != nil {
		return err
	}
	if v == (attachmentJSON{}) {
		return fmt.Errorf("%w: empty object (write null for no attachment)", ErrInvalidAttachment)
	}
	*a = Attachment(v)
	return nil
}

// Value stores the attachment as its JSON text ("null" for the zero value,
// so that a column held by value is never NULL).
func (a Attachment) Value() (driver.Value, error) {
	b, err := a.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Scan reads the JSON text Value wrote; NULL and "" read as the zero value.
func (a *Attachment) Scan(src any) error {
	var data []byte
	switch v := src.(type) {
	case nil:
		*a = Attachment{}
		return nil
	case string:
		data = []byte(v)
	case []byte:
		data = v
	default:
		return fmt.Errorf("ssync: scan attachment from %T", src)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		*a = Attachment{}
		return nil
	}
	return a.UnmarshalJSON(data)
}
