package lora

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/llama"
)

// coinRows builds colon-format rows of a biased coin-flip task: a
// description, then outputs " heads\n\n" (p=0.8) or " tails\n\n", with loss
// only on the outputs (segment-wise tokenization, BOS on the first segment).
func coinRows(t *testing.T, m *llama.Model, rng *rand.Rand, n, flips int) []Row {
	t.Helper()
	tok := func(s string, first bool) []int32 {
		ids, err := m.Tokenize(s, first, false)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	rows := make([]Row, n)
	for r := range rows {
		var row Row
		add := func(s string, loss, first bool) {
			for _, id := range tok(s, first) {
				row.Tokens = append(row.Tokens, id)
				row.Loss = append(row.Loss, loss)
			}
		}
		add("Description: Flip a biased coin.\n\n", false, true)
		for i := 0; i < flips; i++ {
			add("Output:", false, false)
			if rng.Float64() < 0.8 {
				add(" heads\n\n", true, false)
			} else {
				add(" tails\n\n", true, false)
			}
		}
		rows[r] = row
	}
	return rows
}

// TestLearning: LoRA on stories260K learns the coin-flip format and bias:
// the held-out masked loss falls clearly within 150 steps.
func TestLearning(t *testing.T) {
	path := sharedModel("stories260K.gguf")
	m, err := llama.LoadModel(path, llama.ModelParams{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(42, 42))
	train := coinRows(t, m, rng, 64, 4)
	held := coinRows(t, m, rand.New(rand.NewPCG(7, 7)), 16, 4)

	tr := newTestTrainer(t, path, func(c *Config) {
		c.Rank = 8
		c.Alpha = 16
		c.LR = 1e-2
		c.WarmupSteps = 10
		c.Schedule = "cosine"
		c.TotalSteps = 150
	})
	before, err := tr.Eval(held)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const steps, batch = 150, 4
	var last StepResult
	for s := 0; s < steps; s++ {
		i := (s * batch) % len(train)
		last, err = tr.Step(train[i : i+batch])
		if err != nil {
			t.Fatal(err)
		}
	}
	after, err := tr.Eval(held)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out masked loss %.4f → %.4f after %d steps (%d labelled tokens/step, last train loss %.4f) in %v",
		before, after, steps, last.Tokens, last.Loss, time.Since(start).Round(time.Millisecond))
	// Measured: 6.94 → 0.067 (the coin's entropy spread over the ~6 scored
	// tokens of an output is about 0.08 per token). Threshold with margin:
	if after > 0.3 || before < 3 {
		t.Errorf("held-out loss %.4f → %.4f: not learned", before, after)
	}
}
