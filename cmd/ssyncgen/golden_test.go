package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aymanbagabas/go-udiff"

	"github.com/ssync-go/ssync/cmd/ssyncgen/loader"
	"github.com/ssync-go/ssync/cmd/ssyncgen/snapshot"
	"github.com/ssync-go/ssync/templates"
)

// update rewrites the golden files: go test ./cmd/ssyncgen -run 'Golden|Errors' -update
var update = flag.Bool("update", false, "rewrite testdata/*/want and testdata/errors/*/want.txt")

// Golden cases live in testdata/<case>: the input packages (models/, and
// others when the case needs several), the expected output in want/, and
// optionally tests of that output in test/, which TestCaseTests runs.
// testdata is skipped by ./..., but its packages load (and build) by
// explicit path, e.g. ./testdata/notes/models. Every case is generated with
// -pkg generated.
//
// Failing cases live in testdata/errors/<case>: the input packages (models/,
// and others when the case needs several) and the expected stderr, positions
// relative to this directory, in want.txt; optionally the previous schema
// snapshot (schema.ssync.json), put in the output directory first, and
// more command-line flags (args.txt).

// checkDirPrefix names the throwaway packages some tests generate inside the
// module, next to this file: go/packages and the go command need them inside
// the module. The leading underscore keeps them out of ./... even when a
// killed test leaves one behind; .gitignore keeps them out of git.
const checkDirPrefix = "_goldencheck-"

func TestMain(m *testing.M) {
	flag.Parse()
	// Sweep throwaway packages that a killed run left behind. Only old
	// ones: another run may be using a fresh one.
	if old, _ := filepath.Glob(checkDirPrefix + "*"); len(old) > 0 {
		for _, d := range old {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
		}
	}
	os.Exit(m.Run())
}

// validCases lists the golden cases: every directory of testdata except
// errors.
func validCases(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "errors" {
			cases = append(cases, e.Name())
		}
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases in testdata")
	}
	return cases
}

// runGen runs ssyncgen in-process and returns its exit code and output.
func runGen(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// goFiles reads the .go files of dir, and its schema snapshot, by name.
func goFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") && e.Name() != snapshot.FileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// inputPackages lists the input packages of golden case c: every directory
// of testdata/<case> but want (the expected output) and test (tests of that
// output, see TestCaseTests).
func inputPackages(t *testing.T, c string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", c))
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "want" && e.Name() != "test" {
			pkgs = append(pkgs, "./testdata/"+c+"/"+e.Name())
		}
	}
	return pkgs
}

func TestGolden(t *testing.T) {
	for _, c := range validCases(t) {
		t.Run(c, func(t *testing.T) {
			inputs := inputPackages(t, c)
			wantDir := filepath.Join("testdata", c, "want")
			if *update {
				// The normal write path: it also removes files that a
				// previous run wrote and that are no longer produced.
				if code, _, stderr := runGen(append([]string{"-out", wantDir, "-pkg", "generated"}, inputs...)...); code != 0 {
					t.Fatalf("ssyncgen exited %d:\n%s", code, stderr)
				}
			}
			res, err := loader.Load(loader.Config{Patterns: inputs, OutDir: wantDir, PkgName: "generated"})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			files, err := templates.Generate(res.Model)
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			snap, err := snapshot.Of(res.Model).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, templates.File{Name: snapshot.FileName, Content: snap})
			want := goFiles(t, wantDir)
			for _, f := range files {
				w, ok := want[f.Name]
				delete(want, f.Name)
				if !ok {
					t.Errorf("%s is generated but missing from %s (run go test -update)", f.Name, wantDir)
					continue
				}
				if !bytes.Equal(w, f.Content) {
					name := filepath.ToSlash(filepath.Join(wantDir, f.Name))
					t.Errorf("%s differs from the generated file (run go test -update):\n%s",
						name, udiff.Unified("want/"+name, "got/"+name, string(w), string(f.Content)))
				}
			}
			for name := range want {
				t.Errorf("%s is in %s but no longer generated (run go test -update)", name, wantDir)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := e.Name()
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", "errors", c)
			out := filepath.Join(dir, "out")
			t.Cleanup(func() { os.RemoveAll(out) })
			// A case with a previous schema snapshot (schema.ssync.json)
			// starts with it in the output directory.
			seeded := map[string][]byte{}
			if prev, err := os.ReadFile(filepath.Join(dir, snapshot.FileName)); err == nil {
				if err := os.MkdirAll(out, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, snapshot.FileName), prev, 0o644); err != nil {
					t.Fatal(err)
				}
				seeded[snapshot.FileName] = prev
			}
			args := []string{"-out", out, "-pkg", "generated"}
			if extra, err := os.ReadFile(filepath.Join(dir, "args.txt")); err == nil {
				args = append(args, strings.Fields(string(extra))...)
			}
			// Every package of the case: most have models/ only.
			code, stdout, stderr := runGen(append(args, "./"+filepath.ToSlash(dir)+"/...")...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty:\n%s", stdout)
			}
			if len(seeded) == 0 {
				if _, err := os.Stat(out); err == nil {
					t.Errorf("%s was written although ssyncgen failed", out)
				}
			} else if got := goFiles(t, out); !equalFiles(got, seeded) {
				t.Errorf("%s was changed although ssyncgen failed: it holds %v", out, sortedKeys(got))
			}
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(stderr), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if stderr != string(want) {
				t.Errorf("stderr differs from %s (run go test -update):\n%s", wantFile,
					udiff.Unified("want", "got", string(want), stderr))
			}
		})
	}
}

// goCmd runs the go command in this directory and fails the test, showing
// its output, when it fails.
func goCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := goCmdOutput(args...)
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func goCmdOutput(args ...string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(gobin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGoldenBuild builds and vets the committed golden outputs in place: the
// generated code must compile against the runtime and the models, and pass
// go vet.
func TestGoldenBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	var pkgs []string
	for _, c := range validCases(t) {
		pkgs = append(append(pkgs, inputPackages(t, c)...), "./testdata/"+c+"/want")
	}
	goCmd(t, append([]string{"build"}, pkgs...)...)
	goCmd(t, append([]string{"vet"}, pkgs...)...)
}

// checkDir creates a throwaway directory inside the module, next to this
// file, removed when the test ends, failed or not. It returns its relative
// path.
func checkDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(".", checkDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return filepath.Base(dir)
}

// copyDir copies the regular files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// genCopy copies the models of golden case c into a throwaway package inside
// the module and generates its code there with a normal run. It returns the
// throwaway directory, the models' pattern and the output directory.
func genCopy(t *testing.T, c string) (dir, models, out string) {
	t.Helper()
	dir = checkDir(t)
	copyDir(t, filepath.Join("testdata", c, "models"), filepath.Join(dir, "models"))
	models = "./" + dir + "/models"
	out = filepath.Join(dir, "generated")
	if code, _, stderr := runGen("-out", out, "-pkg", "generated", models); code != 0 {
		t.Fatalf("ssyncgen exited %d:\n%s", code, stderr)
	}
	return dir, models, out
}

// TestCaseTests runs the tests kept in testdata/<case>/test against the
// committed output of each golden case that has them (TestGolden keeps that
// output current), judged by go test's exit status: for "kinds", every kind
// of field survives the generated encoder and decoder and the row binders
// agree with the columns; for "features", named, sql.Null, JSON-text and
// embedded fields survive the codec and sync between two devices through a
// server on every store (those not reachable skip, loudly); for "relations",
// the ondelete rules reach the descriptors and a self-referencing tree of
// tasks syncs on every store.
func TestCaseTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Parallel()
	for _, c := range validCases(t) {
		dir := filepath.Join("testdata", c, "test")
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			goCmd(t, "test", "-count=1", "./"+filepath.ToSlash(dir))
		})
	}
}

func TestCheck(t *testing.T) {
	dir, models, out := genCopy(t, "notes")
	check := func(t *testing.T) (int, string, string) {
		t.Helper()
		return runGen("-check", "-out", out, "-pkg", "generated", models)
	}
	gen := func(t *testing.T) {
		t.Helper()
		if code, stdout, stderr := runGen("-out", out, "-pkg", "generated", models); code != 0 || stdout != "" || stderr != "" {
			t.Fatalf("ssyncgen exited %d:\n%s%s", code, stdout, stderr)
		}
	}
	current := func(t *testing.T) {
		t.Helper()
		if code, stdout, stderr := check(t); code != 0 || stdout != "" || stderr != "" {
			t.Fatalf("-check exited %d, want 0:\n%s%s", code, stdout, stderr)
		}
	}
	stale := func(t *testing.T, mention ...string) {
		t.Helper()
		before := goFiles(t, out)
		code, stdout, stderr := check(t)
		if code != 1 {
			t.Fatalf("-check exited %d, want 1:\n%s%s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "is stale") {
			t.Errorf("stderr does not say the code is stale:\n%s", stderr)
		}
		for _, m := range mention {
			if !strings.Contains(stdout, m) {
				t.Errorf("diff does not mention %q:\n%s", m, stdout)
			}
		}
		if after := goFiles(t, out); !equalFiles(before, after) {
			t.Error("-check changed the output directory")
		}
	}
	outRel := filepath.ToSlash(out)

	t.Run("current", func(t *testing.T) {
		current(t)
		if want := []string{"note.ssync.go", "registry.ssync.go", snapshot.FileName, "user.ssync.go"}; !slices.Equal(sortedKeys(goFiles(t, out)), want) {
			t.Errorf("generated %v, want %v", sortedKeys(goFiles(t, out)), want)
		}
	})

	t.Run("deterministic", func(t *testing.T) {
		first := goFiles(t, out)
		if err := os.RemoveAll(out); err != nil {
			t.Fatal(err)
		}
		gen(t)
		if second := goFiles(t, out); !equalFiles(first, second) {
			t.Error("a second run wrote different bytes")
		}
		other := filepath.Join(dir, "other")
		if code, _, stderr := runGen("-out", other, "-pkg", "generated", models); code != 0 {
			t.Fatalf("ssyncgen exited %d:\n%s", code, stderr)
		}
		if !equalFiles(first, goFiles(t, other)) {
			t.Error("generating into another directory wrote different bytes")
		}
	})

	t.Run("missing", func(t *testing.T) {
		if err := os.Remove(filepath.Join(out, "user.ssync.go")); err != nil {
			t.Fatal(err)
		}
		stale(t, "+++ b/"+outRel+"/user.ssync.go", "+func UserTable()")
		gen(t)
		current(t)
	})

	t.Run("stalefile", func(t *testing.T) {
		old := filepath.Join(out, "gone.ssync.go")
		content := "// " + templates.Header + "\n\npackage generated\n\n// Gone was generated for a model that no longer exists.\nconst Gone = 1\n"
		if err := os.WriteFile(old, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		stale(t, "--- a/"+outRel+"/gone.ssync.go", "-const Gone = 1")
		gen(t)
		if _, err := os.Stat(old); err == nil {
			t.Error("a normal run did not remove the stale generated file")
		}
		current(t)
	})

	t.Run("handwritten", func(t *testing.T) {
		files := map[string]string{
			// No header: written by hand.
			"helpers.go": "package generated\n\n// Helper is written by hand.\nfunc Helper() {}\n",
			// Another tool's header: not ours.
			"other_gen.go": "// Code generated by othertool. DO NOT EDIT.\n\npackage generated\n",
			// Not Go: ignored.
			"notes.txt": "// " + templates.Header + "\n",
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(out, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		current(t)
		gen(t)
		for name, content := range files {
			got, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if string(got) != content {
				t.Errorf("%s was changed", name)
			}
		}
		// A hand-written file with the name of a generated one is an error,
		// and is kept.
		note := filepath.Join(out, "note.ssync.go")
		mine := []byte("package generated\n\n// Mine is written by hand.\nconst Mine = 1\n")
		if err := os.WriteFile(note, mine, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{}, {"-check"}} {
			code, _, stderr := runGen(append(args, "-out", out, "-pkg", "generated", models)...)
			if code != 2 || !strings.Contains(stderr, "note.ssync.go exists and was not written by ssyncgen") {
				t.Errorf("ssyncgen %v exited %d, want 2 and a message:\n%s", args, code, stderr)
			}
			if got, _ := os.ReadFile(note); !bytes.Equal(got, mine) {
				t.Errorf("ssyncgen %v overwrote a hand-written file", args)
			}
		}
		for name := range files {
			os.Remove(filepath.Join(out, name))
		}
		os.Remove(note)
		gen(t)
		current(t)
	})

	t.Run("newfield", func(t *testing.T) {
		path := filepath.Join(dir, "models", "models.go")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const anchor = "\tUserName string `json:\"userName\"`\n"
		if !bytes.Contains(src, []byte(anchor)) {
			t.Fatalf("%s has no line %q", path, anchor)
		}
		src = bytes.Replace(src, []byte(anchor), []byte(anchor+"\t// Priority orders notes.\n\tPriority int `json:\"priority\"`\n"), 1)
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		stale(t, "--- a/"+outRel+"/note.ssync.go", `+			{Name: "priority", Wire: "priority", Kind: ssync.KindInt, Size: 64},`, "+\tw.Int(r.Priority)")
		if !testing.Short() {
			// The drift guard: the old code no longer compiles.
			if msg, err := goCmdOutput("build", "./"+filepath.ToSlash(out)); err == nil {
				t.Error("stale generated code still compiles against the changed model")
			} else if !strings.Contains(msg, "note.ssync.go") {
				t.Errorf("build failed, but not in note.ssync.go:\n%s", msg)
			}
		}
		gen(t)
		current(t)
	})

	t.Run("stalesnapshot", func(t *testing.T) {
		path := filepath.Join(out, snapshot.FileName)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		stale(t, "+++ b/"+outRel+"/"+snapshot.FileName, `+          "name": "priority",`)
		_, _, stderr := check(t)
		if want := "schema snapshot " + filepath.Join(out, snapshot.FileName) + " is stale or missing"; !strings.Contains(stderr, want) {
			t.Errorf("-check does not say %q:\n%s", want, stderr)
		}
		gen(t)
		current(t)
	})

	t.Run("schemaversion", func(t *testing.T) {
		if code, _, stderr := runGen("-schema-version", "3", "-out", out, "-pkg", "generated", models); code != 0 {
			t.Fatalf("ssyncgen -schema-version 3 exited %d:\n%s", code, stderr)
		}
		if reg := goFiles(t, out)["registry.ssync.go"]; !bytes.Contains(reg, []byte("const SchemaVersion = 3\n")) {
			t.Errorf("registry.ssync.go does not set SchemaVersion to 3:\n%s", reg)
		}
		// Without the flag, the snapshot's version stays.
		current(t)
		gen(t)
		if reg := goFiles(t, out)["registry.ssync.go"]; !bytes.Contains(reg, []byte("const SchemaVersion = 3\n")) {
			t.Error("a run without -schema-version changed the version")
		}
		if code, stdout, _ := runGen("-check", "-schema-version", "4", "-out", out, "-pkg", "generated", models); code != 1 || !strings.Contains(stdout, "+const SchemaVersion = 4") || !strings.Contains(stdout, `+  "schemaVersion": 4,`) {
			t.Errorf("-check -schema-version 4 exited %d, want 1 and a diff of the version:\n%s", code, stdout)
		}
	})

	t.Run("unsafe", func(t *testing.T) {
		path := filepath.Join(dir, "models", "models.go")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const field = "\tPriority int `json:\"priority\"`\n"
		const newLine = "\tPriority string `json:\"priority\"`\n"
		changed := bytes.Replace(src, []byte(field), []byte(newLine), 1)
		if bytes.Equal(changed, src) {
			t.Fatalf("%s has no line %q", path, field)
		}
		if err := os.WriteFile(path, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		before := goFiles(t, out)
		// Reported at the field's tag.
		want := filepath.Join(dir, "models", "models.go") + `:` + strconv.Itoa(lineOf(changed, newLine)) + `:` + strconv.Itoa(strings.Index(newLine, "`")+1) +
			`: ssyncgen: table "ss_tb_note" column "priority": field Priority changed type: int(64) in the snapshot, text in the model`
		for _, args := range [][]string{{}, {"-check"}} {
			code, stdout, stderr := runGen(append(args, "-out", out, "-pkg", "generated", models)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "-accept ss_tb_note.priority") {
				t.Errorf("ssyncgen %v exited %d, want 2 and %q:\n%s%s", args, code, want, stdout, stderr)
			}
			if !equalFiles(before, goFiles(t, out)) {
				t.Errorf("ssyncgen %v changed the output directory although it refused the change", args)
			}
		}
		// Accepted: the code and the snapshot follow the model.
		if code, stdout, stderr := runGen("-accept", "ss_tb_note.priority", "-out", out, "-pkg", "generated", models); code != 0 || stdout != "" || stderr != "" {
			t.Fatalf("ssyncgen -accept exited %d:\n%s%s", code, stdout, stderr)
		}
		current(t)
		snap, err := os.ReadFile(filepath.Join(out, snapshot.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(snap, []byte("\"field\": \"Priority\",\n          \"wire\": \"priority\",\n          \"kind\": \"text\"")) {
			t.Errorf("the snapshot does not hold the accepted type:\n%s", snap)
		}
		// Accepting again names no refused change: an error.
		if code, _, stderr := runGen("-accept", "ss_tb_note.priority", "-out", out, "-pkg", "generated", models); code != 2 || !strings.Contains(stderr, "-accept ss_tb_note.priority names no change") {
			t.Errorf("a second -accept exited %d, want 2:\n%s", code, stderr)
		}
	})
}

// lineOf returns the 1-based line of src that starts with prefix; 0 when
// none does.
func lineOf(src []byte, prefix string) int {
	for i, line := range strings.SplitAfter(string(src), "\n") {
		if strings.HasPrefix(line, prefix) {
			return i + 1
		}
	}
	return 0
}

func equalFiles(a, b map[string][]byte) bool {
	return len(a) == len(b) && !slices.ContainsFunc(sortedKeys(a), func(k string) bool {
		v, ok := b[k]
		return !ok || !bytes.Equal(v, a[k])
	})
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runGen("-version")
	if code != 0 || stdout != "ssyncgen "+version+"\n" || stderr != "" {
		t.Errorf("-version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestUsage(t *testing.T) {
	if code, _, stderr := runGen("-nosuchflag"); code != 2 || !strings.Contains(stderr, "usage: ssyncgen") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runGen("-h"); code != 0 || !strings.Contains(stderr, "usage: ssyncgen") {
		t.Errorf("-h: exit %d, stderr %q", code, stderr)
	}
}
