package tune

// The whole of `spectrum tune` as a Go API: base model, tasks and rows in,
// adapter out, with the held-out evaluation.

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/lora"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

// Config is one Spectrum Tuning run (what the tune command's flags say).
type Config struct {
	Base   string // base model GGUF
	Output string // adapter GGUF

	Tasks           []string // built-in training tasks or BuiltinTrain (default BuiltinTrain unless RowsFiles)
	RowsFiles       []string // JSONL rows to train on as well
	RowsPerTask     int      // rows generated per built-in task (0: the task's default)
	DescriptionProb float64  // probability a row keeps its description (-1: the task's)
	Format          string   // auto, spectrum or colon ("": auto)
	MaxLength       int      // tokens per row
	Seed            int64    // rows, order and initialisation

	// Trainer holds rank, alpha, targets, learning rate, schedule, weight
	// decay, clipping, device and recomputation; Threads, MaxSeqLen, Seed
	// and DequantBackward are set from the fields here.
	Trainer lora.Config
	// Dequant is the backward pass through F32 copies: "auto", "on", "off".
	Dequant string

	Epochs, MaxSteps       int
	GradAccum, BatchTokens int
	Warmup                 float64

	// TrainTokens makes token rows trainable (lora.Config.TrainTokens):
	// "auto" the format's special tokens, "none" or "" none, or a
	// comma-separated list of token texts, each one token of the vocabulary.
	TrainTokens string

	EvalTasks []string // held-out tasks (none: no evaluation)
	EvalRows  int      // rows generated per held-out task
	EvalEvery int

	CheckpointDir      string
	CheckpointEvery    int
	SaveEvery          int // also write ADAPTER-stepN.gguf every N steps
	CheckpointInterval time.Duration
	Resume             bool
	ResumeExtend       bool

	Threads   int // 0: llama.AutoThreads
	GPULayers int

	Logf     func(format string, args ...any)
	Progress func(Progress)
	// Phases receives the held-out evaluation's progress (nil: none).
	Phases io.Writer
}

// CheckModel bounds the settings that depend on the base model: a LoRA rank
// above the narrowest adapted matrix adds parameters that cannot be used
// (and can exhaust memory), and rows longer than the model's context were
// never seen in pre-training.
func CheckModel(info *models.Info, rank, maxLength int) error {
	if info.Type != "" && info.Type != "model" {
		return fmt.Errorf("%s is a %s, not a base model", info.Path, info.Type)
	}
	if n := minAdaptedDim(info); n > 0 && rank > n {
		return fmt.Errorf("--rank %d is more than the narrowest adapted matrix of %s (%d): use at most %d", rank, info.Path, n, n)
	}
	if c := int(info.ContextLength); c > 0 && maxLength > c {
		return fmt.Errorf("--max-length %d is more than %s's context length (%d)", maxLength, info.Path, c)
	}
	return nil
}

// minAdaptedDim is the smallest dimension among the model's attention and
// feed-forward matrices (0 if unknown).
func minAdaptedDim(info *models.Info) int {
	n := int(info.EmbeddingLength)
	if info.HeadCount > 0 && info.HeadCountKV > 0 && info.EmbeddingLength > 0 {
		headDim := int(info.EmbeddingLength / info.HeadCount)
		if info.KeyLength > 0 {
			headDim = int(info.KeyLength)
		}
		n = min(n, headDim*int(info.HeadCountKV))
	}
	if info.FeedForwardLength > 0 {
		n = min(n, int(info.FeedForwardLength))
	}
	return n
}

// paths returns the Options of Run for c without rows or trainer (for
// checking its files before anything is loaded).
func (c *Config) paths() Options {
	return Options{Base: c.Base, Output: c.Output, CheckpointDir: c.CheckpointDir, Inputs: c.RowsFiles}
}

// CheckFiles checks, before any model is loaded, the base model against
// the settings (CheckModel) and the outputs against the inputs and each
// other, and that a resume has a checkpoint.
func (c *Config) CheckFiles() error {
	_, err := c.checkFiles()
	return err
}

// checkFiles is CheckFiles, returning the base model's info.
func (c *Config) checkFiles() (*models.Info, error) {
	info, err := models.ReadInfo(c.Base)
	if err != nil {
		return nil, err
	}
	if err := CheckModel(info, c.Trainer.Rank, c.MaxLength); err != nil {
		return nil, err
	}
	p := c.paths()
	if err := p.CheckOutputs(); err != nil {
		return nil, err
	}
	if c.Resume {
		_, ckpt, _ := p.Paths()
		if _, err := models.ReadInfo(ckpt); err != nil {
			return nil, fmt.Errorf("--resume: no readable checkpoint at %s (give the --checkpoint-dir of the run to continue): %w", ckpt, err)
		}
	}
	return info, nil
}

// Tune loads the base model, builds the training rows in its format, and
// runs Run with the held-out evaluation.
func Tune(ctx context.Context, c Config) (Summary, error) {
	logf := c.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	info, err := c.checkFiles()
	if err != nil {
		return Summary{}, err
	}
	m, err := llama.LoadModel(c.Base, llama.ModelParams{GPULayers: c.GPULayers})
	if err != nil {
		return Summary{}, err
	}
	defer m.Close()
	f, err := format.ForModel(cmpOr(c.Format, format.NameAuto), info.Family, m)
	if err != nil {
		return Summary{}, err
	}
	logf("format: %s", format.Describe(f))

	specs := c.Tasks
	if len(specs) == 0 && len(c.RowsFiles) == 0 {
		specs = []string{BuiltinTrain}
	}
	tasks, err := ResolveTasks(specs)
	if err != nil {
		return Summary{}, err
	}
	for _, t := range tasks {
		if t.Split == suite.SplitTest {
			return Summary{}, fmt.Errorf("task %s belongs to the test split (held out); it cannot be trained on", t.Name)
		}
	}
	var imported []suite.Row
	for _, p := range c.RowsFiles {
		rs, err := suite.ReadRowsFile(p)
		if err != nil {
			return Summary{}, err
		}
		for _, r := range rs {
			if suite.IsTest(r.Task) {
				return Summary{}, fmt.Errorf("%s: task %s belongs to the test split; it cannot be trained on", p, r.Task)
			}
		}
		imported = append(imported, rs...)
	}
	rows, st, err := PrepareRows(m, f, tasks, imported, RowOptions{Seed: c.Seed, RowsPerTask: c.RowsPerTask, MaxLength: c.MaxLength, DescriptionProb: c.DescriptionProb})
	if err != nil {
		return Summary{}, err
	}
	logf("training rows: %s", st)

	threads := c.Threads
	if threads == 0 {
		threads = llama.AutoThreads(m.NParams())
	}
	cfg := c.Trainer
	ids, texts, err := ResolveTrainTokens(c.TrainTokens, f, m)
	if err != nil {
		return Summary{}, err
	}
	if len(ids) > 0 {
		cfg.TrainTokens = ids
		logf("trainable token rows: %s", strings.Join(texts, " "))
	}
	cfg.MaxSeqLen = c.MaxLength
	cfg.Threads = threads
	cfg.Seed = uint64(c.Seed)
	switch c.Dequant {
	case "", "auto":
		cfg.DequantBackward = lora.AutoDequantBackward(m.NParams(), cfg.Checkpointing)
	case "on", "off":
		cfg.DequantBackward = c.Dequant == "on"
	default:
		return Summary{}, fmt.Errorf("tune: dequantized backward must be auto, on or off, got %q", c.Dequant)
	}
	logf("backward pass: dequantized F32 copies %v, recompute %v", cfg.DequantBackward, cfg.Checkpointing)

	var taskNames []string
	for _, t := range tasks {
		taskNames = append(taskNames, t.Name)
	}
	for _, p := range c.RowsFiles {
		taskNames = append(taskNames, "rows:"+p)
	}
	evaluate, err := SteerEvaluator(m, f, SteerEvalOptions{Tasks: c.EvalTasks, Rows: c.EvalRows, Seed: c.Seed, MaxLength: c.MaxLength, Threads: threads, Progress: c.Phases})
	if err != nil {
		return Summary{}, err
	}
	return Run(ctx, Options{
		Base: c.Base, Rows: rows, Trainer: cfg, Epochs: c.Epochs, MaxSteps: c.MaxSteps,
		GradAccum: c.GradAccum, BatchTokens: c.BatchTokens, Warmup: c.Warmup, Seed: c.Seed,
		EvalEvery: c.EvalEvery, Evaluate: evaluate, CheckpointDir: c.CheckpointDir, CheckpointEvery: c.CheckpointEvery, SaveEvery: c.SaveEvery,
		CheckpointInterval: c.CheckpointInterval, Resume: c.Resume, ResumeExtend: c.ResumeExtend,
		Output: c.Output, Inputs: c.RowsFiles,
		Metadata: map[string]string{"format": format.Describe(f), "tasks": strings.Join(taskNames, ","), "eval_tasks": strings.Join(c.EvalTasks, ","),
			"train_tokens": strings.Join(texts, " ")},
		Logf: logf, Progress: c.Progress,
	})
}

// ResolveTrainTokens turns a --train-tokens value into token ids and their
// texts: "auto" is the format's special tokens (the spectrum format's turn
// tokens; an error for a format without any), "none" or "" nothing, and
// otherwise a comma-separated list of token texts, each of which must be one
// token of m's vocabulary.
func ResolveTrainTokens(spec string, f format.Format, m *llama.Model) ([]int32, []string, error) {
	var texts []string
	switch spec {
	case "", "none":
		return nil, nil, nil
	case "auto":
		rt, ok := f.(interface{ RequiredTokens() []string })
		if ok {
			texts = rt.RequiredTokens()
		}
		if len(texts) == 0 {
			return nil, nil, fmt.Errorf("--train-tokens auto: the %s format has no special tokens; list the tokens to train", f.Name())
		}
	default:
		for _, t := range strings.Split(spec, ",") {
			if t == "" {
				return nil, nil, fmt.Errorf("--train-tokens %q: an empty token", spec)
			}
			texts = append(texts, t)
		}
	}
	ids := make([]int32, 0, len(texts))
	for _, t := range texts {
		id, ok := m.TokenID(t)
		if !ok {
			return nil, nil, fmt.Errorf("--train-tokens: %q is not one token of the model's vocabulary", t)
		}
		if slices.Contains(ids, int32(id)) {
			return nil, nil, fmt.Errorf("--train-tokens: %q is given twice", t)
		}
		ids = append(ids, int32(id))
	}
	return ids, texts, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// SteerEvalOptions configure SteerEvaluator.
type SteerEvalOptions struct {
	Tasks     []string  // held-out tasks (empty or "none": no evaluation)
	Rows      int       // rows generated per task
	Seed      int64     // the run's seed (the rows use a seed apart from training's)
	MaxLength int       // tokens rows are cut to when choosing k
	Threads   int       // CPU threads
	Progress  io.Writer // phase lines (nil: none)
}

// SteerEvaluator returns tune's held-out steerability evaluation (nil when
// no task is given): the tasks' rows are generated once and scored by
// llama.cpp with each adapter; metrics are the means over tasks of
// loss_geq_1 and all_acc_geq_1, plus per-task values.
func SteerEvaluator(m *llama.Model, f format.Format, o SteerEvalOptions) (func(context.Context, string) (map[string]float64, error), error) {
	if len(o.Tasks) == 0 || (len(o.Tasks) == 1 && (o.Tasks[0] == "none" || o.Tasks[0] == "")) {
		return nil, nil
	}
	tasks, err := ResolveTasks(o.Tasks)
	if err != nil {
		return nil, err
	}
	var prepared []*eval.SteerTask
	for i, t := range tasks {
		rows, err := t.Generate(o.Seed+7_000_001+int64(i), o.Rows)
		if err != nil {
			return nil, err
		}
		st, err := eval.PrepareSteer(f, m, t.Name, rows, eval.SteerOptions{Seed: uint64(o.Seed), SelectMaxLen: o.MaxLength})
		if err != nil {
			return nil, fmt.Errorf("held-out task %s: %w", t.Name, err)
		}
		prepared = append(prepared, st)
	}
	return func(ctx context.Context, adapter string) (map[string]float64, error) {
		if o.Progress != nil && progress.IsTerminal(o.Progress) {
			fmt.Fprintln(o.Progress) // below the training bar
		}
		end := progress.Phase(o.Progress, fmt.Sprintf("held-out evaluation (%d tasks)", len(prepared)), o.Progress == nil)
		defer end()
		model, ads := m, []sample.AdapterSpec{{Path: adapter, Scale: 1}}
		if tied, err := hasTiedTokenRows(adapter); err != nil {
			return nil, err
		} else if tied {
			// llama.cpp cannot load token rows of a tied embedding: score the
			// adapter merged into an F16 copy of the base instead.
			merged, err := mergeTemp(m.Path(), adapter)
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(filepath.Dir(merged))
			if model, err = llama.LoadModel(merged, llama.ModelParams{}); err != nil {
				return nil, err
			}
			defer model.Close()
			ads = nil
		}
		s, err := eval.NewScorer(model, eval.ScorerOptions{Threads: o.Threads, Adapters: ads})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		out := map[string]float64{}
		var loss, acc []float64
		for _, st := range prepared {
			res, _, err := eval.EvalSteer(ctx, s, st, nil)
			if err != nil {
				return nil, err
			}
			if !math.IsNaN(float64(res.LossGeq1)) { // JSON has no NaN: tasks without scored outputs are left out
				out[st.Task+"/loss_geq_1"] = float64(res.LossGeq1)
				out[st.Task+"/all_acc_geq_1"] = float64(res.AllAccGeq1)
				loss = append(loss, float64(res.LossGeq1))
				acc = append(acc, float64(res.AllAccGeq1))
			}
		}
		if len(loss) > 0 {
			out["loss_geq_1"], out["all_acc_geq_1"] = mean(loss), mean(acc)
		}
		return out, nil
	}, nil
}

// hasTiedTokenRows reports whether an adapter carries token rows of a tied
// embedding (models.TensorTokenRows).
func hasTiedTokenRows(adapter string) (bool, error) {
	f, err := models.Open(adapter)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return models.HasTokenRows(f), nil
}

// mergeTemp merges adapter into base as a temporary F16 model beside the
// adapter and returns its path.
func mergeTemp(base, adapter string) (string, error) {
	dir, err := os.MkdirTemp(filepath.Dir(adapter), ".merged-*")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "merged.gguf")
	if _, err := models.Merge(base, out, models.MergeOptions{Adapters: []models.MergeAdapter{{Path: adapter, Scale: 1}}, Type: models.TypeF16}); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return out, nil
}

func mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
