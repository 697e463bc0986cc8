package tune

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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

// TestRunResume: training N steps equals N/2, interrupt, resume, N/2; the
// adapter carries its metadata and llama.cpp loads it.
func TestRunResume(t *testing.T) {
	m := vocab(t)
	colon, _ := format.ForFamily("colon", "")
	tasks, _ := ResolveTasks([]string{"coinflip"})
	rows, _, err := PrepareRows(m, colon, tasks, nil, RowOptions{Seed: 1, RowsPerTask: 16, MaxLength: 96, DescriptionProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.LR, cfg.Threads, cfg.Schedule = 4, 8, 1e-3, 1, "cosine"
	opts := func(dir string, steps int, resume bool) Options {
		return Options{Base: stories, Rows: rows, Trainer: cfg, MaxSteps: steps, GradAccum: 2, Warmup: 0.1, Seed: 5,
			CheckpointDir: dir, Resume: resume, Output: filepath.Join(dir, "adapter.gguf"),
			Metadata: map[string]string{"format": "colon", "tasks": "coinflip"}}
	}
	full := t.TempDir()
	o := opts(full, 6, false)
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 6 || sum.LastLoss >= sum.FirstLoss {
		t.Errorf("6 steps: %+v", sum)
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
