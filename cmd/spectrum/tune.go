package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/lora"
	"github.com/spectrumkit/spectrum/tune"
)

func init() { register(newTuneCmd) }

type tuneFlags struct {
	tasks, rowsFiles, evalTasks     []string
	formatName, targets, out        string
	model                           string
	schedule, ckptDir               string
	rowsPerTask, evalRows           int
	maxLength, rank                 int
	alpha, lr, warmup, wd, clip     float64
	descProb                        float64
	epochs, maxSteps                int
	batchTokens, gradAccum          int
	evalEvery, ckptEvery, saveEvery int
	ckptMinutes                     float64
	resume, resumeExtend            bool
	checkpointing                   bool
	dequant, trainTokens            string
	seed                            int64
	device                          string
}

func newTuneCmd(g *globalOptions) *cobra.Command {
	o := &tuneFlags{}
	cmd := &cobra.Command{
		Use:   "tune BASE.gguf -o ADAPTER.gguf",
		Short: "Spectrum-tune a base model: train a LoRA adapter on Spectrum Suite rows",
		Long: `tune trains a LoRA adapter on the base model (F32, F16 or quantized GGUF) with
Spectrum Tuning: rows of the suite's train split (built-in offline tasks
and/or --rows JSONL files), rendered in the model's format with the reference's
rules (description kept with the task's probability, examples shuffled, loss
only on outputs and their end token, the first output unscored without a
description in the spectrum format, rows cut to --max-length, rows left with no
labelled token dropped), mixed by row count, one epoch by default.

Held-out steerability (loss_geq_1, all_acc_geq_1 on --eval-tasks) is measured
every --eval-every steps and at the end. The training log (JSONL) and
checkpoint.gguf go to --checkpoint-dir. A checkpoint is saved at each
evaluation, every --checkpoint-every steps, after any step that ends
--checkpoint-minutes (default 10) after the last save, at the end, and when
the run is stopped by Ctrl-C (SIGINT) or SIGTERM (kill, timeout, docker stop,
SLURM preemption): a kill -9 loses at most those minutes. The same command
with --resume continues with identical results; it refuses a checkpoint saved
by a different run (another base file, other rows or hyper-parameters) and
lists the differences (--resume-extend allows more --max-steps/--epochs). The adapter records its
base model (name, sha256), format, tasks and hyper-parameters as spectrum.*
metadata, and loads in llama.cpp (--lora).`,
		Example: `  spectrum tune ../shared/models/stories260K.gguf --tasks coinflip,poisson --rows-per-task 200 \
      --max-length 256 --rank 8 --lr 1e-3 --eval-tasks negative_binomial -o adapter.gguf
  spectrum tune base.gguf --tasks builtin-train --rows mine.jsonl --max-steps 500 \
      --checkpoint-dir run1 -o adapter.gguf          # later: the same command with --resume`,
		Args: modelArgs(1, "BASE.gguf (or -m)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runTune(cmd, g, o, withModel(o.model, args)[0]) },
	}
	f := cmd.Flags()
	addModelFlag(cmd, &o.model)
	f.StringSliceVar(&o.tasks, "tasks", nil, "training tasks: builtin-train or TASK,… (default builtin-train unless --rows)")
	f.StringArrayVar(&o.rowsFiles, "rows", nil, "training rows JSONL (repeatable)")
	f.IntVar(&o.rowsPerTask, "rows-per-task", 0, "rows generated per built-in task (0: the task's default)")
	f.Float64Var(&o.descProb, "description-prob", -1, "probability a row keeps its description (default: the task's, 0.6; the paper: 0.8)")
	f.StringVar(&o.formatName, "format", "auto", "format: auto, spectrum or colon")
	f.IntVar(&o.maxLength, "max-length", 1024, "tokens per row")
	f.IntVar(&o.rank, "rank", 16, "LoRA rank")
	f.Float64Var(&o.alpha, "alpha", 32, "LoRA alpha (scale alpha/rank)")
	f.StringVar(&o.trainTokens, "train-tokens", "none", "token rows of the embedding and output to train: auto (the format's special tokens), none, or TOKEN,…")
	f.StringVar(&o.targets, "targets", strings.Join(lora.Targets, ","), "projections to adapt")
	f.Float64Var(&o.lr, "lr", 1e-4, "peak learning rate")
	f.StringVar(&o.schedule, "schedule", "cosine", "learning-rate schedule after warmup: constant, linear or cosine")
	f.Float64Var(&o.warmup, "warmup", 0.03, "warmup as a fraction of the steps")
	f.Float64Var(&o.wd, "weight-decay", 0, "AdamW weight decay")
	f.Float64Var(&o.clip, "clip", 1, "clip the global gradient norm (0: off)")
	f.IntVar(&o.epochs, "epochs", 1, "passes over the rows")
	f.IntVar(&o.maxSteps, "max-steps", 0, "stop after this many optimizer steps (overrides --epochs)")
	f.IntVar(&o.batchTokens, "batch-tokens", 2048, "tokens per optimizer step (rows are added until reached)")
	f.IntVar(&o.gradAccum, "grad-accum", 0, "rows per optimizer step (instead of --batch-tokens)")
	f.StringSliceVar(&o.evalTasks, "eval-tasks", []string{tune.BuiltinTest}, "held-out tasks for steerability (none: no evaluation)")
	f.IntVar(&o.evalRows, "eval-rows", 64, "rows generated per held-out task")
	f.IntVar(&o.evalEvery, "eval-every", 0, "evaluate every N steps (0: at the end only)")
	f.StringVar(&o.ckptDir, "checkpoint-dir", "", "folder for checkpoint.gguf and train-log.jsonl (default: beside -o)")
	f.IntVar(&o.ckptEvery, "checkpoint-every", 0, "save a checkpoint every N steps (default: at evaluations and the end)")
	f.IntVar(&o.saveEvery, "save-every", 0, "also write the adapter every N steps as ADAPTER-stepN.gguf (learning curves)")
	f.Float64Var(&o.ckptMinutes, "checkpoint-minutes", 10, "also save a checkpoint when this many minutes passed since the last (0: off)")
	f.BoolVar(&o.resume, "resume", false, "continue from the checkpoint in --checkpoint-dir (the same run: settings are checked)")
	f.BoolVar(&o.resumeExtend, "resume-extend", false, "with --resume: allow other --max-steps/--epochs than the checkpoint's run (the schedule follows the new total)")
	f.Int64VarP(&o.seed, "seed", "s", 42, "seed for rows, order and initialisation")
	f.StringVar(&o.device, "device", "auto", "where training runs: auto (a GPU if a backend is loaded), cpu, cuda, or a device name")
	f.BoolVar(&o.checkpointing, "recompute", false, "recompute activations layer by layer in the backward pass (less memory, ~1 more forward of compute)")
	f.StringVar(&o.dequant, "dequant-backward", "auto", "backward pass through F32 copies of the frozen matrices: auto, on or off (auto: on when they fit, see README)")
	f.StringVarP(&o.out, "output", "o", "", "adapter GGUF to write")
	cmd.MarkFlagRequired("output")
	cmd.MarkFlagsMutuallyExclusive("epochs", "max-steps")
	cmd.MarkFlagsMutuallyExclusive("batch-tokens", "grad-accum")
	return cmd
}

func runTune(cmd *cobra.Command, g *globalOptions, o *tuneFlags, base string) error {
	yieldCoresToGGML()
	if err := o.check(cmd); err != nil {
		return err
	}
	for _, p := range o.rowsFiles {
		if outfile.SameFile(p, base) {
			return fmt.Errorf("--rows %s is the base model", p)
		}
	}
	tc := lora.DefaultConfig()
	tc.Rank, tc.Alpha, tc.LR, tc.Schedule, tc.WeightDecay, tc.ClipNorm = o.rank, o.alpha, o.lr, o.schedule, o.wd, o.clip
	tc.Targets = strings.Split(o.targets, ",")
	tc.Device, tc.Checkpointing = o.device, o.checkpointing
	var bar *progress.Bar
	cfg := tune.Config{
		Base: base, Output: o.out, Tasks: o.tasks, RowsFiles: o.rowsFiles, RowsPerTask: o.rowsPerTask,
		DescriptionProb: o.descProb, Format: o.formatName, MaxLength: o.maxLength, Seed: o.seed,
		Trainer: tc, Dequant: o.dequant, TrainTokens: o.trainTokens,
		Epochs: o.epochs, MaxSteps: o.maxSteps, GradAccum: o.gradAccum, BatchTokens: o.batchTokens, Warmup: o.warmup,
		EvalTasks: o.evalTasks, EvalRows: o.evalRows, EvalEvery: o.evalEvery,
		CheckpointDir: o.ckptDir, CheckpointEvery: o.ckptEvery, SaveEvery: o.saveEvery, CheckpointInterval: time.Duration(o.ckptMinutes * float64(time.Minute)),
		Resume: o.resume, ResumeExtend: o.resumeExtend, Threads: g.Threads, GPULayers: g.GPULayers,
		Logf: g.logf,
		Progress: func(p tune.Progress) {
			if bar == nil {
				bar = progress.New(cmd.ErrOrStderr(), p.TotalSteps, "training", "steps", g.Quiet)
			}
			bar.Set(p.Step, fmt.Sprintf("loss %.4f  lr %.2g  %.0f tok/s", p.Result.Loss, p.Result.LR, p.TokensPerSec))
		},
	}
	if !g.Quiet {
		cfg.Phases = cmd.ErrOrStderr()
	}
	sum, err := tune.Tune(cmd.Context(), cfg)
	if sum.Interrupted {
		bar.Stop(fmt.Sprintf("interrupted at step %d; checkpoint %s (continue with --resume)", sum.InterruptedAt, sum.Checkpoint))
	} else if err == nil {
		bar.Finish()
	} else {
		bar.Stop("stopped")
	}
	if err != nil && !sum.Interrupted {
		return err
	}
	if eerr := writeJSON(cmd.OutOrStdout(), sum); eerr != nil {
		return eerr
	}
	return err
}

// check validates tune's flags, each by its own name, before any file is
// read.
func (o *tuneFlags) check(cmd *cobra.Command) error {
	inf := math.Inf(1)
	changed := cmd.Flags().Changed
	for _, c := range []error{
		checkRange("rank", float64(o.rank), 1, inf),
		checkRange("lr", o.lr, math.SmallestNonzeroFloat64, 1),
		checkRange("max-length", float64(o.maxLength), 2, inf),
		checkRange("eval-rows", float64(o.evalRows), 1, inf),
		checkRange("warmup", o.warmup, 0, 0.999),
		checkRange("weight-decay", o.wd, 0, inf),
		checkRange("clip", o.clip, 0, inf),
		checkRange("eval-every", float64(o.evalEvery), 0, inf),
		checkRange("checkpoint-every", float64(o.ckptEvery), 0, inf),
		checkRange("save-every", float64(o.saveEvery), 0, inf),
		checkRange("checkpoint-minutes", o.ckptMinutes, 0, inf),
		checkRange("rows-per-task", float64(o.rowsPerTask), 0, inf),
	} {
		if c != nil {
			return c
		}
	}
	if o.alpha <= 0 {
		return fmt.Errorf("--alpha must be > 0, got %g", o.alpha)
	}
	if o.descProb != -1 {
		if err := checkRange("description-prob", o.descProb, 0, 1); err != nil {
			return err
		}
	}
	// 0 is the "unset" default of the library; given by hand it is an
	// impossible request, not "one epoch".
	if changed("max-steps") && o.maxSteps < 1 {
		return fmt.Errorf("--max-steps must be ≥ 1, got %d", o.maxSteps)
	}
	if o.epochs < 1 {
		return fmt.Errorf("--epochs must be ≥ 1, got %d", o.epochs)
	}
	if o.resumeExtend && !o.resume {
		return errors.New("--resume-extend is a modifier of --resume")
	}
	switch {
	case o.formatName == "chat":
		return errors.New("--format chat is an evaluation baseline for instruct models; train with spectrum or colon")
	case o.formatName != "auto" && o.formatName != "spectrum" && o.formatName != "colon":
		return fmt.Errorf("--format must be auto, spectrum or colon, got %q", o.formatName)
	case o.dequant != "auto" && o.dequant != "on" && o.dequant != "off":
		return fmt.Errorf("--dequant-backward must be auto, on or off, got %q", o.dequant)
	}
	if changed("grad-accum") {
		o.batchTokens = 0
		if o.gradAccum < 1 {
			return fmt.Errorf("--grad-accum must be ≥ 1, got %d", o.gradAccum)
		}
	} else if o.batchTokens < 1 {
		return fmt.Errorf("--batch-tokens must be ≥ 1, got %d", o.batchTokens)
	}
	return nil
}

// checkModel bounds the flags that depend on the base model: a LoRA rank
// above the narrowest adapted matrix adds parameters that cannot be used
// (and can exhaust memory), and rows longer than the model's context were
// never seen in pre-training.
