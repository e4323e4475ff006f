package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress shows how far a long step is: a bar redrawn in place on a
// terminal, or a plain line every tenth of the way when stderr is a file or a
// pipe (a journal, a CI log).
type progress struct {
	w     io.Writer
	tty   bool
	step  string
	unit  string
	last  time.Time
	tenth int64
	drawn bool
}

// newProgress reports on w; it draws a bar only when w is a terminal.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
			p.tty = true
		}
	}
	return p
}

// start begins a step whose amounts are counted in unit ("bytes", "rows").
func (p *progress) start(step, unit string) {
	p.end()
	p.step, p.unit, p.tenth, p.last = step, unit, -1, time.Time{}
}

// update reports done of total; a terminal is redrawn at most ten times a
// second.
func (p *progress) update(done, total int64) {
	if total <= 0 {
		return
	}
	frac := min(float64(done)/float64(total), 1)
	if !p.tty {
		if t := int64(frac * 10); t > p.tenth {
			p.tenth = t
			fmt.Fprintf(p.w, "%s: %3.0f%% (%s of %s %s)\n", p.step, frac*100, count(done), count(total), p.unit)
		}
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || done >= total {
		p.last = now
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(p.w, "\r%-10s [%s%s] %3.0f%% %s/%s %s\x1b[K", p.step, strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, count(done), count(total), p.unit)
		p.drawn = true
	}
}

// end finishes the bar's line on a terminal.
func (p *progress) end() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// count writes n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
