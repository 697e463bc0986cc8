package eval

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/suite"
)

// DistChatPrompt is the system prompt of the chat format in the
// distributional evaluation (§5.3).
const DistChatPrompt = "Given the description and an input, respond with just an output."

// renderChat renders a system/user conversation with the chat format's
// template, family mapping and a generation prompt.
func renderChat(f *format.Chat, system, user string) (string, error) {
	segs, err := f.RenderConversation([]format.ChatMessage{
		{Role: format.ChatSystem, Content: system},
		{Role: format.ChatUser, Content: user},
	}, true)
	if err != nil {
		return "", err
	}
	return format.Text(segs), nil
}

// DistPrompt builds the prompt text of a distributional row (description?,
// input) in format f, and the prefix every candidate string gets, as the
// reference's eval_distributional does:
//   - spectrum: the messages with the output header as generation prompt;
//   - colon: "Description: D\n\nInput: I\n\nOutput:" with "\n\nOutput" →
//     "\nOutput" and every "Output" → outputName (when not empty); candidates
//     get a leading space;
//   - chat: system DistChatPrompt+"\n\nDescription: D" and user I (without a
//     description the input goes into the system text as "Example Input: I"
//     and the user turn is empty), with the generation prompt.
func DistPrompt(f format.Format, row *suite.Row, outputName string) (prompt, candPrefix string, err error) {
	var desc, input string
	hasDesc, hasInput := false, false
	for _, m := range row.Messages {
		switch m.Role {
		case suite.RoleDescription:
			desc, hasDesc = m.Content, true
		case suite.RoleInput:
			input, hasInput = m.Content, true
		case suite.RoleOutput:
			return "", "", errors.New("eval: a distributional prompt row holds no output messages")
		}
	}
	var msgs []format.Message
	if hasDesc {
		msgs = append(msgs, format.Message{Role: format.RoleDescription, Content: desc})
	}
	if hasInput {
		msgs = append(msgs, format.Message{Role: format.RoleInput, Content: input})
	}
	switch ff := f.(type) {
	case *format.Chat:
		sys, user := DistChatPrompt, input
		if hasDesc {
			sys += "\n\nDescription: " + desc
		} else if hasInput {
			sys += "\n\nExample Input: " + input
			user = ""
		}
		p, err := renderChat(ff, sys, user)
		return p, "", err
	case *format.Colon:
		segs, err := ff.Render(msgs, true)
		if err != nil {
			return "", "", err
		}
		p := strings.ReplaceAll(format.Text(segs), "\n\nOutput", "\nOutput")
		if outputName != "" {
			p = strings.ReplaceAll(p, "Output", outputName)
		}
		return p, " ", nil
	default:
		segs, err := f.Render(msgs, true)
		if err != nil {
			return "", "", err
		}
		return format.Text(segs), "", nil
	}
}

// DistOptions configure the distributional evaluation.
type DistOptions struct {
	// Complete scores each candidate through the format's end string (the
	// probability of the complete output), instead of as a prefix (the
	// reference's eval_distributional, the default).
	Complete bool
	// MaxRows caps the rows per task (0: 1000; < 0: no cap), chosen at
	// random with Seed.
	MaxRows int
	Seed    uint64
	// OutputName overrides the colon format's output label (default: the
	// task's).
	OutputName string
}

// DistRow is one row's result.
type DistRow struct {
	Index       int       `json:"row"`
	Targets     []string  `json:"target_outputs"`
	TargetProbs []float64 `json:"target_probs"`
	LogProbs    []float64 `json:"logprobs"`
	Probs       []float64 `json:"probs"`
	Coverage    float64   `json:"coverage"`
	DistMetrics
}

// DistResult is one task's distributional aggregates (mean/std/sem over
// rows; std is the sample std).
type DistResult struct {
	JS           Stats `json:"js_divergence"`
	KL           Stats `json:"kl"`
	ReverseKL    Stats `json:"reverse_kl"`
	CrossEntropy Stats `json:"cross_entropy"`
	ModeMatch    Stats `json:"mode_match"`
	Coverage     Stats `json:"coverage"`
	NTargets     Stats `json:"n_targets"`
	NRows        int   `json:"n_rows"`
	Complete     bool  `json:"complete"`
}

// capRows picks at most n of count indices at random (in input order).
func capRows(count, n int, seed uint64) []int {
	idx := make([]int, count)
	for i := range idx {
		idx[i] = i
	}
	if n <= 0 || count <= n {
		return idx
	}
	r := rand.New(rand.NewPCG(seed, 0x5bec7))
	p := r.Perm(count)[:n]
	sort.Ints(p)
	return p
}

// EvalDist scores each row's candidates (probability of each target string
// given the prompt, the prompt decoded once and shared by the candidates),
// normalizes over the candidates and compares with the target
// probabilities.
func EvalDist(ctx context.Context, s CandidateScorer, f format.Format, task string, rows []suite.Row, o DistOptions, progress func(done int)) (*DistResult, []DistRow, error) {
	if o.MaxRows == 0 {
		o.MaxRows = 1000
	}
	outName := o.OutputName
	if outName == "" {
		if t, err := suite.Lookup(task); err == nil {
			outName = t.OutputName
		}
	}
	end := ""
	if o.Complete {
		end = f.StopString()
	}
	var out []DistRow
	for n, i := range capRows(len(rows), o.MaxRows, o.Seed) {
		r := &rows[i]
		if !r.Distributional() || len(r.Targets) == 0 {
			return nil, nil, fmt.Errorf("eval: task %s row %d: not a distributional row (no target_outputs)", task, i+1)
		}
		if len(r.TargetProbs) != len(r.Targets) {
			return nil, nil, fmt.Errorf("eval: task %s row %d: %d targets but %d probabilities", task, i+1, len(r.Targets), len(r.TargetProbs))
		}
		prompt, pre, err := DistPrompt(f, r, outName)
		if err != nil {
			return nil, nil, fmt.Errorf("eval: task %s row %d: %w", task, i+1, err)
		}
		lp, err := s.CandidateLogProbs(ctx, prompt, pre, r.Targets, end)
		if err != nil {
			return nil, nil, fmt.Errorf("eval: task %s row %d: %w", task, i+1, err)
		}
		q, cov := NormalizeLogProbs(lp)
		dm, err := CompareDistributions(r.TargetProbs, q, Epsilon)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, DistRow{Index: i, Targets: r.Targets, TargetProbs: r.TargetProbs, LogProbs: lp, Probs: q, Coverage: cov, DistMetrics: dm})
		if progress != nil {
			progress(n + 1)
		}
	}
	return AggregateDist(out, o.Complete), out, nil
}

// AggregateDist summarizes per-row distributional results.
func AggregateDist(rows []DistRow, complete bool) *DistResult {
	col := func(f func(r *DistRow) float64) Stats {
		x := make([]float64, len(rows))
		for i := range rows {
			x[i] = f(&rows[i])
		}
		return Summarize(x)
	}
	return &DistResult{
		JS:           col(func(r *DistRow) float64 { return r.JS }),
		KL:           col(func(r *DistRow) float64 { return r.KL }),
		ReverseKL:    col(func(r *DistRow) float64 { return r.ReverseKL }),
		CrossEntropy: col(func(r *DistRow) float64 { return r.CrossEntropy }),
		ModeMatch:    col(func(r *DistRow) float64 { return r.ModeMatch }),
		Coverage:     col(func(r *DistRow) float64 { return r.Coverage }),
		NTargets:     col(func(r *DistRow) float64 { return float64(len(r.Targets)) }),
		NRows:        len(rows),
		Complete:     complete,
	}
}

// CandidateScorer gives log q̃ of candidate strings after a prompt: *Scorer
// with a local model, or a remote scorer.
type CandidateScorer interface {
	CandidateLogProbs(ctx context.Context, prompt, prefix string, cands []string, end string) ([]float64, error)
}

// CandidateLogProbs returns log q̃ of each candidate string given the prompt
// text: prompt and prompt+prefix+candidate+end are tokenized as the
// reference's prepare_batch does (a literal "<bos>" removed, the tokenizer's
// BOS added, special tokens parsed) and the candidate's tokens are the
// joint tokenization's tokens after the prompt's length.
func (s *Scorer) CandidateLogProbs(ctx context.Context, prompt, prefix string, cands []string, end string) ([]float64, error) {
	prompt = strings.ReplaceAll(prompt, "<bos>", "")
	p, err := s.model.Tokenize(prompt, true, true)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("eval: empty prompt")
	}
	seqs := make([][]llama.Token, len(cands))
	for i, c := range cands {
		if seqs[i], err = s.model.Tokenize(prompt+prefix+c+end, true, true); err != nil {
			return nil, err
		}
	}
	return s.ScoreContinuations(ctx, seqs, len(p))
}
