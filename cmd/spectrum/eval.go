package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/remote"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
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
	k, selectMaxLen, maxRows int
	restrict, ece            bool
	nseq, nbatch             int
	kv                       string
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
numbers. k is chosen as the reference's get_example_k, but with the evaluated
model's own tokenizer and format (the reference always used gemma-3-1b-it's
tokenizer), rows are cut after example index k, at most --max-rows rows per
task. Default tasks: the offline test-split ICL tasks. --plot draws loss and
all_acc vs in-context examples (two panels, one line per task × model) as
PNG, SVG or PDF, chosen by the file's extension.
Report keys: "steer": {"<task>": {"k","n_rows","n_outputs","loss",
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
	f.StringSliceVar(&o.compare, "compare", nil, "more MODEL[+LORA[:SCALE]]… to evaluate side by side")
	f.Uint64VarP(&o.seed, "seed", "s", 0, "seed of generated rows and of sampling")
	f.IntVar(&o.nRows, "n-rows", 0, "rows generated per built-in task (0: the task's default)")
	if mode == "steer" || mode == "all" {
		f.StringVar(&o.plot, "plot", "", "draw loss/all_acc vs number of in-context examples (.png, .svg or .pdf, by extension)")
		f.IntVar(&o.k, "k", 0, "in-context examples scored per row (0: automatic, as the reference)")
		f.IntVar(&o.selectMaxLen, "select-max-len", 2048, "tokens rows are cut to when choosing k")
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

// modelSpec is one model to evaluate with its adapters.
type modelSpec struct {
	path     string
	adapters []sample.AdapterSpec
}

func parseModelSpec(s string) (modelSpec, error) {
	parts := strings.Split(s, "+")
	if parts[0] == "" {
		return modelSpec{}, fmt.Errorf("--compare %q: want MODEL[+LORA[:SCALE]]…", s)
	}
	ad, err := parseLoRA(parts[1:])
	if err != nil {
		return modelSpec{}, fmt.Errorf("--compare %q: %w", s, err)
	}
	return modelSpec{path: parts[0], adapters: ad}, nil
}

// evalData is what the evaluations run on, independent of the model.
type evalData struct {
	steer, dist map[string][]suite.Row
	coverage    []*suite.Task
	inputs      []string
}

func (d *evalData) empty() bool {
	return len(d.steer) == 0 && len(d.dist) == 0 && len(d.coverage) == 0
}

func modeHas(mode, part string) bool { return mode == "all" || mode == part }

func loadEvalData(o *evalOptions, mode string) (*evalData, error) {
	d := &evalData{steer: map[string][]suite.Row{}, dist: map[string][]suite.Row{}}
	want := map[string]bool{}
	for _, t := range o.tasks {
		if t = strings.TrimSpace(t); t != "" {
			want[t] = true
		}
	}
	if o.rowsPath != "" {
		rows, err := suite.ReadRowsFile(o.rowsPath)
		if err != nil {
			return nil, err
		}
		d.inputs = append(d.inputs, o.rowsPath)
		for _, r := range rows {
			name := r.Task
			if name == "" {
				name = "rows"
			}
			if len(want) > 0 && !want[name] {
				continue
			}
			if r.Distributional() {
				if modeHas(mode, "dist") {
					d.dist[name] = append(d.dist[name], r)
				}
			} else if modeHas(mode, "steer") {
				d.steer[name] = append(d.steer[name], r)
			}
		}
		if d.empty() {
			return nil, fmt.Errorf("%s: no rows for eval %s (steer needs rows with outputs, dist rows with target_outputs)", o.rowsPath, mode)
		}
		if mode == "coverage" {
			return nil, fmt.Errorf("eval coverage runs built-in coverage tasks (their validators); use --tasks, not --rows")
		}
		return d, nil
	}
	var tasks []*suite.Task
	if len(want) > 0 {
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t, err := suite.Lookup(n)
			if err != nil {
				return nil, err
			}
			kindMode := map[suite.Kind]string{suite.KindICL: "steer", suite.KindCoverage: "coverage", suite.KindDistributional: "dist"}[t.Kind]
			if !modeHas(mode, kindMode) {
				return nil, fmt.Errorf("task %s is a %s task: evaluate it with `spectrum eval %s`", t.Name, t.Kind, kindMode)
			}
			tasks = append(tasks, t)
		}
	} else {
		for _, t := range suite.Tasks() {
			if !t.Offline {
				continue
			}
			switch {
			case t.Kind == suite.KindICL && t.Split == suite.SplitTest && modeHas(mode, "steer"),
				t.Kind == suite.KindCoverage && modeHas(mode, "coverage"),
				t.Kind == suite.KindDistributional && modeHas(mode, "dist"):
				tasks = append(tasks, t)
			}
		}
	}
	for _, t := range tasks {
		if t.Kind == suite.KindCoverage {
			d.coverage = append(d.coverage, t)
			continue
		}
		rows, err := t.Generate(int64(o.seed), o.nRows)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w; pass them with --rows", t.Name, err)
		}
		if t.Kind == suite.KindICL {
			d.steer[t.Name] = rows
		} else {
			d.dist[t.Name] = rows
		}
	}
	if d.empty() {
		return nil, fmt.Errorf("no tasks to evaluate")
	}
	return d, nil
}

// rowsWriter collects --rows-out records.
type rowsWriter struct {
	recs []any
}

func (w *rowsWriter) add(v any) {
	if w != nil {
		w.recs = append(w.recs, v)
	}
}

func runEval(cmd *cobra.Command, g *globalOptions, o *evalOptions, mode, modelPath string) error {
	yieldCoresToGGML()
	if err := g.checkThreads(cmd); err != nil {
		return err
	}
	for _, v := range o.variants {
		if v != eval.VariantDescription && v != eval.VariantExamples && v != eval.VariantBoth {
			return fmt.Errorf("--variants: unknown variant %q (want description, examples or both)", v)
		}
	}
	inf := math.Inf(1)
	checks := []error{checkRange("n-rows", float64(o.nRows), 0, inf)}
	if modeHas(mode, "steer") {
		checks = append(checks, checkRange("k", float64(o.k), 0, inf), checkRange("pack", float64(o.nseq), 1, inf),
			checkRange("batch", float64(o.nbatch), 1, inf), checkRange("select-max-len", float64(o.selectMaxLen), 1, inf),
			checkRange("max-rows", float64(o.maxRows), 1, inf))
	}
	if modeHas(mode, "coverage") {
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
		if !modeHas(mode, "steer") {
			return fmt.Errorf("--plot draws steerability curves: use it with eval steer or eval all")
		}
	}
	adapters, err := parseLoRA(o.lora)
	if err != nil {
		return err
	}
	if o.remote.enabled() {
		switch {
		case len(adapters) > 0 || len(o.compare) > 0:
			return fmt.Errorf("--lora and --compare with --server: the server decides the weights (serve each model or adapter and run eval once per server)")
		case o.restrict:
			return fmt.Errorf("--restrict with --server: not supported (servers return only the top log-probabilities)")
		}
	}
	specs := []modelSpec{{path: modelPath, adapters: adapters}}
	for _, c := range o.compare {
		s, err := parseModelSpec(c)
		if err != nil {
			return err
		}
		specs = append(specs, s)
	}
	data, err := loadEvalData(o, mode)
	if err != nil {
		return err
	}
	inputs := append([]string{}, data.inputs...)
	for _, sp := range specs {
		inputs = append(inputs, sp.path)
		for _, a := range sp.adapters {
			inputs = append(inputs, a.Path)
		}
	}
	// Before any model is loaded: an evaluation must not end in an
	// unwritable -o.
	if o.out == "-" && o.rowsOut == "-" {
		return fmt.Errorf("-o - and --rows-out - would both write to standard output; give one of them a file")
	}
	if o.plot == "-" {
		return fmt.Errorf("--plot needs a file (its extension picks the image format)")
	}
	if err := outfile.CheckOutputs([]string{o.out, o.rowsOut, o.plot}, inputs); err != nil {
		return err
	}
	var rw *rowsWriter
	if o.rowsOut != "" {
		rw = &rowsWriter{}
	}
	var reports []*eval.Report
	for _, sp := range specs {
		r, err := evalModel(cmd, g, o, mode, sp, data, rw)
		if err != nil {
			if len(specs) > 1 {
				return fmt.Errorf("%s: %w", sp.path, err)
			}
			return err
		}
		reports = append(reports, r)
	}
	if rw != nil {
		err := outfile.Write(o.rowsOut, inputs, cmd.OutOrStdout(), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			for _, rec := range rw.recs {
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
		if err := eval.PlotCurves(o.plot, reports); err != nil {
			return err
		}
	}
	// One shape for every run: {"models": [report, …]} (the first model is
	// the one named by the argument; --compare adds the others).
	payload := struct {
		Models []*eval.Report `json:"models"`
	}{reports}
	writeJSON := func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(payload)
	}
	stdout := cmd.OutOrStdout()
	table := stdout // the markdown table, where stdout is not the results
	if o.rowsOut == "-" {
		table = cmd.ErrOrStderr()
	}
	switch {
	case o.out == "-" || (o.out == "" && len(specs) == 1 && o.rowsOut != "-"):
		bw := bufio.NewWriter(stdout)
		if err := writeJSON(bw); err != nil {
			return err
		}
		return bw.Flush()
	case o.out != "":
		if err := outfile.Write(o.out, inputs, nil, writeJSON); err != nil {
			return err
		}
	}
	return eval.WriteMarkdown(table, reports)
}

func evalModel(cmd *cobra.Command, g *globalOptions, o *evalOptions, mode string, sp modelSpec, data *evalData, rw *rowsWriter) (*eval.Report, error) {
	info, err := models.ReadInfo(sp.path)
	if err != nil {
		return nil, err
	}
	remoteRun := o.remote.enabled()
	m, err := g.loadModel(sp.path, remoteRun)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	f, err := format.ForModel(o.formatName, info.Family, m)
	if err != nil {
		return nil, err
	}
	if o.formatName == format.NameAuto {
		g.logf("format: %s", format.Describe(f))
	}
	rep := &eval.Report{Model: sp.path, Format: f.Name(), Adapters: []eval.AdapterInfo{}}
	for _, a := range sp.adapters {
		rep.Adapters = append(rep.Adapters, eval.AdapterInfo{Path: a.Path, Scale: a.Scale})
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	var cl *remote.Client
	threads := 1
	if remoteRun {
		if cl, err = o.remote.client(ctx, g); err != nil {
			return nil, err
		}
		rep.Server = &eval.ServerInfo{URL: cl.URL(), Model: cl.Model}
	} else {
		threads = g.threads(m.NParams())
	}
	label := rep.Label()

	if len(data.steer) > 0 || len(data.dist) > 0 {
		var scorer eval.RowScorer
		var cands eval.CandidateScorer
		var local *eval.Scorer
		var tokenCount func() int
		if remoteRun {
			method, err := cl.DetectScoring(ctx)
			if err != nil {
				return nil, err
			}
			g.logf("server scoring: %s", method)
			rs := &remote.Scorer{Client: cl, Tok: m, Method: method, Concurrency: o.remote.concurrency}
			scorer, cands, tokenCount = rs, rs, rs.TokenCount
		} else {
			s, err := eval.NewScorer(m, eval.ScorerOptions{
				Threads: threads, KVType: o.kv, NBatch: o.nbatch, NSeqMax: o.nseq,
				Adapters: sp.adapters, Calibration: o.ece && modeHas(mode, "steer"),
			})
			if err != nil {
				return nil, err
			}
			defer s.Close()
			local, scorer, cands = s, s, s
			tokenCount = func() int { return s.Tokens }
		}
		if len(data.steer) > 0 {
			rep.Steer = map[string]*eval.SteerResult{}
			for _, task := range sortedTaskNames(data.steer) {
				st, err := eval.PrepareSteer(f, m, task, data.steer[task], eval.SteerOptions{
					SelectMaxLen: o.selectMaxLen, K: o.k, MaxRows: o.maxRows, Seed: 42,
				})
				if err != nil {
					return nil, err
				}
				var restrict []llama.Token
				if o.restrict {
					if restrict, err = eval.RestrictTokens(st.Rows, 30); err != nil {
						return nil, fmt.Errorf("task %s: %w", task, err)
					}
				}
				if local != nil {
					if err := local.SetRestrict(restrict); err != nil {
						return nil, err
					}
				}
				g.logf("steer %s: k = %d, %d of %d rows", task, st.K, len(st.Rows), st.Candidates)
				bar := progress.New(stderr, len(st.Rows), "steer "+task, "rows", g.Quiet)
				start, tok0 := time.Now(), tokenCount()
				res, scores, err := eval.EvalSteer(ctx, scorer, st, func(done int) {
					bar.Set(done, fmt.Sprintf("%.0f tok/s", float64(tokenCount()-tok0)/max(time.Since(start).Seconds(), 1e-9)))
				})
				if err != nil {
					return nil, err
				}
				bar.Finish()
				rep.Steer[task] = res
				for i, sc := range scores {
					rw.add(map[string]any{"eval": "steer", "model": label, "task": task, "row": st.Rows[i].Index,
						"tokens": sc.Tokens, "outputs": sc.Outputs})
				}
			}
		}
		if len(data.dist) > 0 {
			rep.Dist = map[string]*eval.DistResult{}
			for _, task := range sortedTaskNames(data.dist) {
				rows := data.dist[task]
				bar := progress.New(stderr, min(len(rows), max(o.maxRows, len(rows)*boolInt(o.maxRows < 0))), "dist "+task, "rows", g.Quiet)
				res, drows, err := eval.EvalDist(ctx, cands, f, task, rows, eval.DistOptions{Complete: o.complete, MaxRows: o.maxRows, Seed: 42},
					func(done int) { bar.Set(done, "") })
				if err != nil {
					return nil, err
				}
				bar.Finish()
				rep.Dist[task] = res
				for _, dr := range drows {
					rw.add(struct {
						Eval  string `json:"eval"`
						Model string `json:"model"`
						Task  string `json:"task"`
						eval.DistRow
					}{"dist", label, task, dr})
				}
			}
		}
	}
	if len(data.coverage) > 0 {
		variants := o.variants
		if len(variants) == 0 {
			variants = eval.Variants()
		}
		total := len(data.coverage) * len(variants) * o.n
		var e eval.Sampler
		if remoteRun {
			e = &remote.Sampler{Client: cl, Tok: m, Params: remote.SampleParams{Concurrency: o.remote.concurrency}}
		} else {
			le, err := sample.NewEngine(m, sample.Options{Parallel: o.parallel, Threads: threads, Adapters: sp.adapters})
			if err != nil {
				return nil, err
			}
			defer le.Close()
			le.SetTotal(total)
			e = le
		}
		bar := progress.New(stderr, total, "coverage", "samples", g.Quiet)
		done := 0
		rep.Coverage = map[string]map[string]eval.CoverageMetrics{}
		for ti, t := range data.coverage {
			res, gens, err := eval.EvalCoverage(ctx, e, m, f, t, ti, eval.CoverageOptions{N: o.n, Seed: o.seed, Variants: variants},
				func(gen eval.Generation) { done++; bar.Set(done, t.Name) })
			if err != nil {
				return nil, err
			}
			rep.Coverage[t.Name] = res
			for _, gen := range gens {
				rw.add(struct {
					Eval  string `json:"eval"`
					Model string `json:"model"`
					eval.Generation
				}{"coverage", label, gen})
			}
		}
		bar.Finish()
		rep.CoverageAggregate = eval.AggregateCoverage(rep.Coverage)
	}
	return rep, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sortedTaskNames(m map[string][]suite.Row) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
