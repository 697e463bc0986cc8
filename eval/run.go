package eval

// The evaluation driver: what `spectrum eval` runs, as a Go API.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

// ModelSpec is one model to evaluate, with its LoRA adapters.
type ModelSpec struct {
	Path     string
	Adapters []sample.AdapterSpec
	// Format overrides Config.Format for this model ("": Config.Format), so
	// that a comparison can pair, say, a base model in the colon format with
	// a tuned one in the spectrum format on the same rows.
	Format string
}

// RemoteBackend is a model served elsewhere (package remote provides it for
// OpenAI-compatible servers): scorers and a sampler that run there, with the
// local GGUF giving only the tokenizer and format.
type RemoteBackend struct {
	Rows       RowScorer
	Candidates CandidateScorer
	Sampler    Sampler
	Tokens     func() int // prompt tokens scored so far
	Server     *ServerInfo
}

// Config is one evaluation run. The zero value of each field is its
// default, except where noted.
type Config struct {
	Mode     string      // "steer", "coverage", "dist" or "all"
	Models   []ModelSpec // the first is the reference of a comparison
	Tasks    []string    // built-in tasks (default: the mode's offline tasks)
	RowsPath string      // JSONL rows instead of built-in tasks
	NRows    int         // rows generated per built-in task (0: the task's default)
	Seed     uint64      // seed of generated rows and of sampling
	Format   string      // auto, spectrum, colon or chat ("": auto)

	Threads   int // CPU threads (0: 1 under 20M parameters, else llama.DefaultThreads)
	GPULayers int // layers offloaded to a GPU (-1: all)

	// steer
	K, SelectMaxLen, MaxRows int // in-context examples (0: automatic), tokens for choosing k (0: 2048), rows per task (0: 1000)
	// KPerFormat chooses k and the rows in each model's evaluated format.
	// By default they are chosen once per task, in the spectrum format of
	// the first model (its evaluated format when it has no spectrum
	// tokens), and shared by every model, as the reference does.
	KPerFormat    bool
	Pack, Batch   int  // rows per decode (0: 16), tokens per decode (0: 2048)
	Restrict, ECE bool // label-token restriction; calibration error
	KVType        string

	// coverage
	N, Parallel int // generations per task and variant (0: 100), completions decoded together (0: min(N, 32))
	Variants    []string

	// dist
	Complete bool

	// Remote, if set, runs every model on a server (its GGUF gives the
	// tokenizer and format): it is called once per model.
	Remote func(ctx context.Context, tok *llama.Model) (*RemoteBackend, error)
	// Rows collects the per-row values behind the aggregates (--rows-out).
	Rows bool
	// Progress receives progress bars (nil: none); Logf log lines.
	Progress io.Writer
	Logf     func(format string, args ...any)
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Result is what Run returns: one report per model, in the order of
// Config.Models, and the per-row records when Config.Rows is set.
type Result struct {
	Models []*Report `json:"models"`
	// Comparisons are the paired differences of each model after the first
	// from the first (CompareReports); absent for one model.
	Comparisons []*PairedDiff `json:"comparisons,omitempty"`
	Rows        []any         `json:"-"`
}

// Plan is a prepared run: its data are loaded and checked, no model is.
type Plan struct {
	c    Config
	data *data
	rows []any
	// sel is the shared choice of k per steer task, made with the first
	// model.
	sel map[string]*Selection
}

// data is what the evaluations run on, independent of the model.
type data struct {
	steer, dist map[string][]suite.Row
	coverage    []*suite.Task
	inputs      []string
}

func (d *data) empty() bool {
	return len(d.steer) == 0 && len(d.dist) == 0 && len(d.coverage) == 0
}

func modeHas(mode, part string) bool { return mode == "all" || mode == part }

// Prepare checks the configuration and loads or generates the rows, before
// any model is loaded.
func Prepare(c Config) (*Plan, error) {
	switch c.Mode {
	case "steer", "coverage", "dist", "all":
	default:
		return nil, fmt.Errorf("eval: mode %q: want steer, coverage, dist or all", c.Mode)
	}
	if len(c.Models) == 0 {
		return nil, errors.New("eval: no model to evaluate")
	}
	if c.Format == "" {
		c.Format = format.NameAuto
	}
	for _, v := range c.Variants {
		if v != VariantDescription && v != VariantExamples && v != VariantBoth {
			return nil, fmt.Errorf("eval: unknown variant %q (want description, examples or both)", v)
		}
	}
	// Zero values are the CLI's defaults.
	c.Pack = cmp.Or(c.Pack, 16)
	c.Batch = cmp.Or(c.Batch, 2048)
	c.SelectMaxLen = cmp.Or(c.SelectMaxLen, 2048)
	c.MaxRows = cmp.Or(c.MaxRows, 1000)
	c.N = cmp.Or(c.N, 100)
	if c.Pack < 1 || c.Batch < 1 || c.SelectMaxLen < 1 || c.N < 1 || c.K < 0 || c.NRows < 0 || c.Parallel < 0 {
		return nil, errors.New("eval: Pack, Batch, SelectMaxLen and N must be ≥ 1, K, NRows and Parallel ≥ 0")
	}
	if c.Remote != nil {
		for _, m := range c.Models {
			if len(m.Adapters) > 0 || len(c.Models) > 1 {
				return nil, errors.New("eval: adapters and comparisons with a remote backend: the server decides the weights (serve each model or adapter and run once per server)")
			}
		}
		if c.Restrict {
			return nil, errors.New("eval: restriction to label tokens with a remote backend: not supported (servers return only the top log-probabilities)")
		}
	}
	d, err := loadData(&c)
	if err != nil {
		return nil, err
	}
	return &Plan{c: c, data: d}, nil
}

// Inputs lists the files the run reads: rows, models and adapters (an
// output must be none of them).
func (p *Plan) Inputs() []string {
	in := append([]string{}, p.data.inputs...)
	for _, sp := range p.c.Models {
		in = append(in, sp.Path)
		for _, a := range sp.Adapters {
			in = append(in, a.Path)
		}
	}
	return in
}

// Run evaluates every model of the plan.
func (p *Plan) Run(ctx context.Context) (*Result, error) {
	res := &Result{}
	for _, sp := range p.c.Models {
		r, err := p.evalModel(ctx, sp)
		if err != nil {
			if len(p.c.Models) > 1 {
				return nil, fmt.Errorf("%s: %w", sp.Path, err)
			}
			return nil, err
		}
		res.Models = append(res.Models, r)
	}
	res.Comparisons = CompareReports(res.Models)
	res.Rows = p.rows
	return res, nil
}

// Run is Prepare and Plan.Run.
func Run(ctx context.Context, c Config) (*Result, error) {
	p, err := Prepare(c)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx)
}

func (p *Plan) addRow(v any) {
	if p.c.Rows {
		p.rows = append(p.rows, v)
	}
}

func loadData(c *Config) (*data, error) {
	mode := c.Mode
	d := &data{steer: map[string][]suite.Row{}, dist: map[string][]suite.Row{}}
	want := map[string]bool{}
	for _, t := range c.Tasks {
		if t = strings.TrimSpace(t); t != "" {
			want[t] = true
		}
	}
	if c.RowsPath != "" {
		rows, err := suite.ReadRowsFile(c.RowsPath)
		if err != nil {
			return nil, err
		}
		d.inputs = append(d.inputs, c.RowsPath)
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
			return nil, fmt.Errorf("%s: no rows for eval %s (steer needs rows with outputs, dist rows with target_outputs)", c.RowsPath, mode)
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
		rows, err := t.Generate(int64(c.Seed), c.NRows)
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

func (p *Plan) evalModel(ctx context.Context, sp ModelSpec) (*Report, error) {
	c, mode, data := &p.c, p.c.Mode, p.data
	info, err := models.ReadInfo(sp.Path)
	if err != nil {
		return nil, err
	}
	remoteRun := c.Remote != nil
	m, err := llama.LoadModel(sp.Path, llama.ModelParams{GPULayers: c.GPULayers, VocabOnly: remoteRun})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	fname := cmp.Or(sp.Format, c.Format)
	f, err := format.ForModel(fname, info.Family, m)
	if err != nil {
		return nil, err
	}
	if fname == format.NameAuto {
		c.logf("format: %s", format.Describe(f))
	}
	rep := &Report{Model: sp.Path, Format: f.Name(), Adapters: []AdapterInfo{}}
	for _, o := range c.Models {
		if o.Format != "" && o.Format != c.Format {
			rep.labelFormat = true // formats differ within the comparison
		}
	}
	for _, a := range sp.Adapters {
		rep.Adapters = append(rep.Adapters, AdapterInfo{Path: a.Path, Scale: a.Scale})
	}
	stderr := c.Progress
	var rb *RemoteBackend
	threads := 1
	if remoteRun {
		if rb, err = c.Remote(ctx, m); err != nil {
			return nil, err
		}
		rep.Server = rb.Server
	} else {
		rep.BLAS, _ = llama.BLAS()
		threads = c.Threads
		if threads == 0 {
			threads = llama.AutoThreads(m.NParams())
		}
	}
	label := rep.Label()

	if len(data.steer) > 0 || len(data.dist) > 0 {
		var scorer RowScorer
		var cands CandidateScorer
		var local *Scorer
		var tokenCount func() int
		if remoteRun {
			if rb.Rows == nil || rb.Candidates == nil {
				return nil, errors.New("eval: the remote backend cannot score")
			}
			scorer, cands, tokenCount = rb.Rows, rb.Candidates, rb.Tokens
		} else {
			s, err := NewScorer(m, ScorerOptions{
				Threads: threads, KVType: c.KVType, NBatch: c.Batch, NSeqMax: c.Pack,
				Adapters: sp.Adapters, Calibration: c.ECE && modeHas(mode, "steer"),
			})
			if err != nil {
				return nil, err
			}
			defer s.Close()
			local, scorer, cands = s, s, s
			tokenCount = func() int { return s.Tokens }
		}
		if len(data.steer) > 0 {
			if c.K == 0 && !c.KPerFormat && p.sel == nil {
				if p.sel, err = p.selectK(m, info.Family, f); err != nil {
					return nil, err
				}
			}
			rep.Steer = map[string]*SteerResult{}
			for _, task := range sortedTaskNames(data.steer) {
				st, err := PrepareSteer(f, m, task, data.steer[task], SteerOptions{
					SelectMaxLen: c.SelectMaxLen, K: c.K, MaxRows: c.MaxRows, Seed: 42, Selection: p.sel[task],
				})
				if err != nil {
					return nil, err
				}
				var restrict []llama.Token
				if c.Restrict {
					if restrict, err = RestrictTokens(st.Rows, 30); err != nil {
						return nil, fmt.Errorf("task %s: %w", task, err)
					}
				}
				if local != nil {
					if err := local.SetRestrict(restrict); err != nil {
						return nil, err
					}
				}
				c.logf("steer %s: k = %d (chosen in %s), %d of %d rows", task, st.K, st.KFormat, len(st.Rows), st.Candidates)
				bar := progress.New(stderr, len(st.Rows), "steer "+task, "rows", c.Progress == nil)
				start, tok0 := time.Now(), tokenCount()
				res, scores, err := EvalSteer(ctx, scorer, st, func(done int) {
					bar.Set(done, fmt.Sprintf("%.0f tok/s", float64(tokenCount()-tok0)/max(time.Since(start).Seconds(), 1e-9)))
				})
				if err != nil {
					return nil, err
				}
				bar.Finish()
				rep.Steer[task] = res
				for i, sc := range scores {
					var loss, acc float64
					n := 0
					for _, o := range sc.Outputs {
						if o.ExampleIndex >= 1 {
							loss, acc, n = loss+o.Loss, acc+o.AllAcc, n+1
						}
					}
					if n > 0 {
						key := strconv.Itoa(st.Rows[i].Index)
						rep.addUnit("steer "+task+" loss_geq_1", "row", key, loss/float64(n))
						rep.addUnit("steer "+task+" all_acc_geq_1", "row", key, acc/float64(n))
					}
					p.addRow(map[string]any{"eval": "steer", "model": label, "task": task, "row": st.Rows[i].Index,
						"tokens": sc.Tokens, "outputs": sc.Outputs})
				}
			}
		}
		if len(data.dist) > 0 {
			rep.Dist = map[string]*DistResult{}
			for _, task := range sortedTaskNames(data.dist) {
				rows := data.dist[task]
				bar := progress.New(stderr, min(len(rows), max(c.MaxRows, len(rows)*boolInt(c.MaxRows < 0))), "dist "+task, "rows", c.Progress == nil)
				res, drows, err := EvalDist(ctx, cands, f, task, rows, DistOptions{Complete: c.Complete, MaxRows: c.MaxRows, Seed: 42},
					func(done int) { bar.Set(done, "") })
				if err != nil {
					return nil, err
				}
				bar.Finish()
				rep.Dist[task] = res
				for _, dr := range drows {
					// Identical rows (states repeats one prompt) are one unit:
					// pairing their copies would count one observation many times.
					rep.addUnit("dist "+task+" js_divergence", "distinct row", rowKey(&rows[dr.Index]), dr.JS)
					p.addRow(struct {
						Eval  string `json:"eval"`
						Model string `json:"model"`
						Task  string `json:"task"`
						DistRow
					}{"dist", label, task, dr})
				}
			}
		}
	}
	if len(data.coverage) > 0 {
		variants := c.Variants
		if len(variants) == 0 {
			variants = Variants()
		}
		total := len(data.coverage) * len(variants) * c.N
		var e Sampler
		if remoteRun {
			if rb.Sampler == nil {
				return nil, errors.New("eval: the remote backend cannot sample")
			}
			e = rb.Sampler
		} else {
			le, err := sample.NewEngine(m, sample.Options{Parallel: c.Parallel, Threads: threads, Adapters: sp.Adapters})
			if err != nil {
				return nil, err
			}
			defer le.Close()
			le.SetTotal(total)
			e = le
		}
		bar := progress.New(stderr, total, "coverage", "samples", c.Progress == nil)
		done := 0
		rep.Coverage = map[string]map[string]CoverageMetrics{}
		for ti, t := range data.coverage {
			res, gens, err := EvalCoverage(ctx, e, m, f, t, ti, CoverageOptions{N: c.N, Seed: c.Seed, Variants: variants},
				func(gen Generation) { done++; bar.Set(done, t.Name) })
			if err != nil {
				return nil, err
			}
			rep.Coverage[t.Name] = res
			for v, m := range res {
				for metric, x := range map[string]float64{"percent_valid": float64(m.PercentValid),
					"unique_gens_pct": float64(m.UniqueGensPct), "unique_valid_count": float64(m.UniqueValidCount)} {
					rep.addUnit("coverage "+v+" "+metric+" (mean over tasks)", "task", t.Name, x)
				}
			}
			for _, gen := range gens {
				p.addRow(struct {
					Eval  string `json:"eval"`
					Model string `json:"model"`
					Generation
				}{"coverage", label, gen})
			}
		}
		bar.Finish()
		rep.CoverageAggregate = AggregateCoverage(rep.Coverage)
	}
	return rep, nil
}

// selectK chooses k and the rows of every steer task once, in the spectrum
// format of model m (the first of a comparison), or in its evaluated format
// f when m lacks the spectrum format's tokens.
func (p *Plan) selectK(m *llama.Model, fam format.Family, f format.Format) (map[string]*Selection, error) {
	fs, err := format.ForModel(format.NameSpectrum, fam, m)
	if err != nil {
		p.c.logf("k: chosen in the %s format (%v)", f.Name(), err)
		fs = f
	}
	sel := map[string]*Selection{}
	for task, rows := range p.data.steer {
		s, err := SelectK(fs, m, task, rows, p.c.SelectMaxLen)
		if err != nil {
			return nil, err
		}
		sel[task] = s
	}
	return sel, nil
}

// rowKey identifies a row by its content (messages and targets).
func rowKey(r *suite.Row) string {
	var b strings.Builder
	for _, m := range r.Messages {
		fmt.Fprintf(&b, "%q:%q;", m.Role, m.Content)
	}
	for i, t := range r.Targets {
		fmt.Fprintf(&b, "%q=%v;", t, r.TargetProbs[i])
	}
	return b.String()
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
