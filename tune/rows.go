// Package tune is the Spectrum Tuning pipeline: it prepares training rows
// from Spectrum Suite tasks and JSONL files with the reference's rules, drives
// the LoRA trainer of package lora over them (one epoch by default), evaluates
// held-out tasks as it goes, checkpoints, and writes the adapter with metadata
// saying what it was trained on.
package tune

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/lora"
	"github.com/spectrumkit/spectrum/suite"
)

// BuiltinTrain and BuiltinTest name the offline ICL tasks of the suite's
// train and test splits.
const (
	BuiltinTrain = "builtin-train"
	BuiltinTest  = "builtin-test"
)

// ResolveTasks expands task specs (names, BuiltinTrain, BuiltinTest) into
// offline ICL tasks, in a stable order without duplicates.
func ResolveTasks(specs []string) ([]*suite.Task, error) {
	seen := map[string]bool{}
	var out []*suite.Task
	add := func(t *suite.Task) {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	for _, spec := range specs {
		for _, name := range strings.Split(spec, ",") {
			name = strings.TrimSpace(name)
			switch name {
			case "":
			case BuiltinTrain, BuiltinTest:
				want := suite.SplitTrain
				if name == BuiltinTest {
					want = suite.SplitTest
				}
				for _, t := range suite.Tasks() {
					if t.Kind == suite.KindICL && t.Offline && t.Split == want {
						add(t)
					}
				}
			default:
				t, err := suite.Lookup(name)
				if err != nil {
					return nil, err
				}
				if t.Kind != suite.KindICL {
					return nil, fmt.Errorf("task %s is a %s task; training and steerability use ICL tasks", t.Name, t.Kind)
				}
				if !t.Offline {
					return nil, fmt.Errorf("task %s needs downloaded data; give its rows with --rows instead", t.Name)
				}
				add(t)
			}
		}
	}
	return out, nil
}

// RowOptions control PrepareRows.
type RowOptions struct {
	Seed        int64
	RowsPerTask int // rows generated per built-in task (0: the task's default)
	MaxLength   int // tokens per row (≥ 2)
	// DescriptionProb overrides the tasks' own description probability when
	// ≥ 0 (the reference code uses 0.6, 0.4 for normal; the paper 0.8).
	DescriptionProb float64
}

// RowStats counts what PrepareRows did.
type RowStats struct {
	Rows      int            // rows kept
	PerTask   map[string]int // kept rows by task
	Truncated int            // rows cut to MaxLength
	Dropped   int            // rows left with no labelled token (after truncation)
	Tokens    int            // tokens in kept rows
	Labels    int            // labelled tokens in kept rows
}

// String summarises the stats for a log line.
func (s RowStats) String() string {
	names := make([]string, 0, len(s.PerTask))
	for n := range s.PerTask {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, s.PerTask[n])
	}
	return fmt.Sprintf("%d rows (%s), %d tokens, %d labelled; %d truncated to the max length, %d dropped with no labelled token",
		s.Rows, strings.Join(parts, ", "), s.Tokens, s.Labels, s.Truncated, s.Dropped)
}

// Prepared is one training row with its task.
type Prepared struct {
	Task string
	lora.Row
}

// PrepareRows generates the built-in tasks' rows, adds the imported rows,
// renders each in format f and tokenizes it with the reference's rules
// (segment-wise, BOS once, loss on outputs and their end token, first output
// unscored without a description in the spectrum format), truncates to
// MaxLength keeping the loss on a cut output's prefix, drops rows with no
// labelled token, and shuffles all rows together: tasks are mixed by row
// count, with no weighting, as the reference does.
func PrepareRows(tok format.Tokenizer, f format.Format, tasks []*suite.Task, imported []suite.Row, o RowOptions) ([]Prepared, RowStats, error) {
	st := RowStats{PerTask: map[string]int{}}
	if o.MaxLength < 2 {
		return nil, st, fmt.Errorf("max length must be ≥ 2 tokens, got %d", o.MaxLength)
	}
	if o.RowsPerTask < 0 {
		return nil, st, fmt.Errorf("rows per task must be ≥ 0, got %d", o.RowsPerTask)
	}
	var rows []suite.Row
	for i, t := range tasks {
		var rs []suite.Row
		var err error
		seed := o.Seed + int64(i)*1_000_003 // tasks never share a stream
		if o.DescriptionProb >= 0 {
			rs, err = t.GenerateWith(seed, o.RowsPerTask, o.DescriptionProb)
		} else {
			rs, err = t.Generate(seed, o.RowsPerTask)
		}
		if err != nil {
			return nil, st, err
		}
		rows = append(rows, rs...)
	}
	rows = append(rows, imported...)
	out := make([]Prepared, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		segs, err := f.Render(format.Messages(r.Messages), false)
		if err != nil {
			return nil, st, fmt.Errorf("row %d (%s): %w", i+1, r.Task, err)
		}
		tk, err := format.Tokenize(tok, segs)
		if err != nil {
			return nil, st, fmt.Errorf("row %d (%s): %w", i+1, r.Task, err)
		}
		if tk.Len() > o.MaxLength {
			st.Truncated++
		}
		if tk.Truncate(o.MaxLength) {
			st.Dropped++
			continue
		}
		out = append(out, Prepared{Task: r.Task, Row: lora.Row{Tokens: tk.IDs, Loss: tk.Loss}})
		st.PerTask[r.Task]++
		st.Tokens += tk.Len()
		st.Labels += tk.NumLabels()
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	st.Rows = len(out)
	return out, st, nil
}
