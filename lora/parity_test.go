package lora

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
)

const modelsDir = "../../shared/models"

func sharedModel(name string) string { return filepath.Join(modelsDir, name) }

// llamaLogits runs llama.cpp (our llama package, F32 KV cache) on ids with an
// optional adapter and returns all positions' logits.
func llamaLogits(t *testing.T, path, adapter string, ids []int32) []float32 {
	t.Helper()
	m, err := llama.LoadModel(path, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: 256, NBatch: 256, Threads: 1, KVType: "f32", LoRA: adapter != ""})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if adapter != "" {
		a, err := llama.LoadAdapter(m, adapter)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := c.SetAdapter(a, 1); err != nil {
			t.Fatal(err)
		}
		defer c.ClearAdapters()
	}
	b, err := llama.NewBatch(len(ids), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, id := range ids {
		b.Add(id, int32(i), []int32{0}, true)
	}
	if err := c.Decode(b); err != nil {
		t.Fatal(err)
	}
	var out []float32
	for i := range ids {
		lg, err := c.Logits(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lg...)
	}
	return out
}

// relDiff is max|a-b| / max|b|.
func relDiff(a, b []float32) (float64, float64) {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	return d / s, s
}

func testIDs(n, vocab int, seed int) []int32 {
	ids := make([]int32, n)
	ids[0] = 1
	x := uint32(seed*2654435761 + 12345)
	for i := 1; i < n; i++ {
		x = x*1664525 + 1013904223
		ids[i] = int32(3 + int(x>>8)%(vocab-3))
	}
	return ids
}

func newTestTrainer(t testing.TB, path string, mod func(*Config)) *Trainer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Threads = 1
	cfg.MaxSeqLen = 128
	if mod != nil {
		mod(&cfg)
	}
	tr, err := NewTrainer(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestForwardParity(t *testing.T) {
	for _, name := range []string{"stories260K.gguf", "llama-2-tiny-random.gguf"} {
		t.Run(name, func(t *testing.T) {
			path := sharedModel(name)
			tr := newTestTrainer(t, path, nil)
			ids := testIDs(40, tr.VocabSize(), 1)
			got, err := tr.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			want := llamaLogits(t, path, "", ids)
			if len(got) != len(want) {
				t.Fatalf("got %d logits, want %d", len(got), len(want))
			}
			rel, scale := relDiff(got, want)
			t.Logf("%s: max |Δlogit| / max|logit| = %.3g (scale %.3g)", name, rel, scale)
			if rel > 1e-3 {
				t.Errorf("logits differ from llama.cpp by %.3g relative", rel)
			}
		})
	}
}
