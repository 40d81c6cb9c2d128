// Package loader reads the Go packages named on ssyncgen's command line with
// golang.org/x/tools/go/packages, finds the structs that embed ssync.Record
// with a table tag, checks their tags and field types, and fills the
// templates.Model the emitters read. Every problem is collected with its
// position; nothing stops at the first one.
package loader

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/modfile"
	"golang.org/x/tools/go/packages"

	"github.com/ssync-go/ssync/templates"
)

// Diagnostic is one problem found while loading, with its position.
type Diagnostic struct {
	// Pos is "path/file.go:line:col", relative to the working directory
	// when possible.
	Pos string
	// Msg says what is wrong and how to fix it.
	Msg string

	// file, line and col order diagnostics by position.
	file      string
	line, col int
}

// sortDiagnostics orders diags by file and position, keeping the order of
// equal positions; diagnostics without a position come last.
func sortDiagnostics(diags Errors) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i], diags[j]
		if (a.file == "") != (b.file == "") {
			return b.file == ""
		}
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.col < b.col
	})
}

// String formats the diagnostic as path:line:col: message.
func (d Diagnostic) String() string {
	if d.Pos == "" {
		return "ssyncgen: " + d.Msg
	}
	return d.Pos + ": ssyncgen: " + d.Msg
}

// Errors is the list of problems of one run; it is an error.
type Errors []Diagnostic

// Error lists every diagnostic, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Config says what to load and where the output goes.
type Config struct {
	// Dir is the directory patterns are resolved in; empty means the
	// working directory.
	Dir string
	// Patterns are package patterns, e.g. ".".
	Patterns []string
	// OutDir is the output directory; empty means next to the (single)
	// loaded package.
	OutDir string
	// PkgName is the output package name; empty means the name of the
	// package already in OutDir, or the directory's base name.
	PkgName string
}

// Result is a loaded model and where to write it.
type Result struct {
	// Model is what the emitters read.
	Model *templates.Model
	// OutDir is the absolute output directory.
	OutDir string
}

const (
	ssyncPath = templates.PathSsync
)

// Load loads cfg's packages and returns the model, or Errors listing every
// problem found.
func Load(cfg Config) (*Result, error) {
	dir := cfg.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		dir = wd
	}
	if len(cfg.Patterns) == 0 {
		cfg.Patterns = []string{"."}
	}
	l := &loader{wd: dir}
	pkgs, err := l.loadPackages(cfg.Patterns, false)
	if err != nil {
		return nil, err
	}
	if len(l.diags) > 0 && len(l.generated) > 0 {
		// Code that ssyncgen generated into a loaded package may no longer
		// compile: its model changed (the drift guard fired), or a
		// declaration now clashes with it. It is about to be rewritten, so
		// load again without it; when that fails too, report the first
		// load's errors.
		first, stale := l.diags, l.staleGenerated
		l.diags = nil
		again, err := l.loadPackages(cfg.Patterns, true)
		if err != nil || len(l.diags) > 0 {
			l.diags = first
			if stale {
				l.diags = append(l.diags, Diagnostic{Msg: "some of these errors are in files ssyncgen wrote; " +
					"if they stay after fixing the others, delete those files and run ssyncgen again"})
			}
			return nil, l.sorted()
		}
		pkgs = again
	}
	if len(pkgs) == 0 {
		return nil, Errors{{Msg: fmt.Sprintf("no packages match %s", strings.Join(cfg.Patterns, " "))}}
	}
	if len(l.diags) > 0 {
		return nil, l.sorted()
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })
	for _, p := range pkgs {
		l.indexFields(p)
	}
	for _, p := range pkgs {
		l.loadPackage(p)
	}
	if len(l.tables) == 0 && len(l.diags) == 0 {
		return nil, Errors{{Msg: fmt.Sprintf("no struct in %s embeds ssync.Record with a `ssync:\"table=...,order=...\"` tag", strings.Join(cfg.Patterns, " "))}}
	}
	outDir := cfg.OutDir
	if outDir == "" {
		if len(pkgs) != 1 || len(pkgs[0].GoFiles) == 0 {
			l.diags = append(l.diags, Diagnostic{Msg: "several packages loaded: name the output directory with -out"})
			return nil, l.sorted()
		}
		outDir = filepath.Dir(pkgs[0].GoFiles[0])
	} else if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(dir, outDir)
	}
	outDir = filepath.Clean(outDir)
	pkgPath, pkgName, err := outputPackage(outDir, pkgs, cfg.PkgName)
	if err != nil {
		l.diags = append(l.diags, Diagnostic{Msg: err.Error()})
		return nil, l.sorted()
	}
	var outPkg *packages.Package
	for _, p := range pkgs {
		if p.PkgPath == pkgPath {
			outPkg = p
		}
	}
	l.checkTables(outPkg)
	if len(l.diags) > 0 {
		return nil, l.sorted()
	}
	tables := make([]*templates.Table, len(l.tables))
	for i, lt := range l.tables {
		tables[i] = lt.Table
	}
	sort.SliceStable(tables, func(i, j int) bool {
		a, b := tables[i], tables[j]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Collection < b.Collection
	})
	return &Result{
		Model:  &templates.Model{PkgName: pkgName, PkgPath: pkgPath, Tables: tables},
		OutDir: outDir,
	}, nil
}

// loadPackages loads the packages matching patterns and collects their
// errors. With skipGenerated, files that ssyncgen wrote are read as empty.
func (l *loader) loadPackages(patterns []string, skipGenerated bool) ([]*packages.Package, error) {
	l.fset = token.NewFileSet()
	l.generated = map[string]bool{}
	var mu sync.Mutex
	pcfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
			packages.NeedTypes | packages.NeedTypesInfo | packages.NeedModule,
		Dir:   l.wd,
		Fset:  l.fset,
		Tests: false,
		ParseFile: func(fset *token.FileSet, filename string, src []byte) (*ast.File, error) {
			if bytes.HasPrefix(src, []byte("// "+templates.Header)) {
				mu.Lock()
				l.generated[filename] = true
				mu.Unlock()
				if skipGenerated {
					return parser.ParseFile(fset, filename, src, parser.PackageClauseOnly)
				}
			}
			return parser.ParseFile(fset, filename, src, parser.AllErrors|parser.ParseComments)
		},
	}
	pkgs, err := packages.Load(pcfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("ssyncgen: load %s: %w", strings.Join(patterns, " "), err)
	}
	l.staleGenerated = false
	for _, p := range pkgs {
		checked := false // the type checker or parser reported errors with positions
		for _, e := range p.Errors {
			checked = checked || e.Kind == packages.TypeError || e.Kind == packages.ParseError
		}
		for _, e := range p.Errors {
			// go list -export compiles the package and reports the
			// compiler's output as one position-less "# path\n..." error;
			// the same errors come again, positioned, from the type checker.
			// Without the generated files, the compiler's errors (it
			// compiles every file) are not the type checker's.
			if (checked || skipGenerated) && e.Kind == packages.ListError && strings.HasPrefix(e.Msg, "# ") {
				continue
			}
			if file, _, _ := strings.Cut(e.Pos, ":"); l.generated[file] {
				l.staleGenerated = true
			}
			d := Diagnostic{Pos: l.relPos(e.Pos), Msg: e.Msg}
			parts := strings.Split(e.Pos, ":")
			if len(parts) >= 2 {
				d.file = parts[0]
				d.line, _ = strconv.Atoi(parts[1])
				if len(parts) >= 3 {
					d.col, _ = strconv.Atoi(parts[2])
				}
			}
			l.diags = append(l.diags, d)
		}
	}
	return pkgs, nil
}

// outputPackage finds the import path of outDir (from the enclosing go.mod)
// and the package name to use there.
func outputPackage(outDir string, pkgs []*packages.Package, name string) (path, pkgName string, err error) {
	for _, p := range pkgs {
		if len(p.GoFiles) > 0 && filepath.Dir(p.GoFiles[0]) == outDir {
			if name == "" {
				name = p.Name
			}
			return p.PkgPath, name, nil
		}
	}
	if name == "" {
		name = existingPackageName(outDir)
	}
	if name == "" {
		name = strings.ReplaceAll(filepath.Base(outDir), "-", "_")
	}
	if !token.IsIdentifier(name) {
		return "", "", fmt.Errorf("output package name %q is not a Go identifier (set it with -pkg)", name)
	}
	for d := outDir; ; d = filepath.Dir(d) {
		data, rerr := os.ReadFile(filepath.Join(d, "go.mod"))
		if rerr == nil {
			mod := modfile.ModulePath(data)
			if mod == "" {
				return "", "", fmt.Errorf("%s has no module line", filepath.Join(d, "go.mod"))
			}
			rel, _ := filepath.Rel(d, outDir)
			if rel == "." {
				return mod, name, nil
			}
			return mod + "/" + filepath.ToSlash(rel), name, nil
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("output directory %s is not inside a Go module", outDir)
		}
	}
}

// existingPackageName returns the package name of Go files already in dir.
func existingPackageName(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "package" {
				return f[1]
			}
		}
	}
	return ""
}
