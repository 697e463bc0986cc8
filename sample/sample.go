// Package sample draws many completions of one prompt fast: the prompt is
// decoded once and shared through the KV cache with P parallel slots, every
// step decodes one token for all active slots in a single batch, and a slot
// that finishes is refilled with the next completion until N are done.
//
// Reproducibility: completion i of row r draws from its own sampler chain,
// seeded from (seed, r, i), so the same request with the same parallelism
// gives identical output. Across different parallelism the tokens agree at
// temperature 0 (greedy) and, at temperature > 0, up to the rare draw that
// lands on a boundary moved by float rounding: a different batch
// composition changes the order of float sums inside llama.cpp (logit
// differences of ~1e-5 were measured on stories260K).
package sample

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/spectrumkit/spectrum/llama"
)

// Finish reasons of a Completion.
const (
	FinishStop   = "stop"   // a stop string (or, with FirstLine, a newline)
	FinishEOG    = "eog"    // an end-of-generation token
	FinishLength = "length" // MaxTokens reached
)

// Request asks for N completions of one prompt.
type Request struct {
	Row    int           // row id, copied into each Completion
	Task   string        // task name, copied into each Completion
	Prompt []llama.Token // the tokenized prompt (BOS included where the model wants it)

	N         int // completions (≥ 1)
	MaxTokens int // new tokens per completion (≥ 1)

	Temp, TopP, MinP float32
	TopK             int
	Seed             uint64
	LogitBias        map[llama.Token]float32

	// Stop strings end a completion (they are not part of its text). The
	// model's end-of-generation tokens always end it.
	Stop []string
	// StopTokens end a completion like end-of-generation tokens do (e.g. a
	// format's turn-end token that the model's GGUF does not mark as EOG).
	StopTokens []llama.Token
	// FirstLine is the reference coverage protocol: cut the completion at
	// the first stop string or newline, and strip surrounding white space.
	FirstLine bool
	// LogProbs asks for the sum of the model's log-probabilities (at
	// temperature 1, before any truncation) of the generated tokens.
	LogProbs bool
}

// Completion is one generated text.
type Completion struct {
	Row     int      `json:"row"`
	Task    string   `json:"task,omitempty"`
	Index   int      `json:"index"`
	Text    string   `json:"text"`
	Tokens  int      `json:"tokens"`
	Finish  string   `json:"finish"`
	LogProb *float64 `json:"logprob,omitempty"`
}

// Options configure an Engine.
type Options struct {
	// Parallel is the number of completions decoded together (0: min(N, 32)).
	Parallel int
	Threads  int // CPU threads (0: llama.DefaultThreads)
	// UnifiedKV keeps all slots in one KV buffer, sharing the prompt's cells
	// (least memory). By default each slot gets its own buffer holding a
	// copy of the prompt: attention then scans only the slot's own tokens,
	// which is faster once many slots run (llama.cpp's non-unified mode).
	UnifiedKV bool
	// KVType is the KV cache element type ("f16", "f32", "q8_0"; "":
	// DefaultKVType(model)).
	KVType string
	// FlashAttention is llama.cpp's flash-attention switch: "off", "on" or
	// "auto" (llama.cpp decides); "" takes DefaultFlashAttention(model).
	FlashAttention string
	// Adapters are LoRA adapters attached with their scales.
	Adapters []AdapterSpec
	// Progress, if set, is called after each finished completion with the
	// totals so far.
	Progress func(Progress)
}

// DefaultThreads is the thread count the engine should use for m: the
// physical cores, but 1 for models under 20M parameters, where ggml's
// spinning workers cost more than the math they share.
func DefaultThreads(m *llama.Model) int {
	if n := m.NParams(); n > 0 && n < 20_000_000 {
		return 1
	}
	return llama.DefaultThreads()
}

// DefaultFlashAttention is the engine's flash-attention choice for m with a
// KV cache of type kv ("" for DefaultKVType(m)) when Options.FlashAttention
// is "": off for an f32 cache (llama.cpp would compute on an f16 copy), on
// for a quantized one (llama.cpp quantizes V only under flash attention),
// otherwise on, except for models under 20M parameters.
// Measured on 2 cores, 64 completions × 32 tokens, per-slot KV, P = 32
// (BenchmarkSampleSweep): flash attention on is 13 % faster on a
// 135M-shaped model (8.22 against 7.26 completions/s) and on Gemma 3 270M
// (3.19 against 2.82), and 24 % slower on stories260K, whose 8-wide heads
// make every attention step overhead.
func DefaultFlashAttention(m *llama.Model, kv string) string {
	if kv == "" {
		kv = DefaultKVType(m)
	}
	switch kv {
	case "f32":
		return "off"
	case "q8_0", "q4_0":
		return "on"
	}
	if n := m.NParams(); n > 0 && n < 20_000_000 {
		return "off"
	}
	return "on"
}

// DefaultKVType is the engine's KV cache type for m when Options.KVType is
// "": f32 for models under 20M parameters, whose 8-wide attention heads make
// the F16 conversions in every attention dot product the bulk of a
// generated token's cost (stories260K, 256 × 64 tokens: 2.69 s instead of
// 3.45 s at P = 32, 4.13 s instead of 4.83 s at P = 1; the cache is a few
// MB), else llama.cpp's f16.
func DefaultKVType(m *llama.Model) string {
	if n := m.NParams(); n > 0 && n < 20_000_000 {
		return "f32"
	}
	return ""
}

// AdapterSpec names a LoRA adapter file and its scale.
type AdapterSpec struct {
	Path  string
	Scale float32
}

// LoadAdapters loads the adapters of specs for model m, in order; on an
// error the ones already loaded are closed.
func LoadAdapters(m *llama.Model, specs []AdapterSpec) ([]*llama.Adapter, error) {
	var ads []*llama.Adapter
	for _, a := range specs {
		ad, err := llama.LoadAdapter(m, a.Path)
		if err != nil {
			for _, x := range ads {
				x.Close()
			}
			return nil, err
		}
		ads = append(ads, ad)
	}
	return ads, nil
}

// AttachAdapters sets the adapters loaded by LoadAdapters on ctx at the
// scales of their specs.
func AttachAdapters(ctx *llama.Context, ads []*llama.Adapter, specs []AdapterSpec) error {
	for i, a := range ads {
		if err := ctx.SetAdapter(a, specs[i].Scale); err != nil {
			return err
		}
	}
	return nil
}

// Progress reports an Engine's work so far.
type Progress struct {
	Done, Total int // completions
	Tokens      int // generated tokens
	Elapsed     time.Duration
}

// Engine samples completions from one model. It is not safe for concurrent
// use.
type Engine struct {
	model    *llama.Model
	opts     Options
	ctx      *llama.Context
	ctxCells int // KV cells of ctx
	ctxSeqs  int
	adapters []*llama.Adapter
	batch    *llama.Batch

	done, total, tokens int
	start               time.Time
}

// NewEngine prepares an engine; contexts are created on first use, sized
// for the request.
func NewEngine(m *llama.Model, opts Options) (*Engine, error) {
	if opts.Parallel < 0 {
		return nil, fmt.Errorf("sample: parallel slots must be ≥ 1 (0 for automatic), got %d", opts.Parallel)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("sample: threads must be ≥ 1 (0 for automatic), got %d", opts.Threads)
	}
	ads, err := LoadAdapters(m, opts.Adapters)
	if err != nil {
		return nil, err
	}
	return &Engine{model: m, opts: opts, start: time.Now(), adapters: ads}, nil
}

// Close frees the engine's context and adapters (not the model).
func (e *Engine) Close() error {
	if e.batch != nil {
		e.batch.Close()
		e.batch = nil
	}
	if e.ctx != nil {
		e.ctx.Close()
		e.ctx = nil
	}
	for _, a := range e.adapters {
		a.Close()
	}
	e.adapters = nil
	return nil
}

// SetTotal sets the number of completions the progress reports count to.
func (e *Engine) SetTotal(n int) { e.total = n }

// Validate checks a request without running it.
func (r *Request) Validate() error {
	switch {
	case r.N < 1:
		return fmt.Errorf("sample: number of completions must be ≥ 1, got %d", r.N)
	case r.MaxTokens < 1:
		return fmt.Errorf("sample: max tokens must be ≥ 1, got %d", r.MaxTokens)
	case len(r.Prompt) == 0:
		return errors.New("sample: empty prompt (a model without BOS needs some prompt text)")
	case r.Temp < 0:
		return fmt.Errorf("sample: temperature must be ≥ 0, got %g", r.Temp)
	case r.TopK < 0:
		return fmt.Errorf("sample: top-k must be ≥ 0, got %d", r.TopK)
	case r.TopP < 0 || r.TopP > 1:
		return fmt.Errorf("sample: top-p must be in [0, 1], got %g", r.TopP)
	case r.MinP < 0 || r.MinP > 1:
		return fmt.Errorf("sample: min-p must be in [0, 1], got %g", r.MinP)
	}
	for _, s := range r.Stop {
		if s == "" {
			return errors.New("sample: empty stop string")
		}
	}
	return nil
}

// parallel is the number of slots for a request.
func (e *Engine) parallel(r *Request) int {
	p := e.opts.Parallel
	if p == 0 {
		p = 32
	}
	return max(1, min(p, r.N, 255)) // one sequence id stays for the prompt
}

// prepare makes sure the context can hold the request: unified, the prompt
// once plus P slots of MaxTokens+1 cells; split, P+1 buffers each holding
// the prompt and MaxTokens+1 cells (llama.cpp rounds each to 256).
func (e *Engine) prepare(r *Request, p int) error {
	cells := len(r.Prompt) + p*(r.MaxTokens+1) + 8
	if !e.opts.UnifiedKV {
		perSeq := (len(r.Prompt) + r.MaxTokens + 1 + 255) / 256 * 256
		cells = perSeq * (p + 1)
	}
	if train := e.model.NCtxTrain(); len(r.Prompt)+r.MaxTokens > train && train > 0 {
		return fmt.Errorf("sample: prompt (%d tokens) plus %d new tokens exceed the model's context of %d tokens", len(r.Prompt), r.MaxTokens, train)
	}
	nbatch := max(min(len(r.Prompt), 2048), p)
	if e.ctx != nil && e.ctxCells >= cells && e.ctxSeqs >= p+1 && e.ctx.NBatch() >= nbatch {
		return nil
	}
	if e.ctx != nil {
		e.ctx.Close()
		e.ctx = nil
	}
	ctx, err := llama.NewContext(e.model, llama.ContextParams{
		NCtx: cells, NBatch: nbatch, NUbatch: min(nbatch, 512), NSeqMax: p + 1,
		Threads: e.opts.Threads, UnifiedKV: e.opts.UnifiedKV, KVType: e.kvType(), FlashAttention: e.flash(), LoRA: len(e.adapters) > 0,
	})
	if err != nil {
		return err
	}
	if err := AttachAdapters(ctx, e.adapters, e.opts.Adapters); err != nil {
		ctx.Close()
		return err
	}
	if e.batch != nil {
		e.batch.Close()
	}
	if e.batch, err = llama.NewBatch(nbatch, 1); err != nil {
		ctx.Close()
		return err
	}
	e.ctx, e.ctxCells, e.ctxSeqs = ctx, cells, p+1
	return nil
}

// kvType is the KV cache type contexts are created with.
func (e *Engine) kvType() string {
	if e.opts.KVType == "" {
		return DefaultKVType(e.model)
	}
	return e.opts.KVType
}

// flash is the flash-attention setting contexts are created with.
func (e *Engine) flash() string {
	if e.opts.FlashAttention == "" {
		return DefaultFlashAttention(e.model, e.kvType())
	}
	return e.opts.FlashAttention
}

// slot is one parallel sequence and the completion it is producing.
type slot struct {
	seq     llama.SeqID
	index   int // completion index, -1 when idle
	smpl    *llama.Sampler
	pos     llama.Pos
	next    llama.Token // token to feed at pos
	bidx    int         // its index in the current batch
	text    []byte
	ntok    int
	logprob float64
}

// completionSeed mixes the request seed, row and index into a sampler seed.
func completionSeed(seed uint64, row, index int) uint32 {
	h := fnv.New64a()
	var b [24]byte
	for i, v := range []uint64{seed, uint64(row), uint64(index)} {
		for k := 0; k < 8; k++ {
			b[8*i+k] = byte(v >> (8 * k))
		}
	}
	h.Write(b[:])
	s := h.Sum64()
	return uint32(s ^ s>>32)
}

// Run produces the request's completions, calling emit for each as it
// finishes (completions of one request finish in any order; Index says
// which is which). It returns early with ctx's error when ctx is done.
func (e *Engine) Run(ctx context.Context, r *Request, emit func(Completion) error) error {
	if err := r.Validate(); err != nil {
		return err
	}
	p := e.parallel(r)
	if err := e.prepare(r, p); err != nil {
		return err
	}
	lc := e.ctx
	lc.MemoryClear() // a later prompt never sees an earlier one's cells
	promptSeq := llama.SeqID(p)
	head, last := r.Prompt[:len(r.Prompt)-1], r.Prompt[len(r.Prompt)-1]
	// Decode all but the last prompt token once; each slot then feeds the
	// last one itself, which gives it the logits of its first draw.
	b := e.batch
	for start := 0; start < len(head); start += b.Cap() {
		end := min(start+b.Cap(), len(head))
		b.Clear()
		if err := b.AddSeq(head[start:end], llama.Pos(start), promptSeq, false); err != nil {
			return err
		}
		if err := lc.Decode(b); err != nil {
			return fmt.Errorf("sample: decoding the prompt: %w", err)
		}
	}
	stops := r.Stop
	if r.FirstLine {
		stops = append(append([]string{}, stops...), "\n")
	}
	maxStop := 0
	for _, s := range stops {
		maxStop = max(maxStop, len(s))
	}

	slots := make([]*slot, p)
	nextIndex, finished := 0, 0
	defer func() {
		for _, s := range slots {
			if s != nil && s.smpl != nil {
				s.smpl.Close()
			}
		}
	}()
	start := func(s *slot) error {
		if s.smpl != nil {
			s.smpl.Close()
			s.smpl = nil
		}
		lc.SeqRm(s.seq, 0, -1)
		if nextIndex >= r.N {
			s.index = -1
			return nil
		}
		if len(head) > 0 {
			if err := lc.SeqCp(promptSeq, s.seq, -1, -1); err != nil {
				return err
			}
		}
		sm, err := llama.NewSampler(e.model, llama.SamplerParams{
			Temp: r.Temp, TopK: r.TopK, TopP: r.TopP, MinP: r.MinP,
			Seed: completionSeed(r.Seed, r.Row, nextIndex), LogitBias: r.LogitBias,
		})
		if err != nil {
			return err
		}
		*s = slot{seq: s.seq, index: nextIndex, smpl: sm, pos: llama.Pos(len(head)), next: last}
		nextIndex++
		return nil
	}
	for i := range slots {
		slots[i] = &slot{seq: llama.SeqID(i)}
		if err := start(slots[i]); err != nil {
			return err
		}
	}
	finish := func(s *slot, reason string) error {
		text := string(s.text)
		if r.FirstLine {
			text = strings.TrimSpace(text)
		}
		c := Completion{Row: r.Row, Task: r.Task, Index: s.index, Text: text, Tokens: s.ntok, Finish: reason}
		if r.LogProbs {
			lp := s.logprob
			c.LogProb = &lp
		}
		finished++
		e.done++
		e.tokens += s.ntok
		if err := emit(c); err != nil {
			return err
		}
		if e.opts.Progress != nil {
			e.opts.Progress(Progress{Done: e.done, Total: max(e.total, e.done), Tokens: e.tokens, Elapsed: time.Since(e.start)})
		}
		return start(s)
	}
	seq := make([]llama.SeqID, 1)
	for finished < r.N {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.Clear()
		for _, s := range slots {
			if s.index < 0 {
				continue
			}
			seq[0] = s.seq
			idx, err := b.Add(s.next, s.pos, seq, true)
			if err != nil {
				return err
			}
			s.bidx = idx
		}
		if err := lc.Decode(b); err != nil {
			return fmt.Errorf("sample: decode: %w", err)
		}
		for _, s := range slots {
			if s.index < 0 {
				continue
			}
			tok, err := s.smpl.Sample(lc, s.bidx)
			if err != nil {
				return err
			}
			if e.model.IsEOG(tok) || slices.Contains(r.StopTokens, tok) {
				if err := finish(s, FinishEOG); err != nil {
					return err
				}
				continue
			}
			if r.LogProbs {
				lp, _, err := lc.TokenLogProb(s.bidx, tok)
				if err != nil {
					return err
				}
				s.logprob += lp
			}
			s.ntok++
			from := max(0, len(s.text)-maxStop+1)
			s.text = append(s.text, e.model.Piece(tok, false)...)
			if cut := firstStop(s.text, from, stops); cut >= 0 {
				s.text = s.text[:cut]
				if err := finish(s, FinishStop); err != nil {
					return err
				}
				continue
			}
			if s.ntok >= r.MaxTokens {
				if err := finish(s, FinishLength); err != nil {
					return err
				}
				continue
			}
			s.next, s.pos = tok, s.pos+1
		}
	}
	return nil
}

// firstStop returns the byte offset of the earliest stop string found at or
// after from (stop strings can span token boundaries), or -1.
func firstStop(text []byte, from int, stops []string) int {
	cut := -1
	for _, st := range stops {
		if i := strings.Index(string(text[from:]), st); i >= 0 && (cut < 0 || from+i < cut) {
			cut = from + i
		}
	}
	return cut
}
