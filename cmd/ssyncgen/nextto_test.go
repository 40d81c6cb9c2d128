package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const nextToModels = `package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Status is a named string.
type Status string

// Audit is embedded: its fields are the model's columns.
type Audit struct {
	By string
}

// Note is a model whose code is generated next to it.
type Note struct {
	ssync.Record ` + "`ssync:\"table=notes,order=1\"`" + `

	Text   string
	Status Status
	Audit
	// Cache is not synchronized.
	Cache map[string]int ` + "`ssync:\"-\"`" + `
}
`

// TestNextToModels generates code into the models' own package: it compiles
// there; when a model, an embedded struct or a named type changes, the
// stale code stops compiling (the drift guards) but does not stop ssyncgen
// from regenerating; and a hand-written declaration that takes a generated
// name is reported at its position.
func TestNextToModels(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	dir := checkDir(t)
	models := filepath.Join(dir, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	src := nextToModels
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(models, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("models.go", src)
	pkg := "./" + filepath.ToSlash(models)
	gen := func(flags ...string) (int, string) {
		t.Helper()
		code, _, stderr := runGen(append(flags, pkg)...)
		return code, stderr
	}
	if code, stderr := gen(); code != 0 {
		t.Fatalf("ssyncgen exited %d:\n%s", code, stderr)
	}
	if got := sortedKeys(goFiles(t, models)); !slices.Equal(got, []string{"models.go", "note.ssync.go", "registry.ssync.go", "schema.ssync.json"}) {
		t.Fatalf("files next to the models: %v", got)
	}
	goCmd(t, "vet", pkg)

	// Each change makes the generated drift guard (or a conversion) stop
	// compiling.
	changes := []struct{ what, old, new string }{
		{"a new field", "\tText   string\n", "\tText   string\n\tTitle  string\n"},
		{"a new field of an embedded struct", "\tBy string\n", "\tBy string\n\tAt int\n"},
		{"a named type's base type", "type Status string", "type Status int"},
	}
	for _, change := range changes {
		changed := strings.Replace(src, change.old, change.new, 1)
		if changed == src {
			t.Fatalf("%s: %q not in the models", change.what, change.old)
		}
		write("models.go", changed)
		if msg, err := goCmdOutput("build", pkg); err == nil || !strings.Contains(msg, "note.ssync.go") {
			t.Fatalf("%s: stale generated code still compiles, or fails elsewhere:\n%s", change.what, msg)
		}
	}
	// With the last change in place, ssyncgen still loads the models; the
	// schema snapshot beside them refuses the changed type until it is
	// accepted, and then the code that no longer compiles is rewritten.
	if code, stderr := gen(); code != 2 || !strings.Contains(stderr, `table "notes" column "status": field Status changed type`) {
		t.Fatalf("ssyncgen over a changed type exited %d, want 2 and the column named:\n%s", code, stderr)
	}
	if code, stderr := gen("-accept", "notes.status"); code != 0 {
		t.Fatalf("ssyncgen over stale generated code exited %d:\n%s", code, stderr)
	}
	goCmd(t, "build", pkg)

	// A hand-written declaration takes a generated name.
	write("mine.go", "package models\n\n// NoteRepo is written by hand.\ntype NoteRepo struct{}\n")
	code, stderr := gen()
	want := filepath.ToSlash(filepath.Join(models, "mine.go")) + ":4:6: ssyncgen: NoteRepo is declared here, but ssyncgen generates NoteRepo for model Note in this package"
	if code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("ssyncgen exited %d, want 2 and %q:\n%s", code, want, stderr)
	}
}
