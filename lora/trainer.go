// Package lora trains LoRA adapters on (possibly quantized) GGUF base
// models with its own ggml graph: frozen base weights kept in their stored
// type, F32 LoRA pairs W·x + (alpha/r)·B·(A·x) on the chosen projections, a
// cross-entropy loss only at positions that predict a labelled token, AdamW
// with warmup and a learning-rate schedule, gradient clipping, checkpoints,
// and export to llama.cpp's LoRA adapter GGUF format.
//
// Graphs are rebuilt for every micro-batch in a fresh no-alloc ggml context
// and run through ggml_backend_sched (the CPU backend for now).
package lora

/*
#include <ggml.h>
#include <ggml-backend.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"

	"github.com/spectrumkit/spectrum/models"
)

// Row is one training sequence: token ids and, per position, whether that
// token is a target. Loss[i] means token i is predicted from position i-1
// and counts in the loss; Loss[0] is ignored (nothing predicts it).
type Row struct {
	Tokens []int32
	Loss   []bool
}

// Config configures a Trainer. Start from DefaultConfig: zero values are
// not defaults (a zero rank or learning rate is an error).
type Config struct {
	Rank        int            // LoRA rank r (default 16)
	Alpha       float64        // LoRA alpha; the scale is alpha/r (default 32)
	Targets     []string       // projections to adapt, from Targets (default all seven)
	TargetRanks map[string]int // optional per-target rank overriding Rank
	// TrainTokens makes these tokens' rows of the embedding and of the
	// output matrix trainable (see tokens.go); none by default.
	TrainTokens []int32

	LR          float64 // peak learning rate (default 1e-4)
	Beta1       float64 // AdamW (default 0.9)
	Beta2       float64 // AdamW (default 0.999)
	Eps         float64 // AdamW (default 1e-8)
	WeightDecay float64 // decoupled, as in PyTorch AdamW (default 0)
	Schedule    string  // "constant", "linear" or "cosine" after warmup (default constant)
	WarmupSteps int     // linear warmup from lr/WarmupSteps to lr
	TotalSteps  int     // schedule length for linear and cosine
	MinLRRatio  float64 // linear/cosine floor as a fraction of LR (default 0)
	ClipNorm    float64 // clip the global gradient norm to this; 0 disables (default 1)

	// MaxSeqLen is the longest row; longer rows are truncated with a
	// warning. 0: the model's context length, at most 1024.
	MaxSeqLen int
	// BatchTokens is the most tokens packed into one micro-batch (rows of a
	// step are packed greedily; gradients accumulate over micro-batches).
	// 0: MaxSeqLen.
	BatchTokens int
	Threads     int // CPU threads (0: min(NumCPU, 8))

	// Device is where the graphs run: "auto" (or ""; a GPU if one is
	// registered, else the CPU), "cpu", "cuda" (an error without a CUDA
	// device) or a ggml device name such as "CUDA1". Backends are loaded
	// like the llama package does ($SPECTRUM_BACKEND_PATH or
	// <executable dir>/../lib). Non-CPU devices imply DequantBackward and
	// Checkpointing.
	Device string

	// Checkpointing recomputes activations layer by layer in the backward
	// pass (activation checkpointing): a training step runs one graph per
	// layer forward, keeping only each layer's input hidden state, then the
	// loss head, then each layer again from its stored input with its
	// backward pass. Peak memory holds one layer's activations instead of
	// all of them, for about one extra forward pass of compute. Losses and
	// gradients are the same up to float rounding.
	Checkpointing bool
	// DequantBackward makes the frozen matrices enter the training graph's
	// matmuls as F32 copies dequantized inside the graph (ggml_cast), so
	// that the backward pass through them is an F32 out_prod — the only
	// kind CUDA has — and dequantizes each matrix once per graph instead of
	// once per token (the CPU's quantized out_prod does that: with this
	// option a 135M Q8_0 step is ~25% faster). The copies live from a
	// layer's forward to its backward: in the single graph all of them
	// (4 bytes per weight: 0.5 GiB for 135M, 4.6 GiB for 1B), with
	// Checkpointing one layer's. The forward then multiplies by exact F32
	// weights (the CPU's quantized matmuls also quantize activations), which
	// moves Q8_0 losses by ~3e-4 relative; with Checkpointing the reported
	// loss and the first forward pass keep the stored types. Non-CPU devices
	// set it together with Checkpointing.
	DequantBackward bool
	// NoBLAS keeps every product on ggml's CPU kernels even where the
	// build has a BLAS library (llama.BLAS); by default, on the CPU, F32
	// matmuls and out_prods with 32 rows or more run on BLAS.
	NoBLAS bool
	Seed   uint64 // initialisation of A and the RNG returned by Rand

	// Logf, if set, receives warnings (e.g. truncated rows).
	Logf func(format string, args ...any)
}

// dequantBudget bounds the F32 copies of all frozen matrices that
// AutoDequantBackward accepts in a single training graph.
const dequantBudget = 2 << 30

// AutoDequantBackward is the CPU default for Config.DequantBackward. The
// CPU's quantized out_prod dequantizes every row of a frozen matrix once per
// token, which makes the backward pass dominate a step (Gemma 3 270M Q4_K_M,
// 128 tokens: step 10.6× forward; with F32 copies 2.9×, 3.3× faster). It is
// on when the copies cost little memory: always with checkpointing (one
// layer's copies and the output matrix at a time), and in the single graph
// when all copies (4 bytes per parameter) fit in 2 GiB.
func AutoDequantBackward(params uint64, checkpointing bool) bool {
	return checkpointing || 4*params <= dequantBudget
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Rank: 16, Alpha: 32, Targets: slices.Clone(Targets),
		LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		Schedule: "constant", ClipNorm: 1, Seed: 1,
	}
}

// StepResult reports one optimizer step.
type StepResult struct {
	Step      int     // optimizer steps taken so far (after this one)
	Loss      float64 // mean cross-entropy over the step's labelled tokens
	Tokens    int     // labelled tokens
	Inputs    int     // tokens fed through the model
	LR        float64 // learning rate used
	GradNorm  float64 // global gradient norm before clipping
	Truncated int     // rows cut to MaxSeqLen
	Skipped   bool    // no labelled tokens: nothing was changed
}

type pairKey struct {
	layer  int
	target string
}

// Trainer holds a base model, its LoRA pairs and the optimizer state.
// It is not safe for concurrent use.
type Trainer struct {
	cfg      Config
	basePath string
	hp       *hparams
	be       *backend
	w        *weights
	f32      *f32Copies // persistent F32 copies for DequantBackward, or nil

	pairs  []*pair
	rows   *tokenRows // Config.TrainTokens, or nil
	pairAt map[pairKey]*pair
	gradOf map[tensor]tensor

	pctx, gctxT, mctx *gctx
	pbuf, gbuf, mbuf  C.ggml_backend_buffer_t
	lossGrad          tensor

	headRowsOverride int // tests: rows per checkpointed head graph

	step   int
	cursor int64
	pcg    *rand.PCG
	rng    *rand.Rand
}

func (c *Config) validate() error {
	if c.Rank < 1 {
		return fmt.Errorf("lora: rank must be at least 1 (got %d)", c.Rank)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return fmt.Errorf("lora: alpha must be positive (got %g)", c.Alpha)
	}
	if len(c.Targets) == 0 {
		return errors.New("lora: no targets (choose from " + strings.Join(Targets, ",") + ")")
	}
	seen := map[string]bool{}
	for _, tg := range c.Targets {
		if _, ok := targetTensor[tg]; !ok {
			return fmt.Errorf("lora: unknown target %q (choose from %s)", tg, strings.Join(Targets, ","))
		}
		if seen[tg] {
			return fmt.Errorf("lora: target %q given twice", tg)
		}
		seen[tg] = true
	}
	for tg, r := range c.TargetRanks {
		if !seen[tg] {
			return fmt.Errorf("lora: rank given for %q, which is not a target", tg)
		}
		if r < 1 {
			return fmt.Errorf("lora: rank of %s must be at least 1 (got %d)", tg, r)
		}
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("lora: learning rate must be positive (got %g)", c.LR)
	}
	if !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) {
		return fmt.Errorf("lora: AdamW betas must be in [0, 1) (got %g, %g)", c.Beta1, c.Beta2)
	}
	if !(c.Eps > 0) {
		return fmt.Errorf("lora: AdamW eps must be positive (got %g)", c.Eps)
	}
	if !(c.WeightDecay >= 0) {
		return fmt.Errorf("lora: weight decay must be non-negative (got %g)", c.WeightDecay)
	}
	switch c.Schedule {
	case "constant":
	case "linear", "cosine":
		if c.TotalSteps <= c.WarmupSteps {
			return fmt.Errorf("lora: schedule %s needs TotalSteps (%d) > WarmupSteps (%d)", c.Schedule, c.TotalSteps, c.WarmupSteps)
		}
	default:
		return fmt.Errorf("lora: unknown schedule %q (constant, linear, cosine)", c.Schedule)
	}
	if c.WarmupSteps < 0 || c.TotalSteps < 0 {
		return errors.New("lora: negative step counts")
	}
	if !(c.MinLRRatio >= 0 && c.MinLRRatio <= 1) {
		return fmt.Errorf("lora: MinLRRatio must be in [0, 1] (got %g)", c.MinLRRatio)
	}
	if !(c.ClipNorm >= 0) {
		return fmt.Errorf("lora: ClipNorm must be non-negative (got %g)", c.ClipNorm)
	}
	switch strings.ToLower(c.Device) {
	case "", "auto", "cpu", "cuda":
	default:
		if strings.TrimSpace(c.Device) != c.Device {
			return fmt.Errorf("lora: bad device %q", c.Device)
		}
	}
	if c.MaxSeqLen < 0 || c.BatchTokens < 0 || c.Threads < 0 {
		return errors.New("lora: negative MaxSeqLen, BatchTokens or Threads")
	}
	return nil
}

// NewTrainer loads the base model at basePath and creates fresh LoRA pairs
// (A Kaiming-uniform as in PEFT, B zero).
func NewTrainer(basePath string, cfg Config) (*Trainer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f, err := models.Open(basePath)
	if err != nil {
		return nil, fmt.Errorf("lora: %v", err)
	}
	defer f.Close()
	hp, err := readHparams(f)
	if err != nil {
		return nil, err
	}
	// Every target must exist in every block.
	for _, tg := range cfg.Targets {
		for l := 0; l < hp.nLayer; l++ {
			name := fmt.Sprintf("blk.%d.%s.weight", l, targetTensor[tg])
			if _, ok := f.Tensor(name); !ok {
				return nil, fmt.Errorf("lora: target %s: base model has no tensor %s", tg, name)
			}
		}
	}
	if cfg.MaxSeqLen == 0 {
		cfg.MaxSeqLen = min(hp.nCtxTrain, 1024)
	}
	if cfg.BatchTokens == 0 {
		cfg.BatchTokens = cfg.MaxSeqLen
	}
	if cfg.BatchTokens < cfg.MaxSeqLen {
		return nil, fmt.Errorf("lora: BatchTokens (%d) is smaller than MaxSeqLen (%d)", cfg.BatchTokens, cfg.MaxSeqLen)
	}
	if cfg.Threads == 0 {
		cfg.Threads = min(runtime.NumCPU(), 8)
	}
	cfg.Targets = slices.Clone(cfg.Targets)
	t := &Trainer{cfg: cfg, basePath: basePath, hp: hp, pairAt: map[pairKey]*pair{}, gradOf: map[tensor]tensor{}}
	t.pcg = rand.NewPCG(cfg.Seed, 0x5eed10a)
	t.rng = rand.New(t.pcg)
	dev := strings.ToLower(cfg.Device)
	if dev != "" && dev != "auto" && dev != "cpu" && dev != "cuda" {
		dev = cfg.Device // an exact device name
	}
	if t.be, err = newBackend(cfg.Threads, t.graphSize(), dev, cfg.NoBLAS); err != nil {
		return nil, err
	}
	if !t.be.isCPU {
		// CUDA's OUT_PROD takes only F32 operands; layer by layer, only
		// one layer's F32 copies are on the device at a time.
		t.cfg.DequantBackward = true
		t.cfg.Checkpointing = true
	}
	if t.w, err = loadWeights(f, hp, t.be); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.makePairs(); err != nil {
		t.Close()
		return nil, err
	}
	t.initPairs()
	if err := t.makeTokenRows(); err != nil {
		t.Close()
		return nil, err
	}
	if t.cfg.DequantBackward && !t.cfg.Checkpointing && t.be.isCPU {
		if err := t.makeF32Copies(); err != nil {
			t.Close()
			return nil, err
		}
	}
	if err := t.reserve(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// makePairs creates the parameter, gradient and moment tensors.
func (t *Trainer) makePairs() error {
	for l := 0; l < t.hp.nLayer; l++ {
		for _, tg := range Targets {
			if !slices.Contains(t.cfg.Targets, tg) {
				continue
			}
			base := fmt.Sprintf("blk.%d.%s.weight", l, targetTensor[tg])
			w := t.w.t[base]
			r := t.cfg.Rank
			if tr, ok := t.cfg.TargetRanks[tg]; ok {
				r = tr
			}
			p := &pair{target: tg, layer: l, base: base, nIn: ne(w, 0), nOut: ne(w, 1), rank: r,
				scale: float32(t.cfg.Alpha / float64(r))}
			t.pairs = append(t.pairs, p)
			t.pairAt[pairKey{l, tg}] = p
		}
	}
	var err error
	n := len(t.pairs)
	if t.pctx, err = newCtx(2*n, 0); err != nil {
		return err
	}
	if t.gctxT, err = newCtx(2*n, 0); err != nil {
		return err
	}
	if t.mctx, err = newCtx(4*n+1, 0); err != nil {
		return err
	}
	for _, p := range t.pairs {
		p.a = t.pctx.new2(C.GGML_TYPE_F32, p.nIn, p.rank)
		p.b = t.pctx.new2(C.GGML_TYPE_F32, p.rank, p.nOut)
		setName(p.a, p.base+".lora_a")
		setName(p.b, p.base+".lora_b")
		C.ggml_set_param(p.a)
		C.ggml_set_param(p.b)
		p.ga = t.gctxT.new2(C.GGML_TYPE_F32, p.nIn, p.rank)
		p.gb = t.gctxT.new2(C.GGML_TYPE_F32, p.rank, p.nOut)
		p.ma = t.mctx.new2(C.GGML_TYPE_F32, p.nIn, p.rank)
		p.va = t.mctx.new2(C.GGML_TYPE_F32, p.nIn, p.rank)
		p.mb = t.mctx.new2(C.GGML_TYPE_F32, p.rank, p.nOut)
		p.vb = t.mctx.new2(C.GGML_TYPE_F32, p.rank, p.nOut)
		t.gradOf[p.a] = p.ga
		t.gradOf[p.b] = p.gb
	}
	t.lossGrad = t.mctx.new1(C.GGML_TYPE_F32, 1)
	setName(t.lossGrad, "loss_grad")
	if t.pbuf, err = t.be.alloc(t.pctx); err != nil {
		return err
	}
	if t.gbuf, err = t.be.alloc(t.gctxT); err != nil {
		return err
	}
	if t.mbuf, err = t.be.alloc(t.mctx); err != nil {
		return err
	}
	C.ggml_backend_buffer_clear(t.gbuf, 0)
	C.ggml_backend_buffer_clear(t.mbuf, 0)
	setF32(t.lossGrad, []float32{1})
	return nil
}

// initPairs sets A ~ U(-1/√n_in, 1/√n_in) (PEFT's kaiming_uniform_ with
// a=√5) and B = 0.
func (t *Trainer) initPairs() {
	for _, p := range t.pairs {
		bound := 1 / math.Sqrt(float64(p.nIn))
		a := make([]float32, p.nIn*p.rank)
		for i := range a {
			a[i] = float32((2*t.rng.Float64() - 1) * bound)
		}
		setF32(p.a, a)
		setF32(p.b, make([]float32, p.rank*p.nOut))
	}
}

// Close frees everything. The Trainer is unusable afterwards.
func (t *Trainer) Close() error {
	if t == nil {
		return nil
	}
	freeBuffer(t.pbuf)
	freeBuffer(t.gbuf)
	freeBuffer(t.mbuf)
	t.pbuf, t.gbuf, t.mbuf = nil, nil, nil
	t.pctx.free()
	t.gctxT.free()
	t.mctx.free()
	t.rows.free()
	t.rows = nil
	t.f32.free()
	t.f32 = nil
	t.w.free()
	t.w = nil
	t.be.free()
	t.be = nil
	return nil
}

// TrainTokens are the token ids whose rows are trained (sorted), and
// whether the output matrix is the embedding (one delta serves both).
func (t *Trainer) TrainTokens() (ids []int32, tied bool) {
	if t.rows == nil {
		return nil, t.w != nil && t.w.t["output.weight"] == nil
	}
	return slices.Clone(t.rows.ids), t.rows.tied
}

// Device is the name of the ggml device the graphs run on ("CPU",
// "CUDA0", ...).
func (t *Trainer) Device() string {
	if t.be == nil {
		return ""
	}
	return t.be.name
}

// BLAS reports whether the graphs' large products run on the BLAS
// library (llama.BLAS names it).
func (t *Trainer) BLAS() bool { return t.be != nil && t.be.accel != nil }

// Config returns the configuration with defaults filled in.
func (t *Trainer) Config() Config { return t.cfg }

// StepCount is the number of optimizer steps taken.
func (t *Trainer) StepCount() int { return t.step }

// Cursor is the number of rows passed to Step so far (restored by
// LoadCheckpoint), for callers that resume their data stream.
func (t *Trainer) Cursor() int64 { return t.cursor }

// Rand is a random source whose state is saved in checkpoints, for the
// caller's shuffling and sampling.
func (t *Trainer) Rand() *rand.Rand { return t.rng }

// VocabSize is the base model's vocabulary size.
func (t *Trainer) VocabSize() int { return t.hp.nVocab }

// Architecture is the base model's general.architecture.
func (t *Trainer) Architecture() string { return t.hp.arch }

// NumParams is the number of trainable values.
func (t *Trainer) NumParams() int {
	n := 0
	for _, p := range t.pairs {
		n += p.rank * (p.nIn + p.nOut)
	}
	if r := t.rows; r != nil {
		k := len(r.ids) * t.hp.nEmbd
		n += k
		if !r.tied {
			n += k
		}
	}
	return n
}

func (t *Trainer) warnf(format string, args ...any) {
	if t.cfg.Logf != nil {
		t.cfg.Logf(format, args...)
	}
}

// pack validates rows, truncates long ones and packs them into micro-batches.
// Rows without labelled tokens are dropped (they cannot change the loss).
func (t *Trainer) pack(rows []Row) (batches []*batch, nLabels, nInputs, truncated int, err error) {
	maxLen, budget := t.cfg.MaxSeqLen, t.cfg.BatchTokens
	var cur *batch
	rowID := int32(0)
	for ri, r := range rows {
		if len(r.Loss) != len(r.Tokens) {
			return nil, 0, 0, 0, fmt.Errorf("lora: row %d has %d tokens but %d loss flags", ri, len(r.Tokens), len(r.Loss))
		}
		for i, id := range r.Tokens {
			if id < 0 || int(id) >= t.hp.nVocab {
				return nil, 0, 0, 0, fmt.Errorf("lora: row %d token %d: id %d is outside the vocabulary (%d)", ri, i, id, t.hp.nVocab)
			}
		}
		toks, loss := r.Tokens, r.Loss
		if len(toks) > maxLen {
			t.warnf("lora: row %d has %d tokens; truncated to %d", ri, len(toks), maxLen)
			toks, loss = toks[:maxLen], loss[:maxLen]
			truncated++
		}
		nl := 0
		for i := 1; i < len(toks); i++ {
			if loss[i] {
				nl++
			}
		}
		if nl == 0 {
			continue
		}
		if cur == nil || cur.n()+len(toks) > budget {
			cur = &batch{}
			batches = append(batches, cur)
		}
		off := int32(cur.n())
		for i, id := range toks {
			cur.ids = append(cur.ids, id)
			cur.pos = append(cur.pos, int32(i))
			cur.rowOf = append(cur.rowOf, rowID)
			if i > 0 && loss[i] {
				cur.outIdx = append(cur.outIdx, off+int32(i-1))
				cur.labels = append(cur.labels, id)
			}
		}
		rowID++
		nLabels += nl
		nInputs += len(toks)
	}
	return batches, nLabels, nInputs, truncated, nil
}

// lrAt is the learning rate of optimizer step s (0-based).
func (t *Trainer) lrAt(s int) float64 {
	c := &t.cfg
	if s < c.WarmupSteps {
		return c.LR * float64(s+1) / float64(c.WarmupSteps)
	}
	if c.Schedule == "constant" {
		return c.LR
	}
	p := float64(s-c.WarmupSteps) / float64(c.TotalSteps-c.WarmupSteps)
	p = min(max(p, 0), 1)
	var f float64
	if c.Schedule == "linear" {
		f = 1 - p
	} else {
		f = 0.5 * (1 + math.Cos(math.Pi*p))
	}
	return c.LR * (c.MinLRRatio + (1-c.MinLRRatio)*f)
}

// Step runs one optimizer step on rows: the loss is the mean cross-entropy
// over all their labelled tokens (micro-batches accumulate summed token
// losses divided by the step's labelled-token count). A step whose rows
// have no labelled token changes nothing and is not counted.
func (t *Trainer) Step(rows []Row) (StepResult, error) {
	if t.be == nil {
		return StepResult{}, errors.New("lora: trainer is closed")
	}
	batches, nl, ni, trunc, err := t.pack(rows)
	if err != nil {
		return StepResult{}, err
	}
	res := StepResult{Step: t.step, Tokens: nl, Inputs: ni, Truncated: trunc}
	t.cursor += int64(len(rows))
	if nl == 0 {
		res.Skipped = true
		return res, nil
	}
	if err := t.accumulate(batches, nl, &res.Loss); err != nil {
		return res, err
	}
	res.LR = t.lrAt(t.step)
	if res.GradNorm, err = t.optimize(res.LR); err != nil {
		return res, err
	}
	t.step++
	res.Step = t.step
	return res, nil
}

// Gradient computes the loss of rows (as Step does: the mean cross-entropy
// over their labelled tokens) and its gradient with respect to every LoRA
// factor, keyed by the factor's tensor name (blk.N.attn_q.weight.lora_a, in
// llama.cpp's layout: lora_a [n_in, r], lora_b [r, n_out]), without
// updating anything.
func (t *Trainer) Gradient(rows []Row) (float64, map[string][]float32, error) {
	if t.be == nil {
		return 0, nil, errors.New("lora: trainer is closed")
	}
	batches, nl, _, _, err := t.pack(rows)
	if err != nil {
		return 0, nil, err
	}
	if nl == 0 {
		return 0, nil, errors.New("lora: no labelled token in the rows")
	}
	var loss float64
	if err := t.accumulate(batches, nl, &loss); err != nil {
		return 0, nil, err
	}
	out := map[string][]float32{}
	for _, p := range t.pairs {
		out[p.base+".lora_a"] = getF32(p.ga)
		out[p.base+".lora_b"] = getF32(p.gb)
	}
	if r := t.rows; r != nil {
		out[TokenRowsIn] = getF32(r.gin)
		if !r.tied {
			out[TokenRowsOut] = getF32(r.gout)
		}
	}
	t.clearGrads()
	return loss, out, nil
}

// accumulate zeroes the gradients and adds those of every micro-batch.
func (t *Trainer) accumulate(batches []*batch, nl int, loss *float64) error {
	t.clearGrads()
	for _, mb := range batches {
		l, _, err := t.runBatch(mb, modeTrain, nl)
		if err != nil {
			return err
		}
		*loss += l
	}
	return nil
}

// clearGrads zeroes every gradient accumulator.
func (t *Trainer) clearGrads() {
	C.ggml_backend_buffer_clear(t.gbuf, 0)
	if r := t.rows; r != nil {
		clearTensor(r.gin)
		if !r.tied {
			clearTensor(r.gout)
		}
	}
}

// paramSets lists every trainable tensor with its gradient accumulator and
// AdamW moments.
func (t *Trainer) paramSets() [][4]tensor {
	var ps [][4]tensor
	for _, p := range t.pairs {
		ps = append(ps, [4]tensor{p.a, p.ga, p.ma, p.va}, [4]tensor{p.b, p.gb, p.mb, p.vb})
	}
	if r := t.rows; r != nil {
		ps = append(ps, [4]tensor{r.in, r.gin, r.min, r.vin})
		if !r.tied {
			ps = append(ps, [4]tensor{r.out, r.gout, r.mout, r.vout})
		}
	}
	return ps
}

// optimize clips the accumulated gradients to ClipNorm and applies one AdamW
// step; it returns the gradient norm before clipping.
func (t *Trainer) optimize(lr float64) (float64, error) {
	ps := t.paramSets()
	size := 8*len(ps) + 64
	g, err := newCtx(4*size, size)
	if err != nil {
		return 0, err
	}
	defer g.free()
	c := g.c
	par := g.new1(C.GGML_TYPE_F32, 7)
	setName(par, "adamw_params")
	C.ggml_set_input(par)
	clip := g.new1(C.GGML_TYPE_F32, 1)
	setName(clip, "clip")
	C.ggml_set_input(clip)

	var sumsq tensor
	for _, q := range ps {
		s := C.ggml_sum(c, C.ggml_sqr(c, q[1]))
		if sumsq == nil {
			sumsq = s
		} else {
			sumsq = C.ggml_add(c, sumsq, s)
		}
	}
	norm := C.ggml_sqrt(c, sumsq)
	setName(norm, "grad_norm")
	C.ggml_set_output(norm)
	gf := C.ggml_new_graph_custom(c, C.size_t(size), false)
	C.ggml_build_forward_expand(gf, norm)
	var factor tensor
	if t.cfg.ClipNorm > 0 {
		factor = C.ggml_clamp(c, C.ggml_div(c, clip, norm), -C.float(math.MaxFloat32), 1)
	}
	for _, q := range ps {
		gr := q[1]
		if factor != nil {
			gr = C.ggml_mul(c, gr, factor)
		}
		C.ggml_build_forward_expand(gf, C.ggml_opt_step_adamw(c, q[0], gr, q[2], q[3], par))
	}
	cfg := &t.cfg
	it := float64(t.step + 1)
	params := []float32{
		float32(lr), float32(cfg.Beta1), float32(cfg.Beta2), float32(cfg.Eps), float32(cfg.WeightDecay),
		float32(1 / (1 - math.Pow(cfg.Beta1, it))), float32(1 / (1 - math.Pow(cfg.Beta2, it))),
	}
	err = t.be.run(gf, func() {
		setF32(par, params)
		setF32(clip, []float32{float32(cfg.ClipNorm)})
	})
	if err != nil {
		return 0, err
	}
	return float64(getF32(norm)[0]), nil
}

// Eval returns the mean cross-entropy over the labelled tokens of rows
// without changing anything.
func (t *Trainer) Eval(rows []Row) (float64, error) {
	if t.be == nil {
		return 0, errors.New("lora: trainer is closed")
	}
	batches, nl, _, _, err := t.pack(rows)
	if err != nil {
		return 0, err
	}
	if nl == 0 {
		return 0, errors.New("lora: Eval: no labelled tokens")
	}
	var loss float64
	for _, mb := range batches {
		l, _, err := t.runBatch(mb, modeEval, nl)
		if err != nil {
			return 0, err
		}
		loss += l
	}
	return loss, nil
}

// Logits returns the training graph's logits for one sequence with the
// current adapter: len(ids) rows of VocabSize values.
func (t *Trainer) Logits(ids []int32) ([]float32, error) {
	if t.be == nil {
		return nil, errors.New("lora: trainer is closed")
	}
	if len(ids) == 0 || len(ids) > t.cfg.BatchTokens {
		return nil, fmt.Errorf("lora: Logits needs 1 to %d tokens (got %d)", t.cfg.BatchTokens, len(ids))
	}
	mb := &batch{}
	for i, id := range ids {
		if id < 0 || int(id) >= t.hp.nVocab {
			return nil, fmt.Errorf("lora: token %d: id %d is outside the vocabulary (%d)", i, id, t.hp.nVocab)
		}
		mb.ids = append(mb.ids, id)
		mb.pos = append(mb.pos, int32(i))
		mb.rowOf = append(mb.rowOf, 0)
		mb.outIdx = append(mb.outIdx, int32(i))
	}
	_, lg, err := t.runBatch(mb, modeLogits, 1)
	return lg, err
}
