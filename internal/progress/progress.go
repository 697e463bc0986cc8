// Package progress draws the progress that long-running commands show on
// stderr: done/total, ETA and a free-form detail such as tokens/s.
//
// On a terminal it is a bar redrawn in place (github.com/schollz/progressbar);
// anywhere else (a log file, a pipe, CI) it is a plain line every Interval,
// with no carriage returns, so a redirected log stays readable. No rate or
// ETA is shown before one was measured: the first plain line comes after
// Interval, and the bar shows only the caller's detail, which callers fill
// with their own measured rates.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Interval is the time between two plain progress lines.
var Interval = 5 * time.Second

// Bar is a progress display; a nil *Bar is valid and draws nothing.
type Bar struct {
	w     io.Writer
	pb    *progressbar.ProgressBar // on a terminal
	desc  string
	unit  string
	total int
	start time.Time

	mu     sync.Mutex
	last   time.Time
	done   int
	detail string
}

// IsTerminal reports whether v (a reader or writer) is a terminal: an
// *os.File for which isatty holds (/dev/null, a character device too, is
// not one).
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New returns a bar counting to total units named unit (e.g. "completions")
// written to w, or nil when quiet.
func New(w io.Writer, total int, desc, unit string, quiet bool) *Bar {
	if quiet || w == nil {
		return nil
	}
	b := &Bar{w: w, desc: desc, unit: unit, total: total, start: time.Now()}
	b.last = b.start
	if IsTerminal(w) {
		b.pb = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
		)
	}
	return b
}

// Set moves the bar to done units and replaces the detail text.
func (b *Bar) Set(done int, detail string) {
	if b == nil {
		return
	}
	if b.pb != nil {
		b.pb.Describe(b.desc + "  " + detail)
		b.pb.Set(done)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.detail = done, detail
	if now := time.Now(); now.Sub(b.last) >= Interval {
		b.last = now
		b.line("")
	}
}

// line writes one plain progress line (the caller holds mu).
func (b *Bar) line(state string) {
	el := time.Since(b.start)
	s := fmt.Sprintf("%s: %d/%d %s", b.desc, b.done, b.total, b.unit)
	if b.total > 0 {
		s += fmt.Sprintf(" (%.0f%%)", 100*float64(b.done)/float64(b.total))
	}
	s += fmt.Sprintf(", %s", el.Round(time.Second))
	if state == "" && b.done > 0 && b.done < b.total {
		eta := time.Duration(float64(el) * float64(b.total-b.done) / float64(b.done))
		s += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	if state != "" {
		s += ", " + state
	}
	if b.detail != "" {
		s += "; " + b.detail
	}
	fmt.Fprintln(b.w, s)
}

// Finish completes the bar (a plain display writes its last line).
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	if b.pb != nil {
		b.pb.Finish()
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.line("done")
}

// Stop ends the bar where it is, without filling it, and writes msg on the
// next line (e.g. "interrupted at step 12").
func (b *Bar) Stop(msg string) {
	if b == nil {
		return
	}
	if b.pb != nil {
		b.pb.Exit()
		fmt.Fprintf(b.w, "\n%s\n", msg)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.line("stopped")
	fmt.Fprintln(b.w, msg)
}

// Phase shows a phase of unknown length (an evaluation, llama.cpp's
// quantizer): "desc…" at once, a plain line with the elapsed time every
// Interval while it runs (redrawn in place on a terminal), and the time it
// took when the returned function is called.
func Phase(w io.Writer, desc string, quiet bool) (end func()) {
	if quiet || w == nil {
		return func() {}
	}
	start := time.Now()
	term := IsTerminal(w)
	fmt.Fprintf(w, "%s…", desc)
	if !term {
		fmt.Fprintln(w)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := Interval
		if term {
			tick = time.Second
		}
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if term {
					fmt.Fprintf(w, "\r%s… %s", desc, time.Since(start).Round(time.Second))
				} else {
					fmt.Fprintf(w, "%s… %s\n", desc, time.Since(start).Round(time.Second))
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			wg.Wait()
			if term {
				fmt.Fprint(w, "\r")
			}
			fmt.Fprintf(w, "%s: done in %s\n", desc, time.Since(start).Round(10*time.Millisecond))
		})
	}
}
