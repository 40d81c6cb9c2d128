package conflict

import (
	"fmt"
	"testing"
)

func TestDecide(t *testing.T) {
	mine := func(owner string) bool { return owner == "ann" || owner == "bob" }
	live := Row{Found: true, Owner: "ann", Version: 5, Writer: "phone"}
	for _, c := range []struct {
		name string
		row  Row
		push Push
		want Verdict
	}{
		{"create", Row{}, Push{Owner: "ann"}, Insert},
		{"create for a linked user", Row{}, Push{Owner: "bob"}, Insert},
		{"create for a stranger", Row{}, Push{Owner: "eve"}, Refuse},
		{"update after the device pulled it", live, Push{Owner: "ann", Device: "tablet", Since: 5}, Overwrite},
		{"update of the device's own last write", live, Push{Owner: "ann", Device: "phone", Since: 1}, Overwrite},
		{"update of a row another device changed since", live, Push{Owner: "ann", Device: "tablet", Since: 4}, Conflict},
		{"update without a device id, changed since", live, Push{Owner: "ann", Since: 4}, Conflict},
		{"update of a stranger's row", Row{Found: true, Owner: "eve", Version: 1}, Push{Owner: "ann", Since: 9}, Refuse},
		{"update naming a stranger as owner", live, Push{Owner: "eve", Since: 9}, Refuse},
		{"update of a deleted row", Row{Found: true, Owner: "ann", Deleted: true, Version: 7}, Push{Owner: "ann", Since: 9}, IgnoreDeleted},
		{"field push of a deleted row", Row{Found: true, Owner: "ann", Deleted: true, Version: 7}, Push{Owner: "ann", Since: 9, Fields: true}, IgnoreDeleted},
		{"field push of a row the server lacks (purged)", Row{}, Push{Owner: "ann", Fields: true}, IgnoreDeleted},
		{"field push of a stranger's row", Row{Found: true, Owner: "eve", Version: 1}, Push{Owner: "ann", Since: 9, Fields: true}, Refuse},
		{"update of a stranger's deleted row", Row{Found: true, Owner: "eve", Deleted: true}, Push{Owner: "ann"}, Refuse},
		{"delete", live, Push{Delete: true, Device: "tablet", Since: 1}, MarkDeleted},
		{"delete of a missing row", Row{}, Push{Delete: true}, Nothing},
		{"delete of a deleted row", Row{Found: true, Owner: "ann", Deleted: true}, Push{Delete: true}, Nothing},
		{"delete of a stranger's row", Row{Found: true, Owner: "eve"}, Push{Delete: true}, Nothing},
		{"delete of a stranger's deleted row", Row{Found: true, Owner: "eve", Deleted: true}, Push{Delete: true}, Nothing},
	} {
		if got := Decide(c.row, c.push, mine); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPull(t *testing.T) {
	for _, c := range []struct {
		name   string
		row    Row
		device string
		since  uint64
		want   Send
	}{
		{"new row", Row{Found: true, CreatedVersion: 5, Version: 5, Writer: "a", Origin: "a"}, "b", 4, Created},
		{"changed row the device had", Row{Found: true, CreatedVersion: 2, Version: 5, Writer: "a", Origin: "a"}, "b", 4, Updated},
		{"the device's own last write", Row{Found: true, CreatedVersion: 2, Version: 5, Writer: "b", Origin: "a"}, "b", 4, Omit},
		{"deleted, the device had it", Row{Found: true, Deleted: true, CreatedVersion: 2, Version: 5, Writer: "a", Origin: "a"}, "b", 4, Deleted},
		{"created and deleted since, by another device", Row{Found: true, Deleted: true, CreatedVersion: 5, Version: 6, Writer: "a", Origin: "a"}, "b", 4, Omit},
		{"created by this device, deleted by another since", Row{Found: true, Deleted: true, CreatedVersion: 5, Version: 6, Writer: "a", Origin: "b"}, "b", 4, Deleted},
		{"no device id: new row", Row{Found: true, CreatedVersion: 5, Version: 5, Writer: "a", Origin: "a"}, "", 4, Created},
		{"no device id: created and deleted since", Row{Found: true, Deleted: true, CreatedVersion: 5, Version: 6, Origin: ""}, "", 4, Omit},
		{"first pull", Row{Found: true, CreatedVersion: 1, Version: 3, Writer: "a", Origin: "a"}, "b", 0, Created},
	} {
		if got := Pull(c.row, c.device, c.since); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestChanged(t *testing.T) {
	r := Row{Found: true, Version: 5, Writer: "a"}
	if Changed(r, "a", 1) || !Changed(r, "b", 4) || Changed(r, "b", 5) || Changed(Row{}, "b", 0) || !Changed(r, "", 4) {
		t.Fatal("Changed disagrees with its rule")
	}
}

func TestMergeFields(t *testing.T) {
	other := Row{Found: true, Owner: "ann", Version: 5, Writer: "phone"}
	own := Row{Found: true, Owner: "ann", Version: 5, Writer: "tablet"}
	merged := Row{Found: true, Owner: "ann", Version: 5, Writer: ""}
	for _, c := range []struct {
		name    string
		row     Row
		push    Push
		differs []bool
		want    Fields
	}{
		{"other fields changed since the checkpoint", other, Push{Device: "tablet", Since: 4}, []bool{false}, Fields{Merged: true}},
		{"the same field changed since the base", other, Push{Device: "tablet", Since: 4}, []bool{false, true}, Fields{Merged: true, Overwritten: []int{1}}},
		{"nothing changed since the checkpoint", other, Push{Device: "tablet", Since: 5}, []bool{false}, Fields{}},
		{"pulled since, the field kept locally", other, Push{Device: "tablet", Since: 5}, []bool{true}, Fields{Overwritten: []int{0}}},
		{"the device's own earlier push", own, Push{Device: "tablet", Since: 1}, []bool{true}, Fields{}},
		{"a merged row changed since", merged, Push{Device: "tablet", Since: 4}, []bool{true}, Fields{Merged: true, Overwritten: []int{0}}},
		{"no device id", other, Push{Since: 4}, []bool{true, false}, Fields{Merged: true, Overwritten: []int{0}}},
	} {
		v := Decide(c.row, Push{Owner: "ann", Device: c.push.Device, Since: c.push.Since}, func(string) bool { return true })
		got := MergeFields(c.row, c.push, v, c.differs)
		if got.Merged != c.want.Merged || fmt.Sprint(got.Overwritten) != fmt.Sprint(c.want.Overwritten) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
