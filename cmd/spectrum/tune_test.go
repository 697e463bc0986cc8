package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

// TestTuneCLI: a few steps of tune on stories260K give an adapter that
// llama.cpp loads and that changes held-out steerability; resuming through
// the CLI continues exactly where the checkpoint stopped.
func TestTuneCLI(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	dir := t.TempDir()
	common := []string{"tune", stories, "--tasks", "coinflip,poisson", "--rows-per-task", "12", "--max-length", "96",
		"--rank", "4", "--lr", "2e-3", "--schedule", "constant", "--warmup", "0", "--grad-accum", "2", "--threads", "1", "-q"}
	run := func(sub string, args ...string) map[string]any {
		t.Helper()
		d := filepath.Join(dir, sub)
		out, _, err := runCLI(t, append(append(append([]string{}, common...), "--checkpoint-dir", d, "-o", filepath.Join(d, "a.gguf")), args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var sum map[string]any
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
		return sum
	}
	sum := run("straight", "--max-steps", "4", "--eval-tasks", "negative_binomial", "--eval-rows", "8")
	ev, _ := sum["eval"].(map[string]any)
	if sum["steps"].(float64) != 4 || ev["loss_geq_1"] == nil {
		t.Fatalf("summary %v", sum)
	}
	run("resumed", "--max-steps", "2", "--eval-tasks", "none")
	run("resumed", "--max-steps", "4", "--eval-tasks", "none", "--resume", "--resume-extend") // more steps than the first run planned
	a, b := tensors(t, filepath.Join(dir, "straight", "a.gguf")), tensors(t, filepath.Join(dir, "resumed", "a.gguf"))
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d vs %d adapter tensors", len(a), len(b))
	}
	for name, data := range a {
		if b[name] != data {
			t.Errorf("tensor %s differs between the straight and the resumed run", name)
		}
	}

	// The adapter changes the steerability numbers llama.cpp gives.
	m, err := llama.LoadModel(stories, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f, _ := format.ForFamily("colon", "")
	task, _ := suite.Lookup("negative_binomial")
	rows, _ := task.Generate(9, 8)
	st, err := eval.PrepareSteer(f, m, task.Name, rows, eval.SteerOptions{SelectMaxLen: 96})
	if err != nil {
		t.Fatal(err)
	}
	score := func(adapters []sample.AdapterSpec) float64 {
		s, err := eval.NewScorer(m, eval.ScorerOptions{Threads: 1, Adapters: adapters})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		res, _, err := eval.EvalSteer(t.Context(), s, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		return float64(res.Loss)
	}
	base, tuned := score(nil), score([]sample.AdapterSpec{{Path: filepath.Join(dir, "straight", "a.gguf"), Scale: 1}})
	if base == tuned {
		t.Errorf("adapter leaves the steerability loss unchanged (%g)", base)
	}

	// Bad input.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rank", "0"}, "--rank"},
		{[]string{"--alpha", "-1"}, "--alpha"},
		{[]string{"--lr", "0"}, "--lr"},
		{[]string{"--targets", "q,nope"}, "nope"},
		{[]string{"--format", "chat"}, "chat"},
		{[]string{"--tasks", "flight"}, "test split"},
	} {
		args := append(append(append([]string{}, common...), "-o", filepath.Join(dir, "bad.gguf"), "--max-steps", "1", "--eval-tasks", "none"), c.args...)
		if _, _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func tensors(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	for _, ti := range f.Tensors {
		d, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = string(d)
	}
	return out
}
