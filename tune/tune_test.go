package tune

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/lora"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/suite"
)

var stories = filepath.Join("..", "..", "shared", "models", "stories260K.gguf")

func vocab(t *testing.T) *llama.Model {
	t.Helper()
	m, err := llama.LoadModel(stories, llama.ModelParams{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestResolveTasks(t *testing.T) {
	train, err := ResolveTasks([]string{BuiltinTrain})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tk := range train {
		names[tk.Name] = true
		if tk.Split != suite.SplitTrain || !tk.Offline {
			t.Errorf("%s in builtin-train", tk.Name)
		}
	}
	if !names["coinflip"] || !names["zipfian"] || names["flight"] || len(train) != 12 {
		t.Errorf("builtin-train = %v", names)
	}
	test, _ := ResolveTasks([]string{BuiltinTest})
	if len(test) != 1 || test[0].Name != "flight" {
		t.Errorf("builtin-test = %v", test)
	}
	both, _ := ResolveTasks([]string{"coinflip,normal", "coinflip"})
	if len(both) != 2 {
		t.Errorf("duplicates kept: %d tasks", len(both))
	}
	for _, bad := range []string{"no_such_task", "urn", "wvs_individual"} {
		if _, err := ResolveTasks([]string{bad}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestPrepareRows checks the reference's row rules on a fixed seed.
func TestPrepareRows(t *testing.T) {
	m := vocab(t)
	colon, _ := format.ForFamily("colon", "")
	tasks, _ := ResolveTasks([]string{"coinflip,poisson"})
	rows, st, err := PrepareRows(m, colon, tasks, nil, RowOptions{Seed: 3, RowsPerTask: 200, MaxLength: 128, DescriptionProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != len(rows) || st.Rows+st.Dropped != 400 || st.PerTask["coinflip"]+st.PerTask["poisson"] != st.Rows {
		t.Fatalf("stats %+v for %d rows", st, len(rows))
	}
	// Coinflip rows are long (E[n] large): many are cut to 128 tokens.
	if st.Truncated < 100 {
		t.Errorf("only %d of 400 rows truncated at 128 tokens", st.Truncated)
	}
	firstTask := rows[0].Task
	mixed := false
	for i, r := range rows {
		if len(r.Tokens) > 128 || len(r.Tokens) != len(r.Loss) {
			t.Fatalf("row %d: %d tokens, %d loss flags", i, len(r.Tokens), len(r.Loss))
		}
		n := 0
		for _, l := range r.Loss {
			if l {
				n++
			}
		}
		if n == 0 {
			t.Fatalf("row %d kept with no labelled token", i)
		}
		if r.Tokens[0] != m.BOS() {
			t.Fatalf("row %d does not start with BOS", i)
		}
		if i < 20 && r.Task != firstTask {
			mixed = true
		}
	}
	if !mixed {
		t.Error("rows are not shuffled across tasks: the first 20 all come from one task")
	}
	// Same seed, same rows; another seed, another order.
	again, _, _ := PrepareRows(m, colon, tasks, nil, RowOptions{Seed: 3, RowsPerTask: 200, MaxLength: 128, DescriptionProb: -1})
	if len(again) != len(rows) || again[7].Task != rows[7].Task || len(again[7].Tokens) != len(rows[7].Tokens) {
		t.Error("PrepareRows is not deterministic per seed")
	}
	// Description rate override: every row starts with a description.
	all, _, _ := PrepareRows(m, colon, tasks[:1], nil, RowOptions{Seed: 3, RowsPerTask: 50, MaxLength: 4096, DescriptionProb: 1})
	for i, r := range all {
		text, _ := m.Detokenize(r.Tokens, true, false)
		if len(text) < 12 || text[:12] != "Description:" {
			t.Fatalf("row %d with description prob 1 starts %q", i, text[:min(len(text), 20)])
		}
	}
	// A max length that leaves no labelled token drops every row.
	_, st, _ = PrepareRows(m, colon, tasks[:1], nil, RowOptions{Seed: 3, RowsPerTask: 20, MaxLength: 3, DescriptionProb: 1})
	if st.Rows != 0 || st.Dropped != 20 {
		t.Errorf("max length 3: %+v", st)
	}
	if _, _, err := PrepareRows(m, colon, tasks, nil, RowOptions{MaxLength: 1}); err == nil {
		t.Error("max length 1: no error")
	}
}

// TestFirstOutputRule: in the spectrum format a row without description
// carries no loss on its first output (a synthetic gemma3 model has the turn
// tokens).
func TestFirstOutputRule(t *testing.T) {
	m := vocab(t)
	colon, _ := format.ForFamily("colon", "")
	imported := []suite.Row{{Task: "mine", Messages: []suite.Message{{Role: "output", Content: "a"}, {Role: "output", Content: "b"}}}}
	rows, _, err := PrepareRows(m, colon, nil, imported, RowOptions{Seed: 1, MaxLength: 64, DescriptionProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	// colon scores every output: both runs are labelled.
	if got := format.ExampleIndices(rows[0].Loss); maxInt(got) != 1 {
		t.Errorf("colon: example indices %v, want two scored outputs", got)
	}
	spec, _ := format.ForFamily("spectrum", string(models.FamilyGemma3))
	g := gemmaVocab(t)
	rows, _, err = PrepareRows(g, spec, nil, imported, RowOptions{Seed: 1, MaxLength: 64, DescriptionProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := format.ExampleIndices(rows[0].Loss); maxInt(got) != 0 {
		t.Errorf("spectrum without description: example indices %v, want only the second output scored", got)
	}
}

func maxInt(xs []int) int {
	m := -1
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func gemmaVocab(t *testing.T) *llama.Model {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gemma.gguf")
	cfg := synthGemma()
	if err := writeSynth(p, cfg); err != nil {
		t.Fatal(err)
	}
	m, err := llama.LoadModel(p, llama.ModelParams{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// smallRun is the rows and trainer settings of the resume tests: 16
// coinflip rows in the colon format, rank 4.
func smallRun(t *testing.T) ([]Prepared, lora.Config) {
	t.Helper()
	m := vocab(t)
	colon, _ := format.ForFamily("colon", "")
	tasks, _ := ResolveTasks([]string{"coinflip"})
	rows, _, err := PrepareRows(m, colon, tasks, nil, RowOptions{Seed: 1, RowsPerTask: 16, MaxLength: 96, DescriptionProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.LR, cfg.Threads, cfg.Schedule = 4, 8, 1e-3, 1, "cosine"
	return rows, cfg
}

// TestRunResume: training N steps equals N/2, interrupt, resume, N/2; the
// adapter carries its metadata and llama.cpp loads it.
func TestRunResume(t *testing.T) {
	rows, cfg := smallRun(t)
	opts := func(dir string, steps int, resume bool) Options {
		return Options{Base: stories, Rows: rows, Trainer: cfg, MaxSteps: steps, GradAccum: 2, Warmup: 0.1, Seed: 5,
			CheckpointDir: dir, Resume: resume, Output: filepath.Join(dir, "adapter.gguf"),
			Metadata: map[string]string{"format": "colon", "tasks": "coinflip"}}
	}
	full := t.TempDir()
	o := opts(full, 6, false)
	o.SaveEvery = 3
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 6 || sum.LastLoss >= sum.FirstLoss {
		t.Errorf("6 steps: %+v", sum)
	}
	// --save-every 3 of 6 steps: one snapshot after step 3; step 6 is the
	// adapter itself.
	snap := filepath.Join(full, "adapter-step3.gguf")
	if got := SnapshotPath(o.Output, 3); got != snap {
		t.Errorf("SnapshotPath = %s, want %s", got, snap)
	}
	if _, err := os.Stat(filepath.Join(full, "adapter-step6.gguf")); err == nil {
		t.Error("a snapshot was written for the last step")
	}
	if sf, err := models.Open(snap); err != nil {
		t.Error(err)
	} else {
		if got, _ := sf.String("spectrum.steps"); got != "3" {
			t.Errorf("snapshot spectrum.steps = %q, want 3", got)
		}
		sf.Close()
	}
	half := t.TempDir()
	o = opts(half, 6, false)
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(p Progress) {
		if p.Step == 3 {
			cancel()
		}
	}
	if _, err := Run(ctx, o); err != ErrInterrupted {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := Run(context.Background(), opts(half, 6, true)); err != nil {
		t.Fatal(err)
	}
	a, b := losses(t, full), losses(t, half)
	if len(a) != 6 || len(b) != 6 {
		t.Fatalf("logged steps: %v / %v", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("step %d: loss %v straight, %v interrupted and resumed", i+1, a[i], b[i])
		}
	}
	f, err := models.Open(filepath.Join(half, "adapter.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for k, want := range map[string]string{"spectrum.format": "colon", "spectrum.tasks": "coinflip", "spectrum.steps": "6", "general.type": "adapter"} {
		if got, _ := f.String(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if h, _ := f.String("spectrum.base.sha256"); len(h) != 64 {
		t.Errorf("spectrum.base.sha256 = %q", h)
	}
	full32, _ := os.ReadFile(filepath.Join(full, "adapter.gguf"))
	half32, _ := os.ReadFile(filepath.Join(half, "adapter.gguf"))
	if string(full32) != string(half32) {
		t.Error("adapters differ between the straight and the resumed run")
		ff, _ := models.Open(filepath.Join(full, "adapter.gguf"))
		defer ff.Close()
		for _, kv := range ff.Metadata {
			v2, _ := f.Value(kv.Key)
			if fmt.Sprint(v2) != fmt.Sprint(kv.Value) {
				t.Logf("%s: %v vs %v", kv.Key, kv.Value, v2)
			}
		}
		for _, ti := range ff.Tensors {
			a, _ := ff.TensorData(ti.Name)
			b, _ := f.TensorData(ti.Name)
			if string(a) != string(b) {
				t.Logf("tensor %s differs", ti.Name)
			}
		}
	}
	mm, err := llama.LoadModel(stories, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	if _, err := llama.LoadAdapter(mm, filepath.Join(half, "adapter.gguf")); err != nil {
		t.Errorf("llama.cpp does not load the adapter: %v", err)
	}
}

// losses reads the training log's step losses (the last record per step).
func losses(t *testing.T, dir string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "train-log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byStep := map[int]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Step int
			Loss *float64
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Loss != nil {
			byStep[rec.Step] = *rec.Loss
		}
	}
	out := make([]float64, len(byStep))
	for s, l := range byStep {
		if s < 1 || s > len(out) {
			t.Fatalf("step %d in log", s)
		}
		out[s-1] = l
	}
	return out
}

// TestResumeChecksRunAndLog: a resume refuses a checkpoint of another run
// and names the differences; after a kill -9 (the log went past the last
// checkpoint) the log has each step once and the summary covers the whole
// run; --checkpoint-minutes saves after steps.
func TestResumeChecksRunAndLog(t *testing.T) {
	rows, cfg := smallRun(t)
	opts := func(dir string, resume bool) Options {
		return Options{Base: stories, Rows: rows, Trainer: cfg, MaxSteps: 6, GradAccum: 2, Warmup: 0.1, Seed: 5,
			CheckpointDir: dir, Resume: resume, Output: filepath.Join(dir, "adapter.gguf")}
	}
	full := t.TempDir()
	straight, err := Run(context.Background(), opts(full, false))
	if err != nil {
		t.Fatal(err)
	}

	// A run killed after step 5 whose last checkpoint is step 4: the
	// step-4 checkpoint is kept aside, the run stopped at 5, and the
	// step-4 file put back, as a kill -9 would leave it.
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "checkpoint.gguf")
	var at4 []byte
	o := opts(dir, false)
	o.CheckpointInterval = time.Nanosecond // a save after every step
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(p Progress) {
		_, saved, err := lora.CheckpointRun(ckpt)
		if p.Step > 1 && (err != nil || saved != p.Step-1) {
			t.Errorf("at step %d the checkpoint holds step %d (%v), want %d", p.Step, saved, err, p.Step-1)
		}
		if p.Step == 5 {
			at4, _ = os.ReadFile(ckpt)
			cancel()
		}
	}
	sum, err := Run(ctx, o)
	if err != ErrInterrupted || !sum.Interrupted || sum.InterruptedAt != 5 || sum.Steps != 5 {
		t.Fatalf("interrupted run: %v %+v", err, sum)
	}
	if err := os.WriteFile(ckpt, at4, 0o644); err != nil {
		t.Fatal(err)
	}

	// Other settings are refused with the differences listed.
	bad := opts(dir, true)
	bad.Trainer.LR = 5e-4
	bad.MaxSteps = 8
	_, err = Run(context.Background(), bad)
	for _, want := range []string{"was saved by a different run", `--lr: checkpoint "0.001", this run "0.0005"`, `--max-steps: checkpoint "6", this run "8"`, "--resume-extend"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resume with another lr and more steps: %v, want %q", err, want)
		}
	}
	otherBase := filepath.Join(t.TempDir(), "base.gguf")
	b, _ := os.ReadFile(stories)
	os.WriteFile(otherBase, append(b, 0), 0o644) // another file of the same model
	bad = opts(dir, true)
	bad.Base = otherBase
	if _, err := Run(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "base model (sha256): checkpoint") {
		t.Errorf("resume on another base file: %v", err)
	}
	bad = opts(dir, true)
	bad.Rows = rows[1:]
	if _, err := Run(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "training rows (sha256") {
		t.Errorf("resume with other rows: %v", err)
	}

	sum, err = Run(context.Background(), opts(dir, true))
	if err != nil {
		t.Fatal(err)
	}
	a, l := losses(t, full), losses(t, dir)
	if fmt.Sprint(a) != fmt.Sprint(l) {
		t.Errorf("losses straight %v, resumed after the kill %v", a, l)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "train-log.jsonl"))
	if n := strings.Count(string(data), `"loss"`); n != 6 {
		t.Errorf("log has %d step records, want 6 (each step once):\n%s", n, data)
	}
	if sum.Steps != 6 || sum.FirstLoss != straight.FirstLoss || sum.LastLoss != straight.LastLoss || sum.Tokens != straight.Tokens || sum.ResumedAt != 4 {
		t.Errorf("resumed summary %+v, want the whole run's %+v, resumed at 4", sum, straight)
	}

	// --resume-extend trains past the planned end.
	ext := opts(dir, true)
	ext.MaxSteps, ext.ResumeExtend = 8, true
	if sum, err = Run(context.Background(), ext); err != nil || sum.Steps != 8 {
		t.Errorf("extended resume: %v %+v", err, sum)
	}
}

func TestOutputsChecked(t *testing.T) {
	dir := t.TempDir()
	rowsFile := filepath.Join(dir, "rows.jsonl")
	os.WriteFile(rowsFile, []byte("{}\n"), 0o644)
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Base: stories, Output: rowsFile, Inputs: []string{rowsFile}}, "the adapter (-o) would overwrite the rows file"},
		{Options{Base: stories, Output: filepath.Join(dir, "checkpoint.gguf")}, "the adapter (-o) and the checkpoint would both be"},
		{Options{Base: stories, Output: filepath.Join(dir, "a.gguf"), CheckpointDir: dir, Inputs: []string{filepath.Join(dir, "train-log.jsonl")}}, "the training log would overwrite the rows file"},
		{Options{Base: stories, Output: filepath.Join(rowsFile, "a.gguf")}, "not a directory"},
	} {
		err := tc.o.CheckOutputs()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

// TestResolveTrainTokens: --train-tokens values on the synthetic Gemma
// vocabulary (which has the Gemma turn tokens).
func TestResolveTrainTokens(t *testing.T) {
	m := gemmaVocab(t)
	spectrum, err := format.ForFamily("spectrum", string(format.FamilyGemma3))
	if err != nil {
		t.Fatal(err)
	}
	colon, _ := format.ForFamily("colon", "")
	sot, _ := m.TokenID("<start_of_turn>")
	eot, _ := m.TokenID("<end_of_turn>")
	for _, c := range []struct {
		spec  string
		f     format.Format
		ids   []int32
		texts []string
		err   string
	}{
		{spec: "none", f: spectrum},
		{spec: "", f: spectrum},
		{spec: "auto", f: spectrum, ids: []int32{int32(sot), int32(eot)}, texts: []string{"<start_of_turn>", "<end_of_turn>"}},
		{spec: "<end_of_turn>", f: colon, ids: []int32{int32(eot)}, texts: []string{"<end_of_turn>"}},
		{spec: "auto", f: colon, err: "--train-tokens auto: the colon format has no special tokens; list the tokens to train"},
		{spec: "<end_of_turn>,,x", f: spectrum, err: `--train-tokens "<end_of_turn>,,x": an empty token`},
		{spec: "<end_of_turn>,not one token", f: spectrum, err: `--train-tokens: "not one token" is not one token of the model's vocabulary`},
		{spec: "<end_of_turn>,<end_of_turn>", f: spectrum, err: `--train-tokens: "<end_of_turn>" is given twice`},
	} {
		ids, texts, err := ResolveTrainTokens(c.spec, c.f, m)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q (%s): error %v, want %q", c.spec, c.f.Name(), err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(ids, c.ids) || !slices.Equal(texts, c.texts) {
			t.Errorf("%q (%s) = %v %q, %v; want %v %q", c.spec, c.f.Name(), ids, texts, err, c.ids, c.texts)
		}
	}
}

// TestTuneTiedTokenRows: Tune on a tied synthetic Gemma with --train-tokens
// auto trains the turn tokens' rows, writes them as tied token rows, and its
// held-out evaluation (which llama.cpp cannot run with such an adapter)
// scores the adapter merged into the base instead.
func TestTuneTiedTokenRows(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "gemma.gguf")
	cfg := synthGemma()
	// Six layers: llama.cpp cannot decode a one-layer Gemma 3 (its only,
	// sliding-window layer leaves a KV cache without a buffer).
	cfg.TiedOutput, cfg.NLayer = true, 6
	if err := writeSynth(base, cfg); err != nil {
		t.Fatal(err)
	}
	tc := lora.DefaultConfig()
	tc.Rank, tc.LR = 4, 1e-2
	out := filepath.Join(dir, "a.gguf")
	sum, err := Tune(context.Background(), Config{
		Base: base, Output: out, Tasks: []string{"coinflip"}, RowsPerTask: 8, DescriptionProb: -1, MaxLength: 96,
		Trainer: tc, MaxSteps: 2, GradAccum: 2, TrainTokens: "auto", EvalTasks: []string{"negative_binomial"}, EvalRows: 2, Threads: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sum.Eval["loss_geq_1"]; !ok {
		t.Errorf("no held-out evaluation: %v", sum.Eval)
	}
	f, err := models.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !models.HasTokenRows(f) {
		t.Error("the adapter has no token rows")
	}
	if got, _ := f.String("spectrum.train_tokens"); got != "<start_of_turn> <end_of_turn>" {
		t.Errorf("spectrum.train_tokens = %q", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".merged-*"))
	if len(left) > 0 {
		t.Errorf("temporary merged models left behind: %v", left)
	}
}
