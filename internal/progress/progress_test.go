package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPlainLines: off a terminal the bar writes whole lines (no carriage
// returns), nothing before Interval has passed, and a last line when done.
func TestPlainLines(t *testing.T) {
	saved := Interval
	Interval = 50 * time.Millisecond
	defer func() { Interval = saved }()
	var buf bytes.Buffer
	b := New(&buf, 4, "sampling", "completions", false)
	b.Set(1, "12 tok/s")
	if buf.Len() != 0 {
		t.Fatalf("wrote before any interval passed: %q", buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	b.Set(2, "15 tok/s")
	b.Set(3, "16 tok/s") // within the interval: no line
	b.Finish()
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Errorf("carriage return in plain output: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q, want 2", lines)
	}
	if !strings.HasPrefix(lines[0], "sampling: 2/4 completions (50%), ") || !strings.Contains(lines[0], "ETA") || !strings.HasSuffix(lines[0], "; 15 tok/s") {
		t.Errorf("progress line %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "sampling: 3/4 completions (75%), ") || !strings.HasSuffix(lines[1], ", done; 16 tok/s") {
		t.Errorf("last line %q", lines[1])
	}
	var quiet bytes.Buffer
	q := New(&quiet, 4, "x", "y", true)
	q.Set(1, "")
	q.Finish()
	if quiet.Len() != 0 || q != nil {
		t.Errorf("quiet bar wrote %q", quiet.String())
	}
}

func TestStopAndPhase(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 10, "training", "steps", false)
	b.Set(3, "loss 2.1")
	b.Stop("interrupted at step 3")
	if got := buf.String(); !strings.Contains(got, "training: 3/10 steps (30%)") || !strings.Contains(got, "stopped; loss 2.1\ninterrupted at step 3\n") {
		t.Errorf("stop: %q", got)
	}
	saved := Interval
	Interval = 20 * time.Millisecond
	defer func() { Interval = saved }()
	buf.Reset()
	end := Phase(&buf, "quantizing", false)
	time.Sleep(50 * time.Millisecond)
	end()
	end()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != "quantizing…" || !strings.HasPrefix(lines[len(lines)-1], "quantizing: done in ") || len(lines) < 3 {
		t.Errorf("phase lines %q", lines)
	}
}
