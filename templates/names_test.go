package templates

import "testing"

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Name":          "name",
		"UserID":        "user_id",
		"UserName":      "user_name",
		"HTTPServer":    "http_server",
		"URLPath":       "url_path",
		"ID":            "id",
		"HTTPServerURL": "http_server_url",
		"Int64Ptr":      "int64_ptr",
		"Base64":        "base64",
		"V2Name":        "v2_name",
		"CreatedAt":     "created_at",
		"already_snake": "already_snake",
	} {
		if got := SnakeCase(in); got != want {
			t.Errorf("SnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLowerCamel(t *testing.T) {
	for in, want := range map[string]string{
		"Name":       "name",
		"UserID":     "userID",
		"UserName":   "userName",
		"URLPath":    "urlPath",
		"HTTPServer": "httpServer",
		"ID":         "id",
		"URL":        "url",
		"X":          "x",
		"Int64Ptr":   "int64Ptr",
		"lower":      "lower",
	} {
		if got := LowerCamel(in); got != want {
			t.Errorf("LowerCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlural(t *testing.T) {
	for in, want := range map[string]string{
		"Note":     "Notes",
		"User":     "Users",
		"Category": "Categories",
		"Box":      "Boxes",
		"Day":      "Days",
		"Key":      "Keys",
		"Class":    "Classes",
		"Match":    "Matches",
		"Wish":     "Wishes",
		"Item":     "Items",
	} {
		if got := Plural(in); got != want {
			t.Errorf("Plural(%q) = %q, want %q", in, got, want)
		}
	}
}
