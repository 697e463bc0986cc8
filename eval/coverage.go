package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

// Coverage prompt variants (the reference's --prompt_components).
const (
	VariantDescription = "description"
	VariantExamples    = "examples"
	VariantBoth        = "both"
)

// Variants lists the coverage prompt variants in report order.
func Variants() []string { return []string{VariantDescription, VariantExamples, VariantBoth} }

// CoverageChatPrompt is the chat format's system prompt in the coverage
// evaluation (§5.2).
const CoverageChatPrompt = "Respond with JUST the requested output, nothing else."

// CoverageUserPrompt is the chat format's user turn in the coverage evaluation.
const CoverageUserPrompt = "Now generate an output based on the description and examples."

// referenceStops are the reference's stop strings besides "\n" and the
// tokenizer's EOS.
var referenceStops = []string{"<|eot_id|>", "<end_of_turn>", "<|im_end|>", "<|end_of_text|>"}

// CoveragePrompt returns the prompt tokens of a coverage task in one variant:
// spectrum and colon render the messages with the generation prompt; chat
// puts everything in the system turn ("Respond with JUST…\n\nD\n\nExample
// Output: E1…") and asks in the user turn, as the reference does.
func CoveragePrompt(f format.Format, m *llama.Model, t *suite.Task, variant string) ([]llama.Token, error) {
	var inclDesc, inclEx bool
	switch variant {
	case VariantDescription:
		inclDesc = true
	case VariantExamples:
		inclEx = true
	case VariantBoth:
		inclDesc, inclEx = true, true
	default:
		return nil, fmt.Errorf("eval: unknown coverage variant %q (want %s)", variant, strings.Join(Variants(), ", "))
	}
	msgs := t.CoverageMessages(inclDesc, inclEx)
	if ch, ok := f.(*format.Chat); ok {
		sys := CoverageChatPrompt
		for _, msg := range msgs {
			if msg.Role == suite.RoleDescription {
				sys += "\n\n" + msg.Content
			} else {
				sys += "\n\nExample Output: " + msg.Content
			}
		}
		text, err := renderChat(ch, sys, CoverageUserPrompt)
		if err != nil {
			return nil, err
		}
		return m.Tokenize(text, true, true)
	}
	segs, err := f.Render(format.Messages(msgs), true)
	if err != nil {
		return nil, err
	}
	tk, err := format.TokenizePrompt(m, segs)
	if err != nil {
		return nil, err
	}
	return tk.IDs, nil
}

// CoverageOptions configure the coverage evaluation.
type CoverageOptions struct {
	N        int    // generations per task and variant (0: 100)
	Seed     uint64 // sampling seed
	Variants []string
	// MaxTokens overrides the task's max_new_tokens (0: the task's; 32 if
	// it has none).
	MaxTokens int
}

// Generation is one coverage generation with its validity.
type Generation struct {
	Task    string `json:"task"`
	Variant string `json:"variant"`
	Index   int    `json:"index"`
	Text    string `json:"text"`
	Valid   bool   `json:"valid"`
	Finish  string `json:"finish"`
}

// stopsFor returns the stop strings and stop tokens of a format for a model.
func stopsFor(f format.Format, m *llama.Model) (stops []string, toks []llama.Token) {
	add := func(s string) {
		if s == "" || s == "\n" {
			return
		}
		if id, ok := m.TokenID(s); ok && m.IsControl(id) {
			toks = append(toks, id)
		} else {
			stops = append(stops, s)
		}
	}
	add(f.StopString())
	for _, s := range referenceStops {
		add(s)
	}
	return stops, toks
}

// Sampler draws completions: *sample.Engine with a local model, or
// remote.Sampler on a server.
type Sampler interface {
	Run(ctx context.Context, r *sample.Request, emit func(sample.Completion) error) error
}

// EvalCoverage draws o.N generations per variant of task t with the
// sampler (temperature 1, top-p 1, no other truncation, the first-line
// protocol) and scores their validity with the task's validator. taskIndex
// makes the sampling seeds of different tasks differ.
func EvalCoverage(ctx context.Context, e Sampler, m *llama.Model, f format.Format, t *suite.Task, taskIndex int, o CoverageOptions, emit func(Generation)) (map[string]CoverageMetrics, []Generation, error) {
	if t.Kind != suite.KindCoverage {
		return nil, nil, fmt.Errorf("eval: %s is a %s task, not a coverage task", t.Name, t.Kind)
	}
	if o.N == 0 {
		o.N = 100
	}
	if len(o.Variants) == 0 {
		o.Variants = Variants()
	}
	maxTok := o.MaxTokens
	if maxTok == 0 {
		maxTok = t.MaxNewTokens
	}
	if maxTok == 0 {
		maxTok = 32
	}
	stops, stopToks := stopsFor(f, m)
	res := map[string]CoverageMetrics{}
	var all []Generation
	for vi, v := range o.Variants {
		prompt, err := CoveragePrompt(f, m, t, v)
		if err != nil {
			return nil, nil, fmt.Errorf("eval: coverage %s (%s): %w", t.Name, v, err)
		}
		gens := make([]Generation, o.N)
		req := &sample.Request{
			Row: taskIndex*len(Variants()) + vi, Task: t.Name, Prompt: prompt,
			N: o.N, MaxTokens: maxTok, Temp: 1, TopP: 1, Seed: o.Seed,
			Stop: stops, StopTokens: stopToks, FirstLine: true,
		}
		err = e.Run(ctx, req, func(c sample.Completion) error {
			g := Generation{Task: t.Name, Variant: v, Index: c.Index, Text: c.Text, Valid: t.Validate(c.Text), Finish: c.Finish}
			gens[c.Index] = g
			if emit != nil {
				emit(g)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("eval: coverage %s (%s): %w", t.Name, v, err)
		}
		texts := make([]string, o.N)
		valid := make([]bool, o.N)
		for i, g := range gens {
			texts[i], valid[i] = g.Text, g.Valid
		}
		res[v] = Coverage(texts, valid, len(t.ValidSet))
		all = append(all, gens...)
	}
	return res, all, nil
}

// AggregateCoverage is the mean/std/sem across tasks (population std, as the
// reference) of each coverage metric, per variant.
func AggregateCoverage(byTask map[string]map[string]CoverageMetrics) map[string]map[string]Stats {
	out := map[string]map[string]Stats{}
	for _, v := range Variants() {
		cols := map[string][]float64{}
		for _, vs := range byTask {
			m, ok := vs[v]
			if !ok {
				continue
			}
			cols["percent_valid"] = append(cols["percent_valid"], float64(m.PercentValid))
			cols["unique_gens_pct"] = append(cols["unique_gens_pct"], float64(m.UniqueGensPct))
			cols["unique_valid_count"] = append(cols["unique_valid_count"], float64(m.UniqueValidCount))
			cols["usable_unique_pct"] = append(cols["usable_unique_pct"], float64(m.UsableUniquePct))
			cols["raw_unique_pct"] = append(cols["raw_unique_pct"], float64(m.RawUniquePct))
			cols["pairwise_collision"] = append(cols["pairwise_collision"], float64(m.PairwiseCollision))
			cols["pairwise_uniqueness"] = append(cols["pairwise_uniqueness"], float64(m.PairwiseUniqueness))
			if m.CoveragePct != nil {
				cols["coverage_pct"] = append(cols["coverage_pct"], float64(*m.CoveragePct))
			}
		}
		if len(cols) == 0 {
			continue
		}
		out[v] = map[string]Stats{}
		for k, x := range cols {
			out[v][k] = SummarizePop(x)
		}
	}
	return out
}
