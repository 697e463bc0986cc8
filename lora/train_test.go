package lora

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/models"
)

// TestExportParity: after some training (B ≠ 0), llama.cpp with the
// exported adapter at scale 1 reproduces the training graph's logits.
func TestExportParity(t *testing.T) {
	for _, tc := range []struct {
		model string
		mod   func(*Config)
	}{
		{"stories260K.gguf", nil},
		{"stories260K.gguf", func(c *Config) {
			c.Targets = []string{"q", "v", "down"}
			c.TargetRanks = map[string]int{"v": 3}
			c.Alpha = 5
		}},
		{"llama-2-tiny-random.gguf", nil},
	} {
		path := sharedModel(tc.model)
		tr := newTestTrainer(t, path, func(c *Config) {
			c.LR = 1e-2
			if tc.mod != nil {
				tc.mod(c)
			}
		})
		rng := rand.New(rand.NewPCG(11, 11))
		for i := 0; i < 5; i++ {
			if _, err := tr.Step(randomRows(rng, 2, 24, tr.VocabSize())); err != nil {
				t.Fatal(err)
			}
		}
		var bmax float64
		for _, p := range tr.pairs {
			for _, v := range getF32(p.b) {
				bmax = math.Max(bmax, math.Abs(float64(v)))
			}
		}
		if bmax < 1e-3 {
			t.Fatalf("B did not move (max |B| %.3g)", bmax)
		}
		adapter := filepath.Join(t.TempDir(), "adapter.gguf")
		if err := tr.ExportAdapter(adapter); err != nil {
			t.Fatal(err)
		}
		ids := testIDs(32, tr.VocabSize(), 2)
		got, err := tr.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		want := llamatest.TokenLogits(t, path, []llamatest.Adapter{{Path: adapter, Scale: 1}}, ids)
		base := llamatest.TokenLogits(t, path, nil, ids)
		rel, scale := llamatest.RelMaxDiff(got, want), llamatest.MaxAbs(want)
		moved := llamatest.RelMaxDiff(base, want)
		t.Logf("%s targets %v: adapter moved logits by %.3g; training graph vs llama.cpp+adapter %.3g (scale %.3g)", tc.model, tr.cfg.Targets, moved, rel, scale)
		if rel > 1e-3 {
			t.Errorf("%s: logits differ from llama.cpp with the adapter by %.3g relative", tc.model, rel)
		}
		if moved < 1e-2 {
			t.Errorf("%s: adapter changed llama.cpp logits by only %.3g", tc.model, moved)
		}
	}
}

// TestResume: N steps straight equal N/2 steps, checkpoint, a fresh
// trainer resumed from it, N/2 steps — identical losses and adapter.
func TestResume(t *testing.T) {
	path := sharedModel("stories260K.gguf")
	mod := func(c *Config) {
		c.LR = 3e-3
		c.Schedule = "cosine"
		c.WarmupSteps = 2
		c.TotalSteps = 8
		c.WeightDecay = 0.01
		c.ClipNorm = 0.5
	}
	data := func(tr *Trainer) []Row { return randomRows(tr.Rand(), 2, 20, tr.VocabSize()) }
	const n = 8
	a := newTestTrainer(t, path, mod)
	var want []float64
	for i := 0; i < n; i++ {
		r, err := a.Step(data(a))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Loss)
	}
	b := newTestTrainer(t, path, mod)
	var got []float64
	for i := 0; i < n/2; i++ {
		r, err := b.Step(data(b))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Loss)
	}
	ck := filepath.Join(t.TempDir(), "ckpt.gguf")
	if err := b.SaveCheckpoint(ck); err != nil {
		t.Fatal(err)
	}
	b.Close()
	c := newTestTrainer(t, path, func(c *Config) { mod(c); c.Seed = 99 })
	if err := c.LoadCheckpoint(ck); err != nil {
		t.Fatal(err)
	}
	if c.StepCount() != n/2 || c.Cursor() != int64(2*n/2) {
		t.Errorf("resumed at step %d cursor %d", c.StepCount(), c.Cursor())
	}
	for i := n / 2; i < n; i++ {
		r, err := c.Step(data(c))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Loss)
	}
	if !slices.Equal(got, want) {
		t.Errorf("losses differ after resume:\n got %v\nwant %v", got, want)
	}
	if !slices.Equal(a.params(), c.params()) {
		t.Error("adapters differ after resume")
	}
}

// TestSchedule checks warmup and the three schedules.
func TestSchedule(t *testing.T) {
	tr := &Trainer{cfg: Config{LR: 1, WarmupSteps: 4, TotalSteps: 14, Schedule: "constant"}}
	for s, want := range map[int]float64{0: 0.25, 3: 1, 4: 1, 100: 1} {
		if got := tr.lrAt(s); math.Abs(got-want) > 1e-12 {
			t.Errorf("constant lr(%d) = %g, want %g", s, got, want)
		}
	}
	tr.cfg.Schedule = "linear"
	tr.cfg.MinLRRatio = 0.1
	for s, want := range map[int]float64{1: 0.5, 4: 1, 9: 0.55, 14: 0.1, 20: 0.1} {
		if got := tr.lrAt(s); math.Abs(got-want) > 1e-12 {
			t.Errorf("linear lr(%d) = %g, want %g", s, got, want)
		}
	}
	tr.cfg.Schedule = "cosine"
	tr.cfg.MinLRRatio = 0
	for s, want := range map[int]float64{4: 1, 9: 0.5, 14: 0} {
		if got := tr.lrAt(s); math.Abs(got-want) > 1e-12 {
			t.Errorf("cosine lr(%d) = %g, want %g", s, got, want)
		}
	}
}

// TestClipping: with clipping to c, the first AdamW step is unchanged
// (Adam is invariant to the gradient scale up to eps), but the reported
// norm is the unclipped one; with a huge eps AdamW degenerates to SGD-like
// steps proportional to the clipped gradient, which shows the clipping.
func TestClipping(t *testing.T) {
	path := sharedModel("stories260K.gguf")
	rows := randomRows(rand.New(rand.NewPCG(2, 2)), 2, 20, 512)
	delta := func(clip float64) ([]float32, float64) {
		tr := newTestTrainer(t, path, func(c *Config) { c.ClipNorm = clip; c.Eps = 1e4; c.LR = 100 })
		before := tr.params()
		r, err := tr.Step(rows)
		if err != nil {
			t.Fatal(err)
		}
		after := tr.params()
		d := make([]float32, len(after))
		for i := range d {
			d[i] = after[i] - before[i]
		}
		return d, r.GradNorm
	}
	d0, n0 := delta(0)
	d1, n1 := delta(0.01)
	if math.Abs(n0-n1) > 1e-6*n0 || n0 < 0.02 {
		t.Fatalf("grad norms %g, %g", n0, n1)
	}
	// Δ ≈ -lr·(1-β1)·g·β1h/(sqrt(v̂)+eps) ≈ -lr·g/eps for eps ≫ g: the ratio is
	// the clip factor.
	want := 0.01 / n0
	var num, den float64
	for i := range d0 {
		num += float64(d1[i]) * float64(d0[i])
		den += float64(d0[i]) * float64(d0[i])
	}
	if ratio := num / den; math.Abs(ratio-want) > 1e-3*want {
		t.Errorf("clipped update / unclipped = %.6g, want %.6g", ratio, want)
	}
}

// TestBadInput: configuration and data errors are errors, not crashes.
func TestBadInput(t *testing.T) {
	path := sharedModel("stories260K.gguf")
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"rank 0", func(c *Config) { c.Rank = 0 }, "rank"},
		{"alpha 0", func(c *Config) { c.Alpha = 0 }, "alpha"},
		{"alpha<0", func(c *Config) { c.Alpha = -1 }, "alpha"},
		{"alpha NaN", func(c *Config) { c.Alpha = math.NaN() }, "alpha"},
		{"lr 0", func(c *Config) { c.LR = 0 }, "learning rate"},
		{"lr<0", func(c *Config) { c.LR = -1e-3 }, "learning rate"},
		{"unknown target", func(c *Config) { c.Targets = []string{"q", "wq"} }, `unknown target "wq"`},
		{"no targets", func(c *Config) { c.Targets = nil }, "no targets"},
		{"target rank 0", func(c *Config) { c.TargetRanks = map[string]int{"q": 0} }, "rank of q"},
		{"schedule", func(c *Config) { c.Schedule = "step" }, "schedule"},
		{"cosine without total", func(c *Config) { c.Schedule = "cosine" }, "TotalSteps"},
		{"beta", func(c *Config) { c.Beta2 = 1 }, "betas"},
		{"batch tokens", func(c *Config) { c.MaxSeqLen = 64; c.BatchTokens = 32 }, "BatchTokens"},
	} {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		tr, err := NewTrainer(path, cfg)
		if err == nil {
			tr.Close()
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}

	// A base model without one of the target tensors.
	dir := t.TempDir()
	noGate := filepath.Join(dir, "nogate.gguf")
	copyWithout(t, path, noGate, "blk.2.ffn_gate.weight")
	if _, err := NewTrainer(noGate, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "blk.2.ffn_gate.weight") {
		t.Errorf("base without blk.2.ffn_gate.weight: %v", err)
	}
	// Unsupported architecture.
	if _, err := NewTrainer(sharedModel("vocab/ggml-vocab-gpt-2.gguf"), DefaultConfig()); err == nil || !strings.Contains(err.Error(), "supported: llama") {
		t.Errorf("gpt2 vocabulary file: %v", err)
	}
	if _, err := NewTrainer(filepath.Join(dir, "missing.gguf"), DefaultConfig()); err == nil {
		t.Error("missing file: no error")
	}

	// Data errors.
	var warnings []string
	tr := newTestTrainer(t, path, func(c *Config) {
		c.MaxSeqLen = 16
		c.Logf = func(f string, a ...any) { warnings = append(warnings, f) }
	})
	if _, err := tr.Step([]Row{{Tokens: []int32{1, 2, 3}, Loss: []bool{false, true}}}); err == nil {
		t.Error("mismatched loss mask: no error")
	}
	if _, err := tr.Step([]Row{{Tokens: []int32{1, 600, 3}, Loss: []bool{false, true, true}}}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("token out of vocabulary: %v", err)
	}
	if _, err := tr.Eval([]Row{{Tokens: []int32{1, 5}, Loss: []bool{true, false}}}); err == nil {
		t.Error("Eval without labels: no error")
	}
	long := randomRows(rand.New(rand.NewPCG(1, 1)), 1, 40, 512)
	r, err := tr.Step(long)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated != 1 || r.Inputs != 16 || len(warnings) != 1 {
		t.Errorf("40-token row with MaxSeqLen 16: %+v, warnings %q", r, warnings)
	}

	// Corrupt and mismatched checkpoints leave the trainer unchanged.
	ck := filepath.Join(dir, "ck.gguf")
	if err := tr.SaveCheckpoint(ck); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	before := tr.params()
	for name, data := range map[string][]byte{
		"truncated": raw[:len(raw)/2],
		"garbage":   []byte("not a gguf file at all"),
		"header":    append(append([]byte(nil), raw[:8]...), make([]byte, 64)...),
	} {
		bad := filepath.Join(dir, name+".gguf")
		if err := os.WriteFile(bad, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tr.LoadCheckpoint(bad); err == nil {
			t.Errorf("%s checkpoint: no error", name)
		}
	}
	adapter := filepath.Join(dir, "adapter.gguf")
	if err := tr.ExportAdapter(adapter); err != nil {
		t.Fatal(err)
	}
	if err := tr.LoadCheckpoint(adapter); err == nil || !strings.Contains(err.Error(), "not a spectrum LoRA checkpoint") {
		t.Errorf("adapter as checkpoint: %v", err)
	}
	other := newTestTrainer(t, path, func(c *Config) { c.Rank = 8 })
	if err := other.LoadCheckpoint(ck); err == nil || !strings.Contains(err.Error(), "rank") {
		t.Errorf("checkpoint of rank 16 into rank 8: %v", err)
	}
	otherT := newTestTrainer(t, path, func(c *Config) { c.Targets = []string{"q", "v"} })
	if err := otherT.LoadCheckpoint(ck); err == nil || !strings.Contains(err.Error(), "targets") {
		t.Errorf("checkpoint with other targets: %v", err)
	}
	tiny := newTestTrainer(t, sharedModel("llama-2-tiny-random.gguf"), nil)
	if err := tiny.LoadCheckpoint(ck); err == nil {
		t.Error("checkpoint for another base: no error")
	}
	if !slices.Equal(before, tr.params()) {
		t.Error("failed loads changed the adapter")
	}
}

// copyWithout writes a copy of a GGUF without one tensor.
func copyWithout(t *testing.T, in, out, drop string) {
	t.Helper()
	f, err := models.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := models.NewWriter()
	if err := w.CopyMetadata(f, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.CopyTensors(f, func(ti models.TensorInfo) bool { return ti.Name != drop }); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
}
