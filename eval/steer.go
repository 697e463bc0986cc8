package eval

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/suite"
)

// SteerOptions configure the preparation of steerability rows (§5.1.1–2).
type SteerOptions struct {
	// SelectMaxLen is the length rows are truncated to when choosing k
	// (0: 2048, the reference's select_max_length).
	SelectMaxLen int
	// K fixes the number of in-context examples instead of choosing it (0:
	// automatic, AutoK).
	K int
	// MaxRows caps the rows evaluated per task (0: 1000; < 0: no cap).
	MaxRows int
	// Seed seeds the random choice of rows beyond MaxRows (the reference
	// uses RandomState(42)).
	Seed uint64
	// Selection, when set and K is 0, is the k and rows chosen beforehand
	// (SelectK), shared by every format and model of a comparison.
	Selection *Selection
}

// Selection is a task's choice of k and of the rows that hold k+1 scored
// outputs, and the format it was made in.
type Selection struct {
	K      int
	Keep   []int
	Format string
}

// SelectK chooses k and the rows as the reference's get_example_k (§5.1.2):
// each row is rendered in format f with tok, truncated to selectMaxLen
// tokens (0: 2048), and AutoK picks k from the rows' largest complete
// example indices. The reference makes this choice once per task, in the
// spectrum format, and evaluates every format and model at that k on those
// rows; Run does the same with the first model's tokenizer (the reference
// uses google/gemma-3-1b-it's whatever the model).
func SelectK(f format.Format, tok format.Tokenizer, task string, rows []suite.Row, selectMaxLen int) (*Selection, error) {
	if selectMaxLen == 0 {
		selectMaxLen = 2048
	}
	ms := make([]int, len(rows))
	anyScored := false
	for i := range rows {
		t, err := renderRow(f, tok, rows[i])
		if err != nil {
			return nil, fmt.Errorf("eval: task %s row %d: %w", task, i+1, err)
		}
		if t.NumLabels() > 0 {
			anyScored = true
		}
		t.Truncate(selectMaxLen)
		ms[i] = maxExampleIndex(&t)
	}
	if !anyScored {
		return nil, fmt.Errorf("eval: task %s: %w (in format %s)", task, ErrNoScoredOutputs, f.Name())
	}
	k, keep, err := AutoK(ms)
	if err != nil {
		return nil, fmt.Errorf("eval: task %s: %w", task, err)
	}
	return &Selection{K: k, Keep: keep, Format: f.Name()}, nil
}

func renderRow(f format.Format, tok format.Tokenizer, r suite.Row) (format.Tokens, error) {
	_, t, err := format.RenderTokens(f, tok, format.Messages(r.Messages), false)
	return t, err
}

// SteerRow is one prepared row: its tokens truncated right after example
// index K, and its position in the task's input rows.
type SteerRow struct {
	Index  int
	Tokens format.Tokens
}

// SteerTask is one task's prepared rows.
type SteerTask struct {
	Task string
	K    int
	// KFormat is the format k was chosen in.
	KFormat string
	// Candidates is the number of input rows, before the selection by k
	// and the cap.
	Candidates int
	Rows       []SteerRow
}

// ErrNoScoredOutputs is returned when no input row has a scored output.
var ErrNoScoredOutputs = errors.New("eval: no row has a scored output")

// maxExampleIndex is the reference's per-row m: the largest example index
// among labelled tokens, minus one when the last token is labelled (its
// output was cut off); -1 without labelled tokens.
func maxExampleIndex(t *format.Tokens) int {
	m := -1
	for i, l := range t.Loss {
		if l {
			m = max(m, t.ExampleIndex[i])
		}
	}
	if n := len(t.Loss); n > 0 && t.Loss[n-1] && m >= 0 {
		m--
	}
	return m
}

// truncateAfter cuts t right after the last token of example index k.
func truncateAfter(t format.Tokens, k int) format.Tokens {
	end := -1
	for i, e := range t.ExampleIndex {
		if e == k {
			end = i + 1
		}
	}
	if end < 0 {
		return t
	}
	return format.Tokens{IDs: t.IDs[:end:end], Loss: t.Loss[:end:end], ExampleIndex: t.ExampleIndex[:end:end]}
}

// PrepareSteer tokenizes one task's rows in format f with the evaluated
// model's tokenizer and applies the reference's selection (§5.1.2): k and
// the rows holding k+1 scored outputs come from o.Selection (chosen once
// for a comparison), or from SelectK in f itself when there is none; the
// rows are cut right after example index k, and at most MaxRows are kept (a
// seeded random choice, in input order). A fixed o.K keeps the rows that
// hold K+1 complete scored outputs in f.
func PrepareSteer(f format.Format, tok format.Tokenizer, task string, rows []suite.Row, o SteerOptions) (*SteerTask, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("eval: task %s: no rows", task)
	}
	if o.SelectMaxLen == 0 {
		o.SelectMaxLen = 2048
	}
	if o.MaxRows == 0 {
		o.MaxRows = 1000
	}
	full := make([]format.Tokens, len(rows))
	anyScored := false
	for i := range rows {
		t, err := renderRow(f, tok, rows[i])
		if err != nil {
			return nil, fmt.Errorf("eval: task %s row %d: %w", task, i+1, err)
		}
		full[i] = t
		if t.NumLabels() > 0 {
			anyScored = true
		}
	}
	if !anyScored {
		return nil, fmt.Errorf("eval: task %s: %w (in format %s)", task, ErrNoScoredOutputs, f.Name())
	}
	var k int
	var keep []int
	kFormat := f.Name()
	switch {
	case o.K > 0:
		k = o.K
		for i := range full {
			sel := full[i]
			sel.Truncate(o.SelectMaxLen)
			if maxExampleIndex(&sel) >= k {
				keep = append(keep, i)
			}
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("eval: task %s: no row holds %d scored outputs", task, k+1)
		}
	case o.Selection != nil:
		k, keep, kFormat = o.Selection.K, o.Selection.Keep, o.Selection.Format
		for _, i := range keep {
			if i < 0 || i >= len(rows) {
				return nil, fmt.Errorf("eval: task %s: selected row %d outside its %d rows", task, i, len(rows))
			}
		}
	default:
		s, err := SelectK(f, tok, task, rows, o.SelectMaxLen)
		if err != nil {
			return nil, err
		}
		k, keep = s.K, s.Keep
	}
	if o.MaxRows > 0 && len(keep) > o.MaxRows {
		r := rand.New(rand.NewPCG(o.Seed, 0x5bec7))
		perm := r.Perm(len(keep))[:o.MaxRows]
		sort.Ints(perm)
		sel := make([]int, len(perm))
		for i, p := range perm {
			sel[i] = keep[p]
		}
		keep = sel
	}
	st := &SteerTask{Task: task, K: k, KFormat: kFormat, Candidates: len(rows)}
	for _, i := range keep {
		st.Rows = append(st.Rows, SteerRow{Index: i, Tokens: truncateAfter(full[i], k)})
	}
	return st, nil
}

// CurvePoint is the mean loss and all-token accuracy of the outputs with a
// given example index (number of scored outputs before them).
type CurvePoint struct {
	ExampleIndex int `json:"example_index"`
	Loss         Num `json:"loss"`
	AllAcc       Num `json:"all_acc"`
	N            int `json:"n"`
}

// SteerResult is one task's steerability aggregates. Means are over all
// (row, output) pairs; _geq_1 keeps outputs with example index ≥ 1 (at least
// one earlier scored output in context, the paper's headline numbers); _k
// keeps index K−1, as the reference's eval/*_k (its off-by-one included).
// _sem fields are standard errors (sample std / √n).
type SteerResult struct {
	K             int          `json:"k"`
	KFormat       string       `json:"k_format,omitempty"` // the format k and the rows were chosen in
	NRows         int          `json:"n_rows"`
	NOutputs      int          `json:"n_outputs"`
	Loss          Num          `json:"loss"`
	LossSem       Num          `json:"loss_sem"`
	LossGeq1      Num          `json:"loss_geq_1"`
	LossGeq1Sem   Num          `json:"loss_geq_1_sem"`
	AllAcc        Num          `json:"all_acc"`
	AllAccSem     Num          `json:"all_acc_sem"`
	AllAccGeq1    Num          `json:"all_acc_geq_1"`
	AllAccGeq1Sem Num          `json:"all_acc_geq_1_sem"`
	FirstAcc      Num          `json:"first_acc"`
	FirstAccSem   Num          `json:"first_acc_sem"`
	Acc           Num          `json:"acc"`
	AccSem        Num          `json:"acc_sem"`
	LossK         Num          `json:"loss_k"`
	LossKSem      Num          `json:"loss_k_sem"`
	AllAccK       Num          `json:"all_acc_k"`
	AllAccKSem    Num          `json:"all_acc_k_sem"`
	ECE           *Num         `json:"ece,omitempty"`
	ECEGeq1       *Num         `json:"ece_geq_1,omitempty"`
	Curve         []CurvePoint `json:"curve"`
}

// AggregateSteer computes a task's aggregates from its row scores; calib
// adds the calibration errors from the rows' calibration points.
func AggregateSteer(k int, rows []RowScore, calib bool) *SteerResult {
	var loss, acc, first, all, lossG, allG, lossK, allK []float64
	byIdx := map[int][2][]float64{}
	maxJ := -1
	for _, r := range rows {
		for _, o := range r.Outputs {
			if o.ExampleIndex > k {
				continue
			}
			maxJ = max(maxJ, o.ExampleIndex)
		}
	}
	var pts, ptsG []CalibPoint
	for _, r := range rows {
		for _, o := range r.Outputs {
			if o.ExampleIndex > k {
				continue
			}
			loss = append(loss, o.Loss)
			acc = append(acc, o.Acc)
			first = append(first, o.FirstAcc)
			all = append(all, o.AllAcc)
			if o.ExampleIndex >= 1 {
				lossG = append(lossG, o.Loss)
				allG = append(allG, o.AllAcc)
			}
			if o.ExampleIndex == maxJ-1 {
				lossK = append(lossK, o.Loss)
				allK = append(allK, o.AllAcc)
			}
			c := byIdx[o.ExampleIndex]
			c[0] = append(c[0], o.Loss)
			c[1] = append(c[1], o.AllAcc)
			byIdx[o.ExampleIndex] = c
		}
		if calib {
			for ex, ps := range r.Calib {
				if ex > k {
					continue
				}
				pts = append(pts, ps...)
				if ex >= 1 {
					ptsG = append(ptsG, ps...)
				}
			}
		}
	}
	res := &SteerResult{K: k, NRows: len(rows), NOutputs: len(loss)}
	set := func(x []float64, m, s *Num) {
		st := Summarize(x)
		*m, *s = st.Mean, st.Sem
	}
	set(loss, &res.Loss, &res.LossSem)
	set(lossG, &res.LossGeq1, &res.LossGeq1Sem)
	set(all, &res.AllAcc, &res.AllAccSem)
	set(allG, &res.AllAccGeq1, &res.AllAccGeq1Sem)
	set(first, &res.FirstAcc, &res.FirstAccSem)
	set(acc, &res.Acc, &res.AccSem)
	set(lossK, &res.LossK, &res.LossKSem)
	set(allK, &res.AllAccK, &res.AllAccKSem)
	if calib {
		e, eg := Num(ECE(pts, 10)), Num(ECE(ptsG, 10))
		res.ECE, res.ECEGeq1 = &e, &eg
	}
	idx := make([]int, 0, len(byIdx))
	for j := range byIdx {
		idx = append(idx, j)
	}
	sort.Ints(idx)
	res.Curve = make([]CurvePoint, 0, len(idx))
	for _, j := range idx {
		c := byIdx[j]
		res.Curve = append(res.Curve, CurvePoint{ExampleIndex: j, Loss: Summarize(c[0]).Mean, AllAcc: Summarize(c[1]).Mean, N: len(c[0])})
	}
	return res
}

// RestrictTokens returns the reference's --auto_restrict_texts token set:
// every distinct labelled token of the rows. The reference allows at most
// 30 distinct label texts; more is an error.
func RestrictTokens(rows []SteerRow, maxLabels int) ([]int32, error) {
	texts := map[string]bool{}
	toks := map[int32]bool{}
	for _, r := range rows {
		t := r.Tokens
		var cur []int32
		flush := func() {
			if len(cur) > 0 {
				texts[fmt.Sprint(cur)] = true
				cur = nil
			}
		}
		for i, l := range t.Loss {
			if l {
				toks[t.IDs[i]] = true
				cur = append(cur, t.IDs[i])
			} else {
				flush()
			}
		}
		flush()
	}
	if maxLabels > 0 && len(texts) > maxLabels {
		return nil, fmt.Errorf("eval: --restrict needs at most %d distinct labels, the rows have %d", maxLabels, len(texts))
	}
	out := make([]int32, 0, len(toks))
	for t := range toks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// RowScorer scores tokenized rows: *Scorer with a local model, or a remote
// scorer over an OpenAI-compatible server (package remote).
type RowScorer interface {
	Score(ctx context.Context, rows []format.Tokens, progress func(done int)) ([]RowScore, error)
	// Calibrated reports whether the scores carry calibration points.
	Calibrated() bool
}

// Calibrated reports whether the scorer collects calibration points.
func (s *Scorer) Calibrated() bool { return s.opts.Calibration }

// TokenScore is one labelled token's score, for scorers outside this
// package: its example index, log-probability and whether it was the
// argmax.
type TokenScore struct {
	Example int
	LogProb float64
	Argmax  bool
}

// RowScoreOf groups token scores by example index into a RowScore (ntok:
// the row's length in tokens).
func RowScoreOf(ntok int, toks []TokenScore) RowScore {
	return collect(ntok, func(yield func(ex int, logp float64, argmax bool, others []float64)) {
		for _, t := range toks {
			yield(t.Example, t.LogProb, t.Argmax, nil)
		}
	}, false)
}

// EvalSteer scores a prepared task and aggregates it.
func EvalSteer(ctx context.Context, s RowScorer, st *SteerTask, progress func(done int)) (*SteerResult, []RowScore, error) {
	toks := make([]format.Tokens, len(st.Rows))
	for i, r := range st.Rows {
		toks[i] = r.Tokens
	}
	scores, err := s.Score(ctx, toks, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("eval: task %s: %w", st.Task, err)
	}
	res := AggregateSteer(st.K, scores, s.Calibrated())
	res.KFormat = st.KFormat
	return res, scores, nil
}
