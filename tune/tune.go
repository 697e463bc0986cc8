package tune

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spectrumkit/spectrum/lora"
	"github.com/spectrumkit/spectrum/models"
)

// Options configure Run.
type Options struct {
	Base    string      // base model GGUF
	Rows    []Prepared  // training rows (PrepareRows)
	Trainer lora.Config // rank, alpha, targets, optimizer; TotalSteps and WarmupSteps are set by Run

	Epochs int // passes over Rows (default 1; ignored when MaxSteps > 0)
	// MaxSteps stops after this many optimizer steps (0: Epochs decide).
	MaxSteps int
	// An optimizer step takes GradAccum rows when > 0, else rows until their
	// tokens reach BatchTokens (at least one row).
	GradAccum   int
	BatchTokens int
	Warmup      float64 // warmup as a fraction of the steps (e.g. 0.03)
	Seed        int64   // order of rows in each epoch

	// EvalEvery runs Evaluate every so many steps (0: only at the end).
	EvalEvery int
	// Evaluate scores the adapter written at path (held-out tasks); its
	// metrics are logged and returned.
	Evaluate func(ctx context.Context, adapterPath string) (map[string]float64, error)

	// CheckpointDir holds checkpoint.gguf and train-log.jsonl; "" puts them
	// beside Output.
	CheckpointDir string
	// CheckpointEvery saves a checkpoint every so many steps (0: at each
	// evaluation and at the end or interruption only).
	CheckpointEvery int
	// Resume continues from CheckpointDir's checkpoint.
	Resume bool
	Output string // adapter GGUF

	// Metadata is written into the adapter as spectrum.* keys (format,
	// tasks, …); Run adds the base model, hyper-parameters and steps.
	Metadata map[string]string
	// Progress, if set, is called after every step.
	Progress func(p Progress)
	// Logf receives log lines.
	Logf func(format string, args ...any)
}

// Progress reports one step of Run.
type Progress struct {
	Step, TotalSteps int
	Result           lora.StepResult
	TokensPerSec     float64 // fed tokens per second over the run so far
	Elapsed          time.Duration
}

// Summary is what Run did.
type Summary struct {
	Steps       int                `json:"steps"`
	FirstLoss   float64            `json:"first_loss"`
	LastLoss    float64            `json:"last_loss"`
	Tokens      int                `json:"tokens"`
	Seconds     float64            `json:"seconds"`
	TokensPerS  float64            `json:"tokens_per_s"`
	Eval        map[string]float64 `json:"eval,omitempty"`
	Interrupted bool               `json:"interrupted,omitempty"`
	Adapter     string             `json:"adapter,omitempty"`
}

// ErrInterrupted is returned (with a checkpoint saved) when ctx ends the run.
var ErrInterrupted = errors.New("tune: interrupted; a checkpoint was saved, continue with --resume")

// plan splits a row order into optimizer steps.
func (o *Options) plan(order []int) [][]int {
	var steps [][]int
	var cur []int
	tokens := 0
	for _, i := range order {
		cur = append(cur, i)
		tokens += len(o.Rows[i].Tokens)
		if (o.GradAccum > 0 && len(cur) == o.GradAccum) || (o.GradAccum <= 0 && tokens >= o.BatchTokens) {
			steps = append(steps, cur)
			cur, tokens = nil, 0
		}
	}
	if len(cur) > 0 {
		steps = append(steps, cur)
	}
	return steps
}

// epochOrder is the row order of an epoch: a permutation fixed by the seed,
// so that a resumed run sees the same order.
func (o *Options) epochOrder(epoch int) []int {
	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(epoch)+1))
	return rng.Perm(len(o.Rows))
}

func (o *Options) validate() error {
	switch {
	case o.Base == "":
		return errors.New("tune: no base model")
	case o.Output == "":
		return errors.New("tune: no output path for the adapter")
	case len(o.Rows) == 0:
		return errors.New("tune: no training rows (every row was dropped, or no task was given)")
	case o.Epochs < 0 || o.MaxSteps < 0 || o.GradAccum < 0 || o.BatchTokens < 0 || o.EvalEvery < 0 || o.CheckpointEvery < 0:
		return errors.New("tune: epochs, steps, batch sizes and intervals must be ≥ 0")
	case o.GradAccum == 0 && o.BatchTokens == 0:
		return errors.New("tune: give a batch size in rows (grad-accum) or tokens (batch-tokens)")
	case o.Warmup < 0 || o.Warmup >= 1:
		return fmt.Errorf("tune: warmup fraction must be in [0, 1), got %g", o.Warmup)
	}
	if abs, err := filepath.Abs(o.Output); err == nil {
		if b, err := filepath.Abs(o.Base); err == nil && abs == b {
			return errors.New("tune: the output adapter path is the base model")
		}
	}
	return nil
}

// Run trains the adapter and writes it to o.Output.
func Run(ctx context.Context, o Options) (Summary, error) {
	var sum Summary
	if err := o.validate(); err != nil {
		return sum, err
	}
	if o.Epochs == 0 {
		o.Epochs = 1
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir := o.CheckpointDir
	if dir == "" {
		dir = filepath.Dir(o.Output)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sum, err
	}
	ckpt := filepath.Join(dir, "checkpoint.gguf")

	perEpoch := o.plan(o.epochOrder(0))
	total := len(perEpoch) * o.Epochs
	if o.MaxSteps > 0 {
		total = o.MaxSteps
	}
	cfg := o.Trainer
	cfg.TotalSteps = total
	cfg.WarmupSteps = int(o.Warmup * float64(total))
	if cfg.Logf == nil {
		cfg.Logf = logf
	}
	tr, err := lora.NewTrainer(o.Base, cfg)
	if err != nil {
		return sum, err
	}
	defer tr.Close()
	if o.Resume {
		if err := tr.LoadCheckpoint(ckpt); err != nil {
			return sum, fmt.Errorf("tune: resuming: %w", err)
		}
		logf("resumed at step %d (%d rows seen) from %s", tr.StepCount(), tr.Cursor(), ckpt)
	}
	logPath := filepath.Join(dir, "train-log.jsonl")
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.Resume {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	lf, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return sum, err
	}
	defer lf.Close()
	logEnc := json.NewEncoder(lf)

	start := time.Now()
	fed := 0
	evaluate := func(step int) error {
		if o.Evaluate == nil {
			return nil
		}
		tmp := filepath.Join(dir, fmt.Sprintf(".eval-step%d.gguf", step))
		defer os.Remove(tmp)
		if err := tr.ExportAdapter(tmp); err != nil {
			return err
		}
		m, err := o.Evaluate(ctx, tmp)
		if err != nil {
			return err
		}
		sum.Eval = m
		logf("step %d: eval %v", step, m)
		return logEnc.Encode(map[string]any{"step": step, "eval": m, "elapsed_s": time.Since(start).Seconds()})
	}
	save := func() error {
		if err := tr.SaveCheckpoint(ckpt); err != nil {
			return err
		}
		logf("checkpoint: %s (step %d)", ckpt, tr.StepCount())
		return nil
	}

	// Steps are numbered over the whole run; a resumed run skips the rows
	// its checkpoint already saw.
	cursor := int(tr.Cursor())
	seen := 0
	for epoch := 0; epoch < o.Epochs || o.MaxSteps > 0; epoch++ {
		plan := perEpoch
		if epoch > 0 {
			plan = o.plan(o.epochOrder(epoch))
		}
		for _, idx := range plan {
			if o.MaxSteps > 0 && tr.StepCount() >= o.MaxSteps {
				goto done
			}
			if seen+len(idx) <= cursor {
				seen += len(idx)
				continue
			}
			seen += len(idx)
			if ctx.Err() != nil {
				sum.Interrupted = true
				if err := save(); err != nil {
					return sum, err
				}
				return sum, ErrInterrupted
			}
			rows := make([]lora.Row, len(idx))
			for k, i := range idx {
				rows[k] = o.Rows[i].Row
			}
			res, err := tr.Step(rows)
			if err != nil {
				return sum, err
			}
			fed += res.Inputs
			if sum.Steps == 0 {
				sum.FirstLoss = res.Loss
			}
			sum.Steps++
			sum.LastLoss = res.Loss
			sum.Tokens += res.Inputs
			tps := float64(fed) / time.Since(start).Seconds()
			if err := logEnc.Encode(map[string]any{
				"step": res.Step, "epoch": epoch, "lr": res.LR, "loss": res.Loss, "labelled": res.Tokens,
				"tokens": res.Inputs, "tokens_per_s": tps, "grad_norm": res.GradNorm, "elapsed_s": time.Since(start).Seconds(),
			}); err != nil {
				return sum, err
			}
			if o.Progress != nil {
				o.Progress(Progress{Step: res.Step, TotalSteps: total, Result: res, TokensPerSec: tps, Elapsed: time.Since(start)})
			}
			if o.EvalEvery > 0 && res.Step%o.EvalEvery == 0 && res.Step < total {
				if err := evaluate(res.Step); err != nil {
					return sum, err
				}
				if err := save(); err != nil {
					return sum, err
				}
			} else if o.CheckpointEvery > 0 && res.Step%o.CheckpointEvery == 0 {
				if err := save(); err != nil {
					return sum, err
				}
			}
		}
		if o.MaxSteps > 0 && len(perEpoch) == 0 {
			break
		}
	}
done:
	if err := save(); err != nil {
		return sum, err
	}
	if err := writeAdapter(tr, o, sum); err != nil {
		return sum, err
	}
	sum.Adapter = o.Output
	if err := evaluate(tr.StepCount()); err != nil {
		return sum, err
	}
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.TokensPerS = float64(sum.Tokens) / sum.Seconds
	}
	return sum, nil
}

// writeAdapter exports the adapter and rewrites it with spectrum.* metadata
// (base model name and hash, hyper-parameters, steps, and o.Metadata).
func writeAdapter(tr *lora.Trainer, o Options, sum Summary) error {
	tmp := o.Output + ".export.tmp"
	defer os.Remove(tmp)
	if err := tr.ExportAdapter(tmp); err != nil {
		return err
	}
	f, err := models.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	w := models.NewWriter()
	if err := w.CopyMetadata(f, ""); err != nil {
		return err
	}
	cfg := tr.Config()
	meta := map[string]string{}
	for k, v := range o.Metadata {
		meta[k] = v
	}
	if info, err := models.ReadInfo(o.Base); err == nil {
		meta["base.name"] = info.Name
		meta["base.architecture"] = info.Architecture
	}
	h, err := fileSHA256(o.Base)
	if err != nil {
		return err
	}
	meta["base.sha256"] = h
	meta["base.file"] = filepath.Base(o.Base)
	hp, _ := json.Marshal(map[string]any{
		"rank": cfg.Rank, "alpha": cfg.Alpha, "targets": cfg.Targets, "lr": cfg.LR, "schedule": cfg.Schedule,
		"warmup_steps": cfg.WarmupSteps, "total_steps": cfg.TotalSteps, "weight_decay": cfg.WeightDecay,
		"clip_norm": cfg.ClipNorm, "max_seq_len": cfg.MaxSeqLen, "grad_accum": o.GradAccum, "batch_tokens": o.BatchTokens,
		"epochs": o.Epochs, "max_steps": o.MaxSteps, "seed": o.Seed,
	})
	meta["hyperparameters"] = string(hp)
	meta["steps"] = fmt.Sprint(tr.StepCount())
	meta["rows"] = fmt.Sprint(len(o.Rows))
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable file for the same training
	for _, k := range keys {
		if err := w.Set("spectrum."+k, meta[k]); err != nil {
			return err
		}
	}
	if err := w.CopyTensors(f, nil); err != nil {
		return err
	}
	w.Protect(o.Base)
	return w.WriteFile(o.Output)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
