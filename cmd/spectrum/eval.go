package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/remote"
)

func init() { register(newEvalCmd) }

type evalOptions struct {
	tasks                []string
	rowsPath, formatName string
	out, rowsOut, plot   string
	model                string
	lora, compare        []string
	seed                 uint64
	nRows                int
	// steer
	k, selectMaxLen, maxRows  int
	restrict, ece, kPerFormat bool
	nseq, nbatch              int
	kv                        string
	// coverage
	n, parallel int
	variants    []string
	// dist
	complete bool
	remote   remoteOptions
}

// evalModes is the help of each evaluation; eval's own help joins them.
var evalModes = map[string]string{
	"steer": `in-context steerability: per scored output the summed NLL in nats (end
token included), first-token, token and all-token accuracy; loss_geq_1 and
all_acc_geq_1 (outputs with ≥ 1 earlier output in context) are the headline
numbers. k and the rows are chosen once per task as the reference's
get_example_k, in the spectrum format of the first model (its evaluated
format when it has no spectrum tokens; the reference always used
gemma-3-1b-it's tokenizer), and shared by every model of --compare and every
format (--k-per-format: choose in each model's own format); rows are cut
after example index k, at most --max-rows rows per task. Default tasks: the offline test-split ICL tasks. --plot draws loss and
all_acc vs in-context examples (two panels, one line per task × model) as
PNG, SVG or PDF, chosen by the file's extension.
Report keys: "steer": {"<task>": {"k","k_format","n_rows","n_outputs","loss",
"loss_geq_1","all_acc","all_acc_geq_1","first_acc","acc","loss_k","all_acc_k",
"<metric>_sem"…,"ece","ece_geq_1","curve": [{"example_index","loss","all_acc","n"}…]}}`,
	"coverage": `valid-output coverage: -n samples (temperature 1, top-p 1, first line) per
task and prompt variant (description, examples, both): percent_valid,
unique_gens_pct, unique_valid_count, … Default tasks: every offline coverage
task (coverage needs their validators: no --rows).
Report keys: "coverage": {"<task>": {"<variant>": {"n","percent_valid",
"unique_gens_pct","unique_valid_count","usable_unique_pct","raw_unique_pct",
"pairwise_collision","pairwise_uniqueness","pairwise_uniqueness_sem",
"coverage_pct"?}}}, "coverage_aggregate": {"<variant>": {"<metric>":
{"mean","std","sem","n"}}}`,
	"dist": `distributional alignment: exact candidate probabilities (prompt decoded
once, candidates as parallel sequences; no end token unless --complete),
normalized; KL, reverse KL, JS divergence (headline), cross-entropy, mode
match, coverage; ε = 1e-6. Default tasks: every offline distributional task.
Report keys: "dist": {"<task>": {"js_divergence": {"mean","std","sem","n"},
"kl","reverse_kl","cross_entropy","mode_match","coverage","n_targets",
"n_rows","complete"}}`,
	"all": `steer, coverage and dist together (tasks are dispatched by kind); the
report has the keys of each.`,
}

// evalCommon is the part of the help every evaluation shares.
const evalCommon = `Tasks: --tasks names built-in Spectrum Suite tasks; --rows reads a JSONL file
instead (distributional rows, with target_outputs, go to dist, the others to
steer, grouped by task).

Output: JSON on stdout, or written atomically to -o (then a markdown table
is printed on stdout), always of one shape: {"models": [report, …]}, one
report per model (the argument first, then each --compare MODEL[+LORA[:SCALE]]
…), each {"model", "adapters": [{"path","scale"}], "format", …}. Shares are
fractions in [0, 1]; a value that cannot be computed is null. --rows-out
writes the per-row (per-output, per-generation) values behind the aggregates
as JSONL.

With --compare, "comparisons" holds each later model's paired difference
from the first, per headline metric, over the units both have (steer: rows,
each the mean over its outputs with ≥ 1 earlier output; dist: distinct rows;
coverage: tasks): {"metric","unit","model","reference","n","delta","ci_lo",
"ci_hi" (95 % paired bootstrap, 2000 resamples, seeded),"p_value" (paired
sign-flip permutation test: exact up to 16 units, else 10000 seeded
resamples),"p_holm" (Holm over the whole table),"holds" (p_holm < 0.05)}.
The markdown table shows "Δ [lo, hi]" after each compared value and * where
the difference holds.

--server URL runs the model on an OpenAI-compatible server (vLLM, SGLang,
llama.cpp's llama-server, llama-cpp-python) instead of loading it: MODEL.gguf
then gives only the tokenizer and format. Prompts are rendered here; scoring
uses echo+logprobs or vLLM's prompt_logprobs (detected at start), coverage
samples on the server; --concurrency requests are in flight, each retried with
backoff. The report names the server. Not with --lora, --compare, --restrict;
no calibration error.`

// evalLong is eval's own help: the three numbers and what they share.
var evalLong = "eval measures the three numbers of Spectrum Tuning (reference §5):\n\n" +
	"  steer     " + firstSentence(evalModes["steer"]) + "\n" +
	"  coverage  " + firstSentence(evalModes["coverage"]) + "\n" +
	"  dist      " + firstSentence(evalModes["dist"]) + "\n" +
	"  all       the three together\n\n" +
	"spectrum eval MODE --help says more of each.\n\n" + evalCommon

func firstSentence(s string) string {
	if i := strings.Index(s, ":"); i > 0 {
		return s[:i]
	}
	return s
}

func newEvalCmd(g *globalOptions) *cobra.Command {
	o := &evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval steer|coverage|dist|all MODEL.gguf",
		Short: "Evaluate steerability, valid-output coverage and distributional alignment",
		Long:  evalLong,
		Example: `  spectrum eval steer model.gguf -o steer.json
  spectrum eval coverage model.gguf --tasks rng_1_10,us_states_full_names -n 100
  spectrum eval dist model.gguf --lora tuned.gguf --complete
  spectrum eval all base.gguf --compare base.gguf+tuned.gguf -o results.json --plot curves.png`,
	}
	for _, mode := range []string{"steer", "coverage", "dist", "all"} {
		mode := mode
		sub := &cobra.Command{
			Use:   mode + " MODEL.gguf",
			Short: map[string]string{"steer": "In-context steerability (NLL and accuracy of in-context outputs)", "coverage": "Valid-output coverage (validity and diversity of samples)", "dist": "Distributional alignment (candidate probabilities vs targets)", "all": "steer, coverage and dist together"}[mode],
			Long:  "eval " + mode + ": " + evalModes[mode] + "\n\n" + evalCommon,
			Example: map[string]string{
				"steer":    "  spectrum eval steer model.gguf -o steer.json --plot curves.png\n  spectrum eval steer base.gguf --rows heldout.jsonl --compare base.gguf+adapter.gguf",
				"coverage": "  spectrum eval coverage model.gguf --tasks rng_1_10,us_states_full_names -n 100",
				"dist":     "  spectrum eval dist model.gguf --tasks urn --lora tuned.gguf --complete",
				"all":      "  spectrum eval all base.gguf --compare base.gguf+tuned.gguf -o results.json",
			}[mode],
			Args: modelArgs(1, "MODEL.gguf (or -m)"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runEval(cmd, g, o, mode, withModel(o.model, args)[0])
			},
		}
		addModelFlag(sub, &o.model)
		addEvalFlags(sub, o, mode)
		cmd.AddCommand(sub)
	}
	return cmd
}

func addEvalFlags(cmd *cobra.Command, o *evalOptions, mode string) {
	f := cmd.Flags()
	f.StringSliceVar(&o.tasks, "tasks", nil, "tasks to evaluate (comma-separated; default: see above)")
	f.StringVar(&o.rowsPath, "rows", "", "JSONL rows to evaluate instead of built-in tasks")
	f.StringVar(&o.formatName, "format", "auto", "prompt format: auto, spectrum, colon or chat")
	f.StringVarP(&o.out, "output", "o", "", "write the results JSON here (atomically; - for stdout) and print a markdown table")
	f.StringVar(&o.rowsOut, "rows-out", "", "write per-row values as JSONL (- for stdout)")
	f.StringArrayVar(&o.lora, "lora", nil, "LoRA adapter FILE[:SCALE] (repeatable)")
	f.StringSliceVar(&o.compare, "compare", nil, "more MODEL[+LORA[:SCALE]]…[@FORMAT] to evaluate side by side (@FORMAT: in that format instead of --format)")
	f.Uint64VarP(&o.seed, "seed", "s", 0, "seed of generated rows and of sampling")
	f.IntVar(&o.nRows, "n-rows", 0, "rows generated per built-in task (0: the task's default)")
	if mode == "steer" || mode == "all" {
		f.StringVar(&o.plot, "plot", "", "draw loss/all_acc vs number of in-context examples (.png, .svg or .pdf, by extension); with --compare also the paired differences' intervals (NAME-diffs.EXT)")
		f.IntVar(&o.k, "k", 0, "in-context examples scored per row (0: automatic, as the reference)")
		f.IntVar(&o.selectMaxLen, "select-max-len", 2048, "tokens rows are cut to when choosing k")
		f.BoolVar(&o.kPerFormat, "k-per-format", false, "choose k and the rows in each model's evaluated format, not once in the first model's spectrum format")
		f.BoolVar(&o.restrict, "restrict", false, "restrict predictions to the dataset's label tokens (reference --auto_restrict_texts)")
		f.BoolVar(&o.ece, "ece", true, "compute the calibration error (ECE)")
		f.IntVar(&o.nseq, "pack", 16, "rows packed into one decode (as separate sequences)")
		f.IntVar(&o.nbatch, "batch", 2048, "tokens per decode")
	}
	if mode == "steer" || mode == "dist" || mode == "all" {
		f.StringVar(&o.kv, "kv-type", "", "KV cache type (f16, f32, q8_0; default f16)")
		f.IntVar(&o.maxRows, "max-rows", 1000, "rows per task at most (a fixed-seed random choice beyond)")
	}
	if mode == "coverage" || mode == "all" {
		f.IntVarP(&o.n, "n", "n", 100, "generations per task and prompt variant")
		f.IntVar(&o.parallel, "parallel", 0, "completions decoded together (0: min(n, 32))")
		f.StringSliceVar(&o.variants, "variants", eval.Variants(), "coverage prompt variants: description, examples, both")
	}
	if mode == "dist" || mode == "all" {
		f.BoolVar(&o.complete, "complete", false, "score candidates through the end token (complete strings)")
	}
	addRemoteFlags(f, &o.remote)
}

// parseModelSpec parses a --compare MODEL[+LORA[:SCALE]]…[@FORMAT] entry.
func parseModelSpec(s string) (eval.ModelSpec, error) {
	var fmtName string
	if i := strings.LastIndexByte(s, '@'); i >= 0 && slices.Contains(format.Names(), s[i+1:]) {
		s, fmtName = s[:i], s[i+1:]
	}
	parts := strings.Split(s, "+")
	if parts[0] == "" {
		return eval.ModelSpec{}, fmt.Errorf("--compare %q: want MODEL[+LORA[:SCALE]]…", s)
	}
	ad, err := parseLoRA(parts[1:])
	if err != nil {
		return eval.ModelSpec{}, fmt.Errorf("--compare %q: %w", s, err)
	}
	return eval.ModelSpec{Path: parts[0], Adapters: ad, Format: fmtName}, nil
}

func runEval(cmd *cobra.Command, g *globalOptions, o *evalOptions, mode, modelPath string) error {
	yieldCoresToGGML()
	inf := math.Inf(1)
	checks := []error{checkRange("n-rows", float64(o.nRows), 0, inf)}
	if mode == "steer" || mode == "all" {
		checks = append(checks, checkRange("k", float64(o.k), 0, inf), checkRange("pack", float64(o.nseq), 1, inf),
			checkRange("batch", float64(o.nbatch), 1, inf), checkRange("select-max-len", float64(o.selectMaxLen), 1, inf),
			checkRange("max-rows", float64(o.maxRows), 1, inf))
	}
	if mode == "coverage" || mode == "all" {
		checks = append(checks, checkRange("n", float64(o.n), 1, inf), checkRange("parallel", float64(o.parallel), 0, inf))
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if o.plot != "" {
		// Checked before any model is loaded: a bad extension fails fast.
		if err := eval.CheckPlotPath(o.plot); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
	adapters, err := parseLoRA(o.lora)
	if err != nil {
		return err
	}
	cfg := eval.Config{
		Mode: mode, Models: []eval.ModelSpec{{Path: modelPath, Adapters: adapters}},
		Tasks: o.tasks, RowsPath: o.rowsPath, NRows: o.nRows, Seed: o.seed, Format: o.formatName,
		Threads: g.Threads, GPULayers: g.GPULayers,
		K: o.k, KPerFormat: o.kPerFormat, SelectMaxLen: o.selectMaxLen, MaxRows: o.maxRows, Pack: o.nseq, Batch: o.nbatch,
		Restrict: o.restrict, ECE: o.ece, KVType: o.kv,
		N: o.n, Parallel: o.parallel, Variants: o.variants, Complete: o.complete,
		Rows: o.rowsOut != "", Logf: g.logf,
	}
	if !g.Quiet {
		cfg.Progress = cmd.ErrOrStderr()
	}
	for _, c := range o.compare {
		s, err := parseModelSpec(c)
		if err != nil {
			return err
		}
		cfg.Models = append(cfg.Models, s)
	}
	if o.remote.enabled() {
		if len(adapters) > 0 || len(o.compare) > 0 {
			return fmt.Errorf("--lora and --compare with --server: the server decides the weights (serve each model or adapter and run eval once per server)")
		}
		cl, err := o.remote.client(cmd.Context(), g)
		if err != nil {
			return err
		}
		cfg.Remote = remote.EvalBackend(cl, o.remote.concurrency)
	}
	plan, err := eval.Prepare(cfg)
	if err != nil {
		return err
	}
	inputs := plan.Inputs()
	// Before any model is loaded: an evaluation must not end in an
	// unwritable -o.
	if o.out == "-" && o.rowsOut == "-" {
		return fmt.Errorf("-o - and --rows-out - would both write to standard output; give one of them a file")
	}
	if o.plot == "-" {
		return fmt.Errorf("--plot needs a file (its extension picks the image format)")
	}
	outs := []string{o.out, o.rowsOut, o.plot}
	if o.plot != "" && len(o.compare) > 0 {
		outs = append(outs, eval.DiffsPath(o.plot)) // the paired differences' plot
	}
	if err := outfile.CheckOutputs(outs, inputs); err != nil {
		return err
	}
	res, err := plan.Run(cmd.Context())
	if err != nil {
		return err
	}
	return writeEvalResult(cmd, o, res, inputs)
}

// writeEvalResult writes the results JSON (always {"models": […]}), the
// per-row records, the plot and the markdown table where the flags say.
func writeEvalResult(cmd *cobra.Command, o *evalOptions, res *eval.Result, inputs []string) error {
	if o.rowsOut != "" {
		err := outfile.Write(o.rowsOut, inputs, cmd.OutOrStdout(), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			for _, rec := range res.Rows {
				if err := enc.Encode(rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if o.plot != "" {
		if err := eval.PlotCurves(o.plot, res.Models); err != nil {
			return err
		}
		if len(res.Comparisons) > 0 {
			if err := eval.PlotDiffs(eval.DiffsPath(o.plot), res.Comparisons); err != nil {
				return err
			}
		}
	}
	stdout := cmd.OutOrStdout()
	table := stdout // the markdown table, where stdout is not the results
	if o.rowsOut == "-" {
		table = cmd.ErrOrStderr()
	}
	switch {
	case o.out == "-" || (o.out == "" && len(res.Models) == 1 && o.rowsOut != "-"):
		bw := bufio.NewWriter(stdout)
		if err := writeJSON(bw, res); err != nil {
			return err
		}
		return bw.Flush()
	case o.out != "":
		if err := outfile.Write(o.out, inputs, nil, func(w io.Writer) error { return writeJSON(w, res) }); err != nil {
			return err
		}
	}
	return eval.WriteMarkdownCompared(table, res.Models, res.Comparisons)
}
