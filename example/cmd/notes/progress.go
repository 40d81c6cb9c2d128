package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ssync-go/ssync/runtime/client"
)

// progressBar shows sync progress on stderr: a bar redrawn in place on a
// terminal, one plain line per stage change otherwise.
type progressBar struct {
	w     io.Writer
	tty   bool
	last  client.Stage
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressBar{w: w, tty: tty}
}

func (p *progressBar) update(ev client.Progress) {
	if !p.tty {
		if ev.Stage != p.last && ev.Stage != client.StageDone {
			fmt.Fprintf(p.w, "sync: %s\n", ev.Stage)
		}
		p.last = ev.Stage
		return
	}
	p.last = ev.Stage
	const width = 30
	var bar string
	if ev.Fraction >= 0 {
		n := int(ev.Fraction * width)
		bar = strings.Repeat("#", n) + strings.Repeat("-", width-n)
	} else {
		// Indeterminate: a marker that moves with the rows done.
		pos := ev.Done % width
		bar = strings.Repeat("-", pos) + "#" + strings.Repeat("-", width-pos-1)
	}
	if ev.TotalBytes > 0 {
		// File transfers: bytes moved and files done.
		fmt.Fprintf(p.w, "\r%-9s [%s] %d/%d bytes, %d/%d files\x1b[K", ev.Stage, bar, ev.Bytes, ev.TotalBytes, ev.Done, ev.Total)
	} else {
		fmt.Fprintf(p.w, "\r%-9s [%s] %d rows %s\x1b[K", ev.Stage, bar, ev.Done, ev.Collection)
	}
	p.drawn = true
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
