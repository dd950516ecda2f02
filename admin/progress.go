package admin

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// progressLine shows how far a long import has come on one line of a
// terminal, rewritten in place with a carriage return. Where the output is
// not a terminal (a pipe, a file, a CI log) it shows nothing, so that what
// is kept there is the summary alone.
type progressLine struct {
	out   io.Writer // nil: not a terminal
	shown int       // the length of the line shown, to blank it
}

// newProgressLine returns the progress line of out, which shows something
// only when out is a terminal.
func newProgressLine(out io.Writer) *progressLine {
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progressLine{out: out}
	}
	return &progressLine{}
}

// update shows that stored of total configurations are stored.
func (p *progressLine) update(stored, total int) {
	if p.out == nil {
		return
	}
	text := fmt.Sprintf("stored %d of %d", stored, total)
	// Padded to the length of the text shown before, which a shorter one
	// would leave visible.
	fmt.Fprintf(p.out, "\r%-*s", p.shown, text)
	p.shown = max(p.shown, len(text))
}

// clear blanks the line and returns to its start, so that what is printed
// next is printed on it.
func (p *progressLine) clear() {
	if p.out == nil || p.shown == 0 {
		return
	}
	fmt.Fprintf(p.out, "\r%s\r", strings.Repeat(" ", p.shown))
	p.shown = 0
}
