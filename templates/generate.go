package templates

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/dave/jennifer/jen"
)

// File is one generated file: its name in the output directory and its
// gofmt'ed content.
type File struct {
	// Name is the file's base name.
	Name string
	// Content is the complete file.
	Content []byte
}

// Generate renders every file of m: one per table and the registry. It
// writes nothing; the caller decides whether to write or to compare.
func Generate(m *Model) ([]File, error) {
	var files []File
	for _, t := range m.Tables {
		f := newFile(m)
		emitTable(f, m, t)
		b, err := render(f)
		if err != nil {
			return nil, fmt.Errorf("ssyncgen: render %s: %w", t.FileName, err)
		}
		files = append(files, File{Name: t.FileName, Content: b})
	}
	f := newFile(m)
	emitRegistry(f, m)
	b, err := render(f)
	if err != nil {
		return nil, fmt.Errorf("ssyncgen: render registry: %w", err)
	}
	files = append(files, File{Name: RegistryFile, Content: b})
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// RegistryFile is the name of the generated registry file.
const RegistryFile = "registry.ssync.go"

func newFile(m *Model) *jen.File {
	f := jen.NewFilePathName(m.PkgPath, m.PkgName)
	f.HeaderComment(Header)
	f.ImportName(PathSsync, "ssync")
	f.ImportName(PathImpl, "ssyncimpl")
	f.ImportName(PathClient, "client")
	f.ImportName(PathUUID, "uuid")
	f.ImportName(PathJLexer, "jlexer")
	f.ImportName(PathJWrite, "jwriter")
	return f
}

func render(f *jen.File) ([]byte, error) {
	var buf bytes.Buffer
	if err := f.Render(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
