package eval

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/sample"
)

// ScorerOptions configure a Scorer. Zero values take the defaults noted.
type ScorerOptions struct {
	Threads int    // CPU threads (0: llama.DefaultThreads)
	KVType  string // KV cache type ("": f16; "f32" for exact comparisons)
	// NBatch is the most tokens one decode takes (0: 2048). Rows shorter than
	// that are packed together, as separate sequences, into one decode.
	NBatch int
	// NSeqMax is the most rows (sequences) packed in one decode (0: 16).
	NSeqMax int
	// NCtx is the number of KV cells (0: enough for NBatch tokens and for the
	// longest row).
	NCtx int
	// MaxOutputs caps the logits rows requested per decode (0: as many as
	// fit in 256 MiB of float32 logits, at least 64).
	MaxOutputs int
	// Adapters are LoRA adapters attached with their scales.
	Adapters []sample.AdapterSpec
	// AllLogits requests logits at every position instead of only at the
	// positions that predict a labelled token (for tests and benchmarks:
	// the numbers are the same).
	AllLogits bool
	// Restrict, when not nil, adds −100 to the logit of every token outside
	// it before the softmax and argmax (the reference's --auto_restrict_texts).
	Restrict []llama.Token
	// Calibration collects the points of the calibration error (ECE).
	Calibration bool
	// SharedKV puts every packed row in one unified KV buffer; by default
	// each sequence has its own KV stream, so that a packed row attends
	// only over its own cells (attention cost does not grow with packing).
	SharedKV bool
}

// OutputScore holds the metrics of one scored output (one example index) of
// a row (reference §5.1.3).
type OutputScore struct {
	ExampleIndex int `json:"example_index"`
	// Tokens is the number of labelled tokens (end token included).
	Tokens int `json:"tokens"`
	// Loss is the summed negative log-likelihood in nats of those tokens.
	Loss float64 `json:"loss"`
	// FirstAcc is 1 when the first token is the argmax.
	FirstAcc float64 `json:"first_acc"`
	// Acc is the share of tokens that are the argmax.
	Acc float64 `json:"acc"`
	// AllAcc is 1 when every token is the argmax.
	AllAcc float64 `json:"all_acc"`
}

// RowScore holds the scores of one row.
type RowScore struct {
	Tokens  int           `json:"tokens"`
	Outputs []OutputScore `json:"outputs"`
	// Calib holds the calibration points per example index (with
	// ScorerOptions.Calibration).
	Calib map[int][]CalibPoint `json:"-"`
}

// Scorer scores tokenized rows with a model: one forward pass per row,
// logits requested only where a labelled token is predicted, several rows
// packed as separate sequences into one decode. It is not safe for
// concurrent use.
type Scorer struct {
	model    *llama.Model
	opts     ScorerOptions
	adapters []*llama.Adapter
	ctx      *llama.Context
	batch    *llama.Batch
	cells    int
	perSeq   int
	restrict []bool
	// Tokens counts the tokens decoded so far.
	Tokens int
	// Decodes counts the decode calls so far.
	Decodes int
}

// NewScorer prepares a scorer; its context is created on first use, sized
// for the rows.
func NewScorer(m *llama.Model, o ScorerOptions) (*Scorer, error) {
	if m == nil || m.VocabOnly() {
		return nil, errors.New("eval: scoring needs a model loaded with its weights")
	}
	if o.NBatch < 0 || o.NSeqMax < 0 || o.NCtx < 0 || o.MaxOutputs < 0 || o.Threads < 0 {
		return nil, errors.New("eval: negative scorer option")
	}
	if o.NBatch == 0 {
		o.NBatch = 2048
	}
	if o.NSeqMax == 0 {
		o.NSeqMax = 16
	}
	if o.MaxOutputs == 0 {
		o.MaxOutputs = max(64, min(o.NBatch, (256<<20)/(4*max(1, m.NVocab()))))
	}
	s := &Scorer{model: m, opts: o}
	if o.Restrict != nil {
		s.restrict = make([]bool, m.NVocab())
		for _, t := range o.Restrict {
			if t < 0 || int(t) >= len(s.restrict) {
				return nil, fmt.Errorf("eval: restrict token %d outside the vocabulary", t)
			}
			s.restrict[t] = true
		}
	}
	ads, err := sample.LoadAdapters(m, o.Adapters)
	if err != nil {
		return nil, err
	}
	s.adapters = ads
	return s, nil
}

// Close frees the scorer's context, batch and adapters (not the model).
func (s *Scorer) Close() error {
	if s.batch != nil {
		s.batch.Close()
		s.batch = nil
	}
	if s.ctx != nil {
		s.ctx.Close()
		s.ctx = nil
	}
	for _, a := range s.adapters {
		a.Close()
	}
	s.adapters = nil
	return nil
}

// ensure makes a context with at least cells KV cells.
func (s *Scorer) ensure(cells int) error {
	cells = (max(cells, 1) + 255) / 256 * 256
	s.perSeq = cells
	if s.opts.SharedKV {
		cells = max(cells, s.opts.NBatch)
	} else {
		cells *= s.opts.NSeqMax
	}
	cells = max(cells, s.opts.NCtx)
	if s.ctx != nil && s.cells >= cells {
		return nil
	}
	if s.ctx != nil {
		s.ctx.Close()
		s.ctx = nil
	}
	// Flash attention stays off (exact F32/F16 scores), except for a
	// quantized cache, which llama.cpp supports only with it.
	flash := ""
	if s.opts.KVType == "q8_0" || s.opts.KVType == "q4_0" {
		flash = "on"
	}
	ctx, err := llama.NewContext(s.model, llama.ContextParams{
		NCtx: cells, NBatch: s.opts.NBatch, NUbatch: min(s.opts.NBatch, 512), NSeqMax: s.opts.NSeqMax,
		Threads: s.opts.Threads, KVType: s.opts.KVType, FlashAttention: flash, UnifiedKV: s.opts.SharedKV, LoRA: len(s.adapters) > 0,
	})
	if err != nil {
		return err
	}
	if err := sample.AttachAdapters(ctx, s.adapters, s.opts.Adapters); err != nil {
		ctx.Close()
		return err
	}
	if s.batch == nil {
		if s.batch, err = llama.NewBatch(s.opts.NBatch, 1); err != nil {
			ctx.Close()
			return err
		}
	}
	s.ctx, s.cells = ctx, cells
	return nil
}

// job is one sequence to feed: ids[start:] are decoded in a sequence whose
// positions [0, start) are copied from sequence 0 (the shared prefix);
// want[p] asks for the logits at position p, handed to logits.
type job struct {
	ids    []llama.Token
	start  int
	want   func(p int) bool
	logits func(p, i int) error
	done   func()
}

// run feeds jobs through the context, packing as many as fit into each
// decode. reserved is the number of KV cells sequence 0 holds for a shared
// prefix (0: sequence 0 is free for jobs too).
func (s *Scorer) run(ctx context.Context, jobs []job, reserved int) error {
	type active struct {
		j    *job
		seq  llama.SeqID
		next int
	}
	firstSeq := 0
	if reserved > 0 {
		firstSeq = 1
	}
	var free []llama.SeqID
	for q := s.opts.NSeqMax - 1; q >= firstSeq; q-- {
		free = append(free, llama.SeqID(q))
	}
	if len(free) == 0 {
		return errors.New("eval: no free sequence (NSeqMax too small)")
	}
	used := reserved
	var act []*active
	nextJob := 0
	type out struct {
		a *active
		p int
		i int
	}
	var outs []out
	b := s.batch
	for nextJob < len(jobs) || len(act) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.Clear()
		outs = outs[:0]
		full := false
		feed := func(a *active) error {
			n := len(a.j.ids)
			for a.next < n && b.Len() < b.Cap() {
				w := a.j.want(a.next)
				if w && len(outs) >= s.opts.MaxOutputs {
					full = true
					return nil
				}
				i, err := b.Add(a.j.ids[a.next], llama.Pos(a.next), []llama.SeqID{a.seq}, w)
				if err != nil {
					return err
				}
				if w {
					outs = append(outs, out{a, a.next, i})
				}
				a.next++
			}
			if a.next < n {
				full = true
			}
			return nil
		}
		for _, a := range act {
			if full {
				break
			}
			if err := feed(a); err != nil {
				return err
			}
		}
		for !full && nextJob < len(jobs) && len(free) > 0 {
			j := &jobs[nextJob]
			need := len(j.ids) - j.start
			if !s.opts.SharedKV {
				need = 0 // each sequence has its own stream
				if len(j.ids) > s.perSeq {
					return fmt.Errorf("eval: a row of %d tokens does not fit the context (%d cells per sequence)", len(j.ids), s.perSeq)
				}
			}
			if used+need > s.cells {
				if len(act) == 0 {
					return fmt.Errorf("eval: a row of %d tokens does not fit the context (%d cells)", len(j.ids), s.cells)
				}
				break
			}
			nextJob++
			if len(j.ids) <= j.start {
				if j.done != nil {
					j.done()
				}
				continue
			}
			a := &active{j: j, seq: free[len(free)-1], next: j.start}
			free = free[:len(free)-1]
			used += need
			if j.start > 0 {
				if err := s.ctx.SeqCp(0, a.seq, -1, -1); err != nil {
					return err
				}
			}
			act = append(act, a)
			if err := feed(a); err != nil {
				return err
			}
		}
		if b.Len() == 0 {
			if len(act) == 0 && nextJob >= len(jobs) {
				break // only empty jobs were left
			}
			return errors.New("eval: internal error: empty batch")
		}
		if err := s.ctx.Decode(b); err != nil {
			return err
		}
		s.Tokens += b.Len()
		s.Decodes++
		for _, o := range outs {
			if err := o.a.j.logits(o.p, o.i); err != nil {
				return err
			}
		}
		keep := act[:0]
		for _, a := range act {
			if a.next < len(a.j.ids) {
				keep = append(keep, a)
				continue
			}
			s.ctx.SeqRm(a.seq, 0, -1)
			free = append(free, a.seq)
			used -= len(a.j.ids) - a.j.start
			if a.j.done != nil {
				a.j.done()
			}
		}
		act = keep
	}
	return nil
}

// tokenLogProb is log p(tok) and whether tok is the argmax at batch index i,
// with the restriction applied; with calibration it also returns the
// log-probabilities above log CalibThreshold of the other tokens.
func (s *Scorer) tokenLogProb(i int, tok llama.Token, calib bool) (float64, bool, []float64, error) {
	if s.restrict == nil && !calib {
		lp, am, err := s.ctx.TokenLogProb(i, tok)
		return lp, am, nil, err
	}
	lg, err := s.ctx.Logits(i)
	if err != nil {
		return 0, false, nil, err
	}
	if int(tok) >= len(lg) || tok < 0 {
		return 0, false, nil, fmt.Errorf("eval: token %d outside the vocabulary", tok)
	}
	val := func(v int) float64 {
		x := float64(lg[v])
		if s.restrict != nil && !s.restrict[v] {
			x -= 100
		}
		return x
	}
	mx, arg := math.Inf(-1), 0
	for v := range lg {
		if x := val(v); x > mx {
			mx, arg = x, v
		}
	}
	var sum float64
	for v := range lg {
		sum += math.Exp(val(v) - mx)
	}
	lse := mx + math.Log(sum)
	var others []float64
	if calib {
		th := lse + math.Log(CalibThreshold)
		for v := range lg {
			if x := val(v); x > th && v != int(tok) {
				others = append(others, x-lse)
			}
		}
	}
	return val(int(tok)) - lse, arg == int(tok), others, nil
}

// Score scores tokenized rows (format.Tokens with their loss mask and
// example indices). Position p's logits predict token p+1; only positions
// whose next token is labelled are requested (every position with
// AllLogits). A label on the first token (nothing predicts it) is ignored,
// as the reference's shifted labels do. progress, if set, is called with the
// number of rows done.
func (s *Scorer) Score(ctx context.Context, rows []format.Tokens, progress func(done int)) ([]RowScore, error) {
	longest := 0
	for i := range rows {
		if len(rows[i].IDs) != len(rows[i].Loss) || len(rows[i].IDs) != len(rows[i].ExampleIndex) {
			return nil, fmt.Errorf("eval: row %d: ids, loss and example indices differ in length", i)
		}
		longest = max(longest, len(rows[i].IDs))
	}
	if err := s.ensure(longest); err != nil {
		return nil, err
	}
	s.ctx.MemoryClear()
	type posScore struct {
		logp    float64
		argmax  bool
		ex      int
		others  []float64
		labeled bool
	}
	res := make([]RowScore, len(rows))
	jobs := make([]job, len(rows))
	done := 0
	for r := range rows {
		t := &rows[r]
		ids := make([]llama.Token, len(t.IDs))
		for i, id := range t.IDs {
			ids[i] = llama.Token(id)
		}
		ps := make([]posScore, len(ids))
		jobs[r] = job{
			ids: ids,
			want: func(p int) bool {
				if p+1 >= len(ids) {
					return false
				}
				return s.opts.AllLogits || t.Loss[p+1]
			},
			logits: func(p, i int) error {
				if !t.Loss[p+1] {
					return nil
				}
				lp, am, others, err := s.tokenLogProb(i, ids[p+1], s.opts.Calibration)
				if err != nil {
					return err
				}
				ps[p+1] = posScore{logp: lp, argmax: am, ex: t.ExampleIndex[p+1], others: others, labeled: true}
				return nil
			},
			done: func() {
				res[r] = collect(len(ids), func(yield func(ex int, logp float64, argmax bool, others []float64)) {
					for _, q := range ps {
						if q.labeled {
							yield(q.ex, q.logp, q.argmax, q.others)
						}
					}
				}, s.opts.Calibration)
				done++
				if progress != nil {
					progress(done)
				}
			},
		}
	}
	if err := s.run(ctx, jobs, 0); err != nil {
		return nil, err
	}
	return res, nil
}

// collect groups labelled positions by example index into OutputScores.
func collect(ntok int, each func(yield func(ex int, logp float64, argmax bool, others []float64)), calib bool) RowScore {
	rs := RowScore{Tokens: ntok}
	idx := map[int]int{}
	var correct []int
	each(func(ex int, logp float64, am bool, others []float64) {
		k, ok := idx[ex]
		if !ok {
			k = len(rs.Outputs)
			idx[ex] = k
			rs.Outputs = append(rs.Outputs, OutputScore{ExampleIndex: ex, AllAcc: 1})
			correct = append(correct, 0)
			if am {
				rs.Outputs[k].FirstAcc = 1
			}
		}
		o := &rs.Outputs[k]
		o.Tokens++
		o.Loss -= logp
		if am {
			correct[k]++
		} else {
			o.AllAcc = 0
		}
		if calib {
			if rs.Calib == nil {
				rs.Calib = map[int][]CalibPoint{}
			}
			rs.Calib[ex] = append(rs.Calib[ex], CalibPoint{LogP: logp, Correct: true})
			for _, p := range others {
				rs.Calib[ex] = append(rs.Calib[ex], CalibPoint{LogP: p})
			}
		}
	})
	for k := range rs.Outputs {
		rs.Outputs[k].Acc = float64(correct[k]) / float64(rs.Outputs[k].Tokens)
	}
	return rs
}

// SetRestrict replaces the restriction token set (nil: no restriction).
func (s *Scorer) SetRestrict(toks []llama.Token) error {
	if toks == nil {
		s.restrict, s.opts.Restrict = nil, nil
		return nil
	}
	r := make([]bool, s.model.NVocab())
	for _, t := range toks {
		if t < 0 || int(t) >= len(r) {
			return fmt.Errorf("eval: restrict token %d outside the vocabulary", t)
		}
		r[t] = true
	}
	s.restrict, s.opts.Restrict = r, toks
	return nil
}
