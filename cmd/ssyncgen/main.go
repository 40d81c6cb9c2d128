// Command ssyncgen generates typed, sync-aware repositories, schema and wire
// codecs for Go structs that embed ssync.Record with a table tag.
//
// Usage:
//
//	ssyncgen [-out dir] [-pkg name] [-schema-version n] [-accept changes] [-check] [-version] [packages]
//
// With no packages it loads the package in the current directory; models of
// several packages go into one output package named with -out. Put it in a
// //go:generate line next to the models:
//
//	//go:generate go run github.com/ssync-go/ssync/cmd/ssyncgen -out ../generated .
//
// or, with the module listed in go.mod's tool directive (go get -tool
// github.com/ssync-go/ssync/cmd/ssyncgen):
//
//	//go:generate go tool ssyncgen -out ../generated .
//
// Beside the code it writes the schema snapshot, schema.ssync.json: the
// tables, columns and indexes the code was generated for. Commit it with
// the code. When it is there, ssyncgen compares the models with it first and
// refuses, writing nothing, a change that migrations at open cannot apply or
// that breaks apps still running the previous models (a field's type or
// nullability changed, a field or table removed or renamed; see
// snapshot.Compare), naming the table and column. -accept table.column (or
// table), comma-separated, makes such a change deliberately, once.
// -schema-version sets the constant SchemaVersion, the app's version of its
// models; without it the version is the snapshot's, or 0.
//
// Exit status: 0 on success (and, with -check, when everything is current),
// 1 when -check finds stale or missing files, 2 on any error. Errors are
// printed one per line as path/file.go:line:col: ssyncgen: what (how to fix).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/ssync-go/ssync/cmd/ssyncgen/loader"
	"github.com/ssync-go/ssync/cmd/ssyncgen/snapshot"
	"github.com/ssync-go/ssync/templates"
)

// version is ssyncgen's version, printed by -version.
const version = "0.1.0"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssyncgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output `dir`ectory (default: next to the models)")
	pkg := fs.String("pkg", "", "output package `name` (default: the package already there, or the directory name)")
	schemaVersion := fs.Int("schema-version", 0, "the app's `version` of its models, emitted as the constant SchemaVersion (default: the schema snapshot's, or 0)")
	accept := fs.String("accept", "", "comma-separated `changes` (table.column, or table) the schema snapshot refuses, made deliberately")
	check := fs.Bool("check", false, "write nothing; print a diff and exit 1 when generated files are stale or missing")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ssyncgen [-out dir] [-pkg name] [-schema-version n] [-accept changes] [-check] [-version] [packages]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "ssyncgen", version)
		return 0
	}
	res, err := loader.Load(loader.Config{Patterns: fs.Args(), OutDir: *out, PkgName: *pkg})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	prev, err := readSnapshot(res.OutDir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	res.Model.SchemaVersion = *schemaVersion
	if !flagSet(fs, "schema-version") && prev != nil {
		res.Model.SchemaVersion = prev.SchemaVersion
	}
	files, err := templates.Generate(res.Model)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	snap, err := checkSnapshot(res.OutDir, prev, res.Model, *accept)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	files = append(files, snap)
	plan, err := planOutput(res.OutDir, files)
	if err != nil {
		fmt.Fprintln(stderr, "ssyncgen:", err)
		return 2
	}
	if *check {
		if plan.current() {
			return 0
		}
		plan.diff(stdout)
		if plan.writes(snapshot.FileName) {
			fmt.Fprintf(stderr, "ssyncgen: schema snapshot %s is stale or missing: it does not describe the models\n", filepath.Join(relPath(res.OutDir), snapshot.FileName))
		}
		fmt.Fprintf(stderr, "ssyncgen: generated code in %s is stale: run go generate (or ssyncgen without -check)\n", relPath(res.OutDir))
		return 1
	}
	if err := plan.apply(); err != nil {
		fmt.Fprintln(stderr, "ssyncgen:", err)
		return 2
	}
	return 0
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// plan is what writing the output would change.
type plan struct {
	dir     string
	write   []templates.File // new or changed files
	old     map[string][]byte
	remove  []string // generated files no longer produced
	allNew  []templates.File
	changed bool
}

// isGenerated reports whether content is a file ssyncgen wrote.
func isGenerated(content []byte) bool {
	return bytes.HasPrefix(content, []byte("// "+templates.Header))
}

func planOutput(dir string, files []templates.File) (*plan, error) {
	p := &plan{dir: dir, old: map[string][]byte{}, allNew: files}
	produced := map[string]bool{}
	for _, f := range files {
		produced[f.Name] = true
		cur, err := os.ReadFile(filepath.Join(dir, f.Name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			p.write = append(p.write, f)
		case err != nil:
			return nil, err
		case !isGenerated(cur) && !(f.Name == snapshot.FileName && snapshot.IsSnapshot(cur)):
			return nil, fmt.Errorf("%s exists and was not written by ssyncgen; move it away or rename the model", filepath.Join(relPath(dir), f.Name))
		case !bytes.Equal(cur, f.Content):
			p.old[f.Name] = cur
			p.write = append(p.write, f)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || produced[e.Name()] {
			continue
		}
		cur, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if isGenerated(cur) {
			p.old[e.Name()] = cur
			p.remove = append(p.remove, e.Name())
		}
	}
	sort.Strings(p.remove)
	return p, nil
}

func (p *plan) current() bool { return len(p.write) == 0 && len(p.remove) == 0 }

// writes reports whether the plan writes the file name.
func (p *plan) writes(name string) bool {
	for _, f := range p.write {
		if f.Name == name {
			return true
		}
	}
	return false
}

func (p *plan) diff(w io.Writer) {
	rel := relPath(p.dir)
	for _, f := range p.write {
		old := string(p.old[f.Name])
		name := filepath.ToSlash(filepath.Join(rel, f.Name))
		fmt.Fprint(w, udiff.Unified("a/"+name, "b/"+name, old, string(f.Content)))
	}
	for _, name := range p.remove {
		n := filepath.ToSlash(filepath.Join(rel, name))
		fmt.Fprint(w, udiff.Unified("a/"+n, "b/"+n, string(p.old[name]), ""))
	}
}

// apply writes every changed file (each through a temporary file and a
// rename) and removes generated files no longer produced.
func (p *plan) apply() error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	for _, f := range p.write {
		tmp, err := os.CreateTemp(p.dir, ".ssyncgen-*")
		if err != nil {
			return err
		}
		if _, err := tmp.Write(f.Content); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), filepath.Join(p.dir, f.Name)); err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	for _, name := range p.remove {
		if err := os.Remove(filepath.Join(p.dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil {
		return rel
	}
	return p
}
