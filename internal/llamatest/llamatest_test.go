package llamatest

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

const stories = "../../../shared/models/stories260K.gguf"

func TestRelMaxDiff(t *testing.T) {
	a, b := []float32{1, -2, 3}, []float32{1.5, -2, -4}
	if got := RelMaxDiff(a, b); got != 7.0/4 {
		t.Errorf("RelMaxDiff = %g, want 1.75", got)
	}
	if got := MaxAbs(b); got != 4 {
		t.Errorf("MaxAbs = %g, want 4", got)
	}
	if got := RelMaxDiff(b, b); got != 0 {
		t.Errorf("RelMaxDiff(b, b) = %g", got)
	}
}

// TestAdapterLogits: WriteAdapter's adapter has llama.cpp's shapes (it
// loads and changes the logits); at scale 0 it changes nothing; Logits of a
// prompt equals TokenLogits of its tokens.
func TestAdapterLogits(t *testing.T) {
	targets := AdaptableTensors(t, stories)
	if !slices.Contains(targets, models.TensorTokenEmbd) || !slices.Contains(targets, "blk.0.attn_q.weight") || slices.Contains(targets, "blk.0.attn_norm.weight") {
		t.Fatalf("AdaptableTensors = %v", targets)
	}
	ad := filepath.Join(t.TempDir(), "a.gguf")
	WriteAdapter(t, stories, ad, AdapterSpec{Alpha: 8, Rank: 4, Targets: targets, Std: 0.1, Seed: [2]uint64{1, 2}})
	f, err := models.Open(ad)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := f.String("general.architecture")
	f.Close()
	if arch != "llama" {
		t.Errorf("general.architecture = %q", arch)
	}

	const prompt = "Once upon a time"
	base := Logits(t, stories, nil, prompt)
	if d := RelMaxDiff(Logits(t, stories, []Adapter{{Path: ad, Scale: 1}}, prompt), base); d < 0.01 {
		t.Errorf("the adapter changes the logits by %.3g relative", d)
	}
	if d := RelMaxDiff(Logits(t, stories, []Adapter{{Path: ad, Scale: 0}}, prompt), base); d > 1e-6 {
		t.Errorf("the adapter at scale 0 changes the logits by %.3g relative", d)
	}
	m, err := llama.LoadModel(stories, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := m.Tokenize(prompt, true, true)
	nVocab := m.NVocab()
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := TokenLogits(t, stories, nil, toks); !slices.Equal(got, base) || len(got) != len(toks)*nVocab {
		t.Errorf("TokenLogits of the prompt's %d tokens: %d logits, not Logits'", len(toks), len(got))
	}
}
