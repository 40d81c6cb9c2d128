package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureTables is the size of the generated fixture schema.
const fixtureTables = 50

// writeFixture writes a package of n models into dir/models, spread over
// files of ten models each: every kind of field, named and sql.Null types,
// an embedded struct, indexes, and foreign keys to earlier tables.
func writeFixture(t testing.TB, dir string, n int) string {
	t.Helper()
	models := filepath.Join(dir, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	common := `package models

import "time"

// Status is a named string.
type Status string

// Audit is embedded in every model.
type Audit struct {
	CreatedBy string ` + "`json:\"createdBy\" ssync:\"index\"`" + `
	Reviewed  *time.Time
}
`
	if err := os.WriteFile(filepath.Join(models, "common.go"), []byte(common), 0o644); err != nil {
		t.Fatal(err)
	}
	for file := 0; file*10 < n; file++ {
		var b strings.Builder
		b.WriteString(`package models

import (
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/runtime/ssync"
)

var _ time.Time
`)
		for i := file * 10; i < min(n, file*10+10); i++ {
			fmt.Fprintf(&b, "\n// Table%02d is fixture model %d.\ntype Table%02d struct {\n", i, i, i)
			fmt.Fprintf(&b, "\tssync.Record `ssync:\"table=table_%02d,order=%d\"`\n\n", i, i+1)
			b.WriteString("\tName     string `json:\"name\" ssync:\"index\"`\n")
			b.WriteString("\tCount    int64\n\tRatio    float64\n\tSmall    int8\n\tBig      uint64\n\tDone     bool\n")
			b.WriteString("\tAt       time.Time\n\tBlob     []byte\n\tKey      uuid.UUID\n\tNote     *string\n")
			b.WriteString("\tState    Status `ssync:\"index\"`\n\tMaybe    sql.NullInt64\n\tTitle    string `ssync:\"server=title_text\"`\n")
			if i > 0 {
				fmt.Fprintf(&b, "\tParentID uuid.UUID `ssync:\"ref=table_%02d\"`\n", i-1)
			}
			if i > 1 {
				fmt.Fprintf(&b, "\tRootID   *uuid.UUID `ssync:\"ref=table_%02d\"`\n", 0)
			}
			b.WriteString("\tAudit\n}\n")
		}
		name := filepath.Join(models, fmt.Sprintf("tables%d.go", file))
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return "./" + filepath.ToSlash(models)
}

// TestFiftyTables generates a 50-table schema and checks that the output
// builds and vets. It logs how long generation took (the target is under
// 2 s); run with -v to see it.
func TestFiftyTables(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	dir := checkDir(t)
	models := writeFixture(t, dir, fixtureTables)
	out := filepath.Join(dir, "generated")
	start := time.Now()
	code, _, stderr := runGen("-out", out, "-pkg", "generated", models)
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("ssyncgen exited %d:\n%s", code, stderr)
	}
	t.Logf("generated %d tables in %v (in process, packages loaded from source)", fixtureTables, elapsed.Round(time.Millisecond))
	// One file a table, the registry and the schema snapshot.
	if files := goFiles(t, out); len(files) != fixtureTables+2 {
		t.Errorf("%d files generated, want %d", len(files), fixtureTables+2)
	}
	pkg := "./" + filepath.ToSlash(out)
	goCmd(t, "build", models, pkg)
	goCmd(t, "vet", pkg)
}

// BenchmarkGenerate50 measures loading and generating the 50-table fixture
// in process, writing nothing.
func BenchmarkGenerate50(b *testing.B) {
	dir, err := os.MkdirTemp(".", checkDirPrefix)
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	models := writeFixture(b, filepath.Base(dir), fixtureTables)
	out := filepath.Join(filepath.Base(dir), "generated")
	if code, _, stderr := runGen("-out", out, "-pkg", "generated", models); code != 0 {
		b.Fatalf("ssyncgen exited %d:\n%s", code, stderr)
	}
	b.ResetTimer()
	for b.Loop() {
		if code, _, stderr := runGen("-check", "-out", out, "-pkg", "generated", models); code != 0 {
			b.Fatalf("ssyncgen -check exited %d:\n%s", code, stderr)
		}
	}
}
