package wire_test

import (
	"encoding/json"
	"testing"

	"github.com/ssync-go/ssync/runtime/wire"
)

func TestErrorBody(t *testing.T) {
	body := wire.EncodeErrorBody(wire.CodeForbidden, `row "x"`)
	if want := `{"error":{"code":"forbidden","message":"row \"x\""}}`; string(body) != want {
		t.Fatalf("EncodeErrorBody = %s, want %s", body, want)
	}
	e, ok := wire.DecodeErrorBody(body)
	if !ok || e.Code != wire.CodeForbidden || e.Message != `row "x"` {
		t.Fatalf("DecodeErrorBody(%s) = %+v, %v", body, e, ok)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"error":null}`, `[1]`, `<html>`} {
		if e, ok := wire.DecodeErrorBody([]byte(bad)); ok {
			t.Errorf("DecodeErrorBody(%q) = %+v, want not an error answer", bad, e)
		}
	}
}

func TestCodes(t *testing.T) {
	seen := map[wire.Code]bool{}
	for _, c := range wire.Codes() {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
		if s := c.Status(); s < 400 || s > 599 {
			t.Errorf("%s: status %d", c, s)
		}
	}
	if len(seen) < 28 {
		t.Errorf("only %d codes", len(seen))
	}
	if s := wire.Code("made_up").Status(); s != 0 {
		t.Errorf("unknown code: status %d, want 0", s)
	}
}

func TestStreamEnd(t *testing.T) {
	done, _ := json.Marshal(wire.StreamEnd{Done: true, Checkpoint: "2"})
	if want := `{"done":true,"timestamp":"2"}`; string(done) != want {
		t.Fatalf("StreamEnd = %s, want %s", done, want)
	}
	var end wire.StreamEnd
	if err := json.Unmarshal(wire.EncodeErrorBody(wire.CodeInternal, "pull-stream failed"), &end); err != nil ||
		end.Done || end.Error == nil || end.Error.Code != wire.CodeInternal {
		t.Fatalf("error line read as %+v, %v", end, err)
	}
}

func TestPushResult(t *testing.T) {
	in := `{"checkpoint":"3","ignored":[{"collection":"ss_tb_note","id":"b7c66d5b-ea12-4710-a985-436942b0e938","reason":"deleted","message":"m"}]}`
	var r wire.PushResult
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.Checkpoint != "3" || len(r.Ignored) != 1 || r.Ignored[0].Reason != wire.ReasonDeleted || r.Replayed {
		t.Fatalf("read %+v", r)
	}
	out, _ := json.Marshal(r)
	if string(out) != in {
		t.Fatalf("wrote %s, want %s", out, in)
	}
}
