package llama

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/spectrumkit/spectrum/models"
)

// writeTestAdapter writes a rank-r LoRA adapter with random non-zero A and
// B for the q and v projections of every stories260K block.
func writeTestAdapter(t *testing.T, path string, r int, alpha float32) {
	t.Helper()
	w := models.NewWriter()
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"},
		{"general.type", "adapter"},
		{"adapter.type", "lora"},
		{"adapter.lora.alpha", alpha},
	} {
		if err := w.Set(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(n int, std float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * std)
		}
		return out
	}
	const nEmbd, nKV = 64, 32
	for l := 0; l < 5; l++ {
		for _, tgt := range []struct {
			name      string
			nIn, nOut uint64
		}{{"attn_q", nEmbd, nEmbd}, {"attn_v", nEmbd, nKV}} {
			base := "blk." + string(rune('0'+l)) + "." + tgt.name + ".weight"
			if err := w.AddF32(base+".lora_a", []uint64{tgt.nIn, uint64(r)}, randn(int(tgt.nIn)*r, 0.2)); err != nil {
				t.Fatal(err)
			}
			if err := w.AddF32(base+".lora_b", []uint64{uint64(r), tgt.nOut}, randn(r*int(tgt.nOut), 0.2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestLoRA: an adapter changes logits when attached; scale 0 and detaching
// restore the base logits exactly.
func TestLoRA(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	writeTestAdapter(t, path, 4, 8)
	m := loadModel(t, "stories260K.gguf", ModelParams{})
	a, err := LoadAdapter(m, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Meta()["adapter.lora.alpha"]; got != "8.000000" {
		t.Errorf("adapter.lora.alpha = %q", got)
	}
	c := newContext(t, m, ContextParams{NCtx: 256, LoRA: true})
	toks, _ := m.Tokenize("Once upon a time, there was a little girl", true, false)
	logits := func() []float32 {
		c.MemoryClear()
		b, _ := NewBatch(len(toks), 1)
		defer b.Close()
		b.AddSeq(toks, 0, 0, true)
		if err := c.Decode(b); err != nil {
			t.Fatal(err)
		}
		lg, _ := c.Logits(b.Len() - 1)
		return append([]float32(nil), lg...)
	}
	base := logits()
	if err := c.SetAdapter(a, 1); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(logits(), base); d < 1e-2 {
		t.Errorf("attached adapter changed logits by only %.3g", d)
	}
	if err := c.SetAdapter(a, 0); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(logits(), base); d != 0 {
		t.Errorf("scale 0: logits differ from base by %.3g", d)
	}
	if err := c.RemoveAdapter(a); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(logits(), base); d != 0 {
		t.Errorf("detached: logits differ from base by %.3g", d)
	}
	if err := c.RemoveAdapter(a); err == nil {
		t.Error("removing an adapter twice: no error")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAdapter(a, 1); err == nil {
		t.Error("attaching a closed adapter: no error")
	}

	// An adapter for another architecture's shapes is refused.
	other := loadModel(t, "llama-2-tiny-random.gguf", ModelParams{})
	if _, err := LoadAdapter(other, path); err == nil {
		t.Error("stories260K adapter loaded on llama-2-tiny-random")
	}
}

func TestAdapterNeedsLoRAContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	writeTestAdapter(t, path, 2, 4)
	m := loadModel(t, "stories260K.gguf", ModelParams{})
	a, err := LoadAdapter(m, path)
	if err != nil {
		t.Fatal(err)
	}
	c := newContext(t, m, ContextParams{NCtx: 256})
	if err := c.SetAdapter(a, 1); err == nil {
		t.Error("SetAdapter on a context without LoRA: no error")
	}
}
