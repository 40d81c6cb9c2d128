//go:build tools

// Package tools pins the libraries ssyncgen is built from, so that go mod
// tidy keeps them at the versions go.sum records even in builds that do not
// compile the generator. It is never compiled into a program.
package tools

import (
	_ "github.com/dave/jennifer/jen"
	_ "golang.org/x/tools/go/packages"
)
