package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ssync-go/ssync/cmd/ssyncgen/snapshot"
	"github.com/ssync-go/ssync/templates"
)

// readSnapshot returns the schema snapshot in dir; nil when there is none.
func readSnapshot(dir string) (*snapshot.Snapshot, error) {
	path := filepath.Join(dir, snapshot.FileName)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%s: ssyncgen: %w", relPath(path), err)
	}
	prev, err := snapshot.Parse(old)
	if err != nil {
		return nil, fmt.Errorf("%s: ssyncgen: %w (move the file away; without it, ssyncgen writes a new snapshot and checks nothing against the old one)", relPath(path), err)
	}
	return prev, nil
}

// checkSnapshot returns the schema snapshot of m as the file to write in
// dir, after comparing m with prev, the snapshot already there (nil: none):
// it fails, naming each table and column, when the models changed in a way
// that snapshot.Compare refuses and that accept (comma-separated
// table.column or table keys) does not name. An accepted key that names no
// refused change is an error too, so that a forgotten -accept does not let
// a later change through.
func checkSnapshot(dir string, prev *snapshot.Snapshot, m *templates.Model, accept string) (templates.File, error) {
	where := relPath(filepath.Join(dir, snapshot.FileName))
	cur := snapshot.Of(m)
	content, err := cur.Marshal()
	if err != nil {
		return templates.File{}, fmt.Errorf("%s: ssyncgen: %w", where, err)
	}
	accepted := map[string]bool{}
	for _, key := range strings.Split(accept, ",") {
		if key = strings.TrimSpace(key); key != "" {
			accepted[key] = false
		}
	}
	var errs []string
	if prev != nil {
		for _, c := range snapshot.Compare(prev, cur) {
			if _, ok := accepted[c.Key()]; ok {
				accepted[c.Key()] = true
				continue
			}
			errs = append(errs, fmt.Sprintf("%s: ssyncgen: %v", changePos(m, c, where), c))
		}
	}
	for _, key := range sortedKeysOf(accepted) {
		if !accepted[key] {
			errs = append(errs, fmt.Sprintf("%s: ssyncgen: -accept %s names no change that the snapshot refuses (drop it from the command line)", where, key))
		}
	}
	if len(errs) > 0 {
		return templates.File{}, errors.New(strings.Join(errs, "\n"))
	}
	return templates.File{Name: snapshot.FileName, Content: content}, nil
}

// changePos returns where to report c: the model field of its column, or
// the table tag of its table, or else (a column or table no longer in the
// models) the snapshot, where.
func changePos(m *templates.Model, c *snapshot.Change, where string) string {
	for _, t := range m.Tables {
		if t.Collection != c.Table {
			continue
		}
		for _, f := range t.Fields {
			if c.Column != "" && f.Column == c.Column && f.Pos != "" {
				return f.Pos
			}
		}
		if c.Column == "" && t.Pos != "" {
			return t.Pos
		}
	}
	return where
}

func sortedKeysOf(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
