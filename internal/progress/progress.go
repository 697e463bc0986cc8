// Package progress draws the progress line long-running commands show on
// stderr (done/total, rate, ETA, and a free-form detail such as tokens/s),
// built on github.com/schollz/progressbar so that terminals, pipes and CI
// logs all get sensible output.
package progress

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bar is a progress line; a nil *Bar is valid and draws nothing.
type Bar struct {
	pb *progressbar.ProgressBar
	w  io.Writer
}

// New returns a bar counting to total units named unit (e.g. "completions")
// written to w, or nil when quiet.
func New(w io.Writer, total int, desc, unit string, quiet bool) *Bar {
	if quiet || w == nil {
		return nil
	}
	return &Bar{w: w, pb: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	)}
}

// Set moves the bar to done units and replaces the detail text.
func (b *Bar) Set(done int, detail string) {
	if b == nil {
		return
	}
	b.pb.Describe(detail)
	b.pb.Set(done)
}

// Finish completes the bar.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.pb.Finish()
}

// Stop ends the bar where it is, without filling it, and writes msg on the
// next line (e.g. "interrupted at step 12").
func (b *Bar) Stop(msg string) {
	if b == nil {
		return
	}
	b.pb.Exit()
	fmt.Fprintf(b.w, "\n%s\n", msg)
}
