package tune

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/record"
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
	// SaveEvery also writes the adapter as it stands every so many steps,
	// beside Output with the step in its name (adapter-step64.gguf), for
	// learning curves: each is a complete adapter with its metadata.
	SaveEvery int
	// CheckpointInterval also saves a checkpoint after any step that ends
	// this long after the last save (0: off), so that a kill -9 or a power
	// cut loses at most that much training. The CLI's default is 10 minutes.
	CheckpointInterval time.Duration
	// Resume continues from CheckpointDir's checkpoint. The checkpoint's
	// run record (base sha256, rows sha256, every hyper-parameter that
	// changes the result) must match this run's; Run refuses a mismatch and
	// lists the differences.
	Resume bool
	// ResumeExtend lets a resumed run change Epochs and MaxSteps (to train
	// longer; the schedule is recomputed for the new total).
	ResumeExtend bool
	Output       string // adapter GGUF
	// Inputs are files the run was built from (--rows files); no output may
	// be one of them.
	Inputs []string

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

// Summary is what Run did over the whole run: a resumed run's summary
// counts the steps, tokens and time before the interruption too (read back
// from the training log).
type Summary struct {
	Steps         int                `json:"steps"`
	FirstLoss     float64            `json:"first_loss"`
	LastLoss      float64            `json:"last_loss"`
	Tokens        int                `json:"tokens"`
	Seconds       float64            `json:"seconds"`
	TokensPerS    float64            `json:"tokens_per_s"`
	Eval          map[string]float64 `json:"eval,omitempty"`
	ResumedAt     int                `json:"resumed_at_step,omitempty"`
	Interrupted   bool               `json:"interrupted,omitempty"`
	InterruptedAt int                `json:"interrupted_at_step,omitempty"`
	Checkpoint    string             `json:"checkpoint,omitempty"`
	Adapter       string             `json:"adapter,omitempty"`
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
	case o.Epochs < 0 || o.MaxSteps < 0 || o.GradAccum < 0 || o.BatchTokens < 0 || o.EvalEvery < 0 || o.CheckpointEvery < 0 || o.SaveEvery < 0:
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

// Paths are the files Run writes: the adapter, the checkpoint and the
// training log.
func (o *Options) Paths() (adapter, checkpoint, trainLog string) {
	dir := o.CheckpointDir
	if dir == "" {
		dir = filepath.Dir(o.Output)
	}
	return o.Output, filepath.Join(dir, "checkpoint.gguf"), filepath.Join(dir, "train-log.jsonl")
}

// CheckOutputs verifies that Run can write its three files, that they are
// distinct and that none of them is the base model or an input: callers run
// it before loading anything, Run runs it again.
func (o *Options) CheckOutputs() error {
	a, c, l := o.Paths()
	type named struct{ what, path string }
	outs := []named{{"the adapter (-o)", a}, {"the checkpoint", c}, {"the training log", l}}
	ins := []named{{"the base model", o.Base}}
	for _, p := range o.Inputs {
		ins = append(ins, named{"the rows file", p})
	}
	for i, out := range outs {
		for _, other := range outs[i+1:] {
			if outfile.SameFile(out.path, other.path) {
				return fmt.Errorf("tune: %s and %s would both be %s; choose another -o or --checkpoint-dir", out.what, other.what, out.path)
			}
		}
		for _, in := range ins {
			if outfile.SameFile(out.path, in.path) {
				return fmt.Errorf("tune: %s would overwrite %s %s; choose another -o or --checkpoint-dir", out.what, in.what, in.path)
			}
		}
	}
	if err := outfile.CheckOutputs([]string{a, c, l}, nil); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	return nil
}

// RunRecord is the record of the settings that change a run's result,
// stored in its checkpoints so that a resume can check that it continues
// the same run. baseSHA is the base model's sha256.
func (o *Options) RunRecord(baseSHA string, totalSteps int) map[string]string {
	h := sha256.New()
	var buf [4]byte
	for _, r := range o.Rows {
		io.WriteString(h, r.Task)
		h.Write([]byte{0})
		for k, t := range r.Tokens {
			binary.LittleEndian.PutUint32(buf[:], uint32(t))
			h.Write(buf[:])
			if r.Loss[k] {
				h.Write([]byte{1})
			} else {
				h.Write([]byte{0})
			}
		}
		h.Write([]byte{0xff})
	}
	c := o.Trainer
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return map[string]string{
		"base_sha256": baseSHA, "rows_sha256": hex.EncodeToString(h.Sum(nil)), "rows": strconv.Itoa(len(o.Rows)),
		"rank": strconv.Itoa(c.Rank), "alpha": g(c.Alpha), "targets": strings.Join(c.Targets, ","),
		"lr": g(c.LR), "schedule": c.Schedule, "warmup": g(o.Warmup), "weight_decay": g(c.WeightDecay),
		"clip": g(c.ClipNorm), "max_length": strconv.Itoa(c.MaxSeqLen), "grad_accum": strconv.Itoa(o.GradAccum),
		"batch_tokens": strconv.Itoa(o.BatchTokens), "seed": strconv.FormatInt(o.Seed, 10),
		"epochs": strconv.Itoa(o.Epochs), "max_steps": strconv.Itoa(o.MaxSteps), "total_steps": strconv.Itoa(totalSteps),
	}
}

// runKeyNames says what each run-record key is, in the words of the CLI.
var runKeyNames = map[string]string{
	"base_sha256":  "base model (sha256)",
	"rows_sha256":  "training rows (sha256 of their tokens and labels: tasks, --rows files, --rows-per-task, --format, --max-length, --description-prob, --seed)",
	"rows":         "number of training rows",
	"max_length":   "--max-length",
	"weight_decay": "--weight-decay",
	"grad_accum":   "--grad-accum",
	"batch_tokens": "--batch-tokens",
	"max_steps":    "--max-steps",
	"total_steps":  "total steps",
}

// extendKeys may differ on a resume with ResumeExtend.
var extendKeys = map[string]bool{"epochs": true, "max_steps": true, "total_steps": true}

// diffRun lists how a checkpoint's run record differs from this run's.
func diffRun(saved, now map[string]string, extend bool) []string {
	name := func(k string) string {
		if n := runKeyNames[k]; n != "" {
			return n
		}
		return "--" + k
	}
	return record.Diff(saved, now, "checkpoint", name, func(k string) bool { return extend && extendKeys[k] })
}

// logState is what a training log says about the run so far.
type logState struct {
	lines               [][]byte // the lines kept (steps ≤ the checkpoint's)
	steps, tokens       int
	firstLoss, lastLoss float64
	elapsed             float64
	evals               map[string]float64
}

// readLog reads the training log of a run being resumed at step, keeping
// the lines of steps up to it: a run killed after its last checkpoint
// logged steps that the resumed run will take again.
func readLog(path string, step int) (logState, error) {
	var st logState
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec struct {
			Step    *int               `json:"step"`
			Loss    *float64           `json:"loss"`
			Tokens  int                `json:"tokens"`
			Elapsed float64            `json:"elapsed_s"`
			Eval    map[string]float64 `json:"eval"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Step == nil {
			if n == bytes.Count(data, []byte("\n")) {
				break // a line cut off by a kill
			}
			return st, fmt.Errorf("%s:%d: not a training-log record", path, n+1)
		}
		if *rec.Step > step {
			continue
		}
		st.lines = append(st.lines, line)
		st.elapsed = max(st.elapsed, rec.Elapsed)
		if rec.Eval != nil {
			st.evals = rec.Eval
		}
		if rec.Loss != nil {
			if st.steps == 0 {
				st.firstLoss = *rec.Loss
			}
			st.steps++
			st.lastLoss = *rec.Loss
			st.tokens += rec.Tokens
		}
	}
	return st, nil
}

// Run trains the adapter and writes it to o.Output. When ctx ends (SIGINT,
// SIGTERM) it saves a checkpoint and returns the summary so far with
// ErrInterrupted.
func Run(ctx context.Context, o Options) (Summary, error) {
	var sum Summary
	if err := o.validate(); err != nil {
		return sum, err
	}
	if err := o.CheckOutputs(); err != nil {
		return sum, err
	}
	if o.Epochs == 0 {
		o.Epochs = 1
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	_, ckpt, logPath := o.Paths()
	dir := filepath.Dir(ckpt)

	perEpoch := o.plan(o.epochOrder(0))
	total := len(perEpoch) * o.Epochs
	if o.MaxSteps > 0 {
		total = o.MaxSteps
	}
	baseSHA, err := models.FileSHA256(o.Base)
	if err != nil {
		return sum, fmt.Errorf("tune: %w", err)
	}
	record := o.RunRecord(baseSHA, total)
	var prev logState
	if o.Resume {
		saved, step, err := lora.CheckpointRun(ckpt)
		if err != nil {
			return sum, fmt.Errorf("tune: resuming: %w", err)
		}
		if len(saved) == 0 {
			logf("warning: %s has no run record (an older version wrote it); its settings cannot be checked", ckpt)
		} else if d := diffRun(saved, record, o.ResumeExtend); len(d) > 0 {
			hint := ""
			if !o.ResumeExtend && slices.ContainsFunc(d, func(s string) bool {
				return strings.HasPrefix(s, "--epochs") || strings.HasPrefix(s, "--max-steps") || strings.HasPrefix(s, "total steps")
			}) {
				hint = "; to train longer than planned, add --resume-extend"
			}
			return sum, fmt.Errorf("tune: %s was saved by a different run; resuming would mix two runs:\n  %s\n(run the original command again with --resume, or start afresh without --resume%s)", ckpt, strings.Join(d, "\n  "), hint)
		}
		if prev, err = readLog(logPath, step); err != nil {
			return sum, fmt.Errorf("tune: resuming: %w", err)
		}
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
		sum.ResumedAt = tr.StepCount()
		logf("resumed at step %d (%d rows seen) from %s", tr.StepCount(), tr.Cursor(), ckpt)
		sum.Steps, sum.Tokens, sum.FirstLoss, sum.LastLoss, sum.Eval = prev.steps, prev.tokens, prev.firstLoss, prev.lastLoss, prev.evals
	}
	// The log is rewritten with the kept lines (atomically), then appended to.
	if err := outfile.Write(logPath, append([]string{o.Base}, o.Inputs...), nil, func(w io.Writer) error {
		for _, l := range prev.lines {
			if _, err := w.Write(append(l, '\n')); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return sum, fmt.Errorf("tune: %w", err)
	}
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return sum, err
	}
	defer lf.Close()
	logEnc := json.NewEncoder(lf)

	start := time.Now()
	elapsed := func() float64 { return prev.elapsed + time.Since(start).Seconds() }
	fed := 0
	evaluate := func(step int) error {
		if o.Evaluate == nil {
			return nil
		}
		tmp, remove, err := outfile.Temp(filepath.Join(dir, "eval.gguf"), ".gguf")
		if err != nil {
			return err
		}
		defer remove()
		if err := tr.ExportAdapter(tmp); err != nil {
			return err
		}
		m, err := o.Evaluate(ctx, tmp)
		if err != nil {
			return err
		}
		sum.Eval = m
		logf("step %d: eval %v", step, m)
		return logEnc.Encode(map[string]any{"step": step, "eval": m, "elapsed_s": elapsed()})
	}
	lastSave := time.Now()
	save := func() error {
		if err := tr.SaveCheckpointWith(ckpt, record); err != nil {
			return err
		}
		lastSave = time.Now()
		sum.Checkpoint = ckpt
		logf("checkpoint: %s (step %d)", ckpt, tr.StepCount())
		return nil
	}
	finish := func() {
		sum.Seconds = elapsed()
		if sum.Seconds > 0 {
			sum.TokensPerS = float64(sum.Tokens) / sum.Seconds
		}
	}
	// interrupted saves a checkpoint when ctx has ended; err is returned
	// unchanged otherwise.
	interrupted := func(err error) error {
		if ctx.Err() == nil {
			return err
		}
		sum.Interrupted, sum.InterruptedAt = true, tr.StepCount()
		finish()
		if serr := save(); serr != nil {
			return serr
		}
		return ErrInterrupted
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
				return sum, interrupted(nil)
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
				"tokens": res.Inputs, "tokens_per_s": tps, "grad_norm": res.GradNorm, "elapsed_s": elapsed(),
			}); err != nil {
				return sum, err
			}
			if o.Progress != nil {
				o.Progress(Progress{Step: res.Step, TotalSteps: total, Result: res, TokensPerSec: tps, Elapsed: time.Since(start)})
			}
			if o.SaveEvery > 0 && res.Step%o.SaveEvery == 0 && res.Step < total {
				if err := writeAdapter(tr, o, SnapshotPath(o.Output, res.Step), baseSHA); err != nil {
					return sum, err
				}
			}
			switch {
			case o.EvalEvery > 0 && res.Step%o.EvalEvery == 0 && res.Step < total:
				if err := evaluate(res.Step); err != nil {
					return sum, interrupted(err)
				}
				if err := save(); err != nil {
					return sum, err
				}
			case o.CheckpointEvery > 0 && res.Step%o.CheckpointEvery == 0,
				o.CheckpointInterval > 0 && time.Since(lastSave) >= o.CheckpointInterval:
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
	if err := writeAdapter(tr, o, o.Output, baseSHA); err != nil {
		return sum, err
	}
	sum.Adapter = o.Output
	if err := evaluate(tr.StepCount()); err != nil {
		return sum, interrupted(err)
	}
	finish()
	return sum, nil
}

// SnapshotPath is where SaveEvery writes the adapter after step:
// out.gguf becomes out-step64.gguf.
func SnapshotPath(out string, step int) string {
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s-step%d%s", strings.TrimSuffix(out, ext), step, ext)
}

// writeAdapter exports the adapter to path and rewrites it with spectrum.*
// metadata (base model name and hash, hyper-parameters, steps, and
// o.Metadata).
func writeAdapter(tr *lora.Trainer, o Options, path, baseSHA string) error {
	tmp, remove, err := outfile.Temp(path, ".gguf")
	if err != nil {
		return err
	}
	defer remove()
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
	meta["base.sha256"] = baseSHA
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
	w.Protect(append([]string{o.Base}, o.Inputs...)...)
	return w.WriteFile(path)
}
