package models

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// writeTestAdapter writes a rank-r adapter with random factors for the
// given kinds of every layer in layers of stories260K (llama: 8 heads, 4 K/V
// heads of 8 rows).
func writeTestAdapter(t *testing.T, path string, r int, layers []int, kinds []string) {
	t.Helper()
	base, err := Open(filepath.Join(sharedModels, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	w := NewWriter()
	for _, kv := range []KV{{Key: "general.architecture", Value: "llama"}, {Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: float32(2 * r)}} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(n uint64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, l := range layers {
		for _, k := range kinds {
			name := "blk." + string(rune('0'+l)) + "." + k + ".weight"
			bt, ok := base.Tensor(name)
			if !ok {
				t.Fatalf("no %s", name)
			}
			nIn, nOut := bt.Shape[0], bt.Shape[1]
			if err := w.AddF32(name+".lora_a", []uint64{nIn, uint64(r)}, randn(nIn*uint64(r))); err != nil {
				t.Fatal(err)
			}
			if err := w.AddF32(name+".lora_b", []uint64{uint64(r), nOut}, randn(nOut*uint64(r))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestPEFTRoundTrip: GGUF → PEFT → GGUF gives the same factors bit for bit;
// the PEFT side has PEFT's key names and shapes, the config the rank, alpha,
// modules and layers; the q and k factors B are in Hugging Face's row order
// (GGUF row 2i+j of a head is HF row j·d/2+i).
func TestPEFTRoundTrip(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(sharedModels, "stories260K.gguf")
	ad := filepath.Join(dir, "a.gguf")
	kinds := []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
	writeTestAdapter(t, ad, 4, []int{1, 3}, kinds)
	peft := filepath.Join(dir, "peft")
	if err := ExportPEFT(ad, "", peft); err == nil || !strings.Contains(err.Error(), "needs its base model (--base)") {
		t.Fatalf("llama export without a base: %v", err)
	}
	if err := ExportPEFT(ad, base, peft); err != nil {
		t.Fatal(err)
	}
	var cfg PEFTConfig
	raw, _ := os.ReadFile(filepath.Join(peft, PEFTConfigFile))
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	wantMods := []string{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}
	if cfg.PEFTType != "LORA" || cfg.R != 4 || cfg.LoRAAlpha != 8 || !slices.Equal(cfg.TargetModules, wantMods) ||
		!slices.Equal(cfg.LayersToTransform, []int{1, 3}) || cfg.UseDoRA || cfg.UseRSLoRA {
		t.Errorf("config %+v", cfg)
	}
	wraw, _ := os.ReadFile(filepath.Join(peft, PEFTWeightsFile))
	st, err := safetensors.Deserialize(wraw)
	if err != nil {
		t.Fatal(err)
	}
	if st.Len() != 2*7*2 {
		t.Errorf("%d tensors, want 28", st.Len())
	}
	kB, ok := st.Tensor("base_model.model.model.layers.3.self_attn.k_proj.lora_B.weight")
	qA, ok2 := st.Tensor("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")
	if !ok || !ok2 || !slices.Equal(kB.Shape(), []uint64{32, 4}) || !slices.Equal(qA.Shape(), []uint64{4, 64}) {
		t.Fatalf("k_proj B %v, q_proj A %v", kB.Shape(), qA.Shape())
	}
	// The permutation: K has 4 heads of d = 8 rows; HF row 1 (head 0, first
	// half, i = 1) is GGUF row 2, HF row 4 (second half, i = 0) GGUF row 1.
	g, _ := Open(ad)
	gb, _ := g.TensorFloats("blk.3.attn_k.weight.lora_b")
	g.Close()
	hb, _ := viewFloats(kB)
	for _, c := range []struct{ hf, gguf int }{{0, 0}, {1, 2}, {4, 1}, {9, 10}, {31, 31}} {
		if !slices.Equal(hb[c.hf*4:c.hf*4+4], gb[c.gguf*4:c.gguf*4+4]) {
			t.Errorf("HF row %d is not GGUF row %d", c.hf, c.gguf)
		}
	}
	back := filepath.Join(dir, "back.gguf")
	if err := ImportPEFT(peft, base, back); err != nil {
		t.Fatal(err)
	}
	f1, _ := Open(ad)
	defer f1.Close()
	f2, err := Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if len(f1.Tensors) != len(f2.Tensors) {
		t.Fatalf("%d tensors back, %d before", len(f2.Tensors), len(f1.Tensors))
	}
	for _, ti := range f1.Tensors {
		a, _ := f1.TensorData(ti.Name)
		b, err := f2.TensorData(ti.Name)
		if err != nil || !slices.Equal(a, b) {
			t.Errorf("%s: not bit-identical after the round trip (%v)", ti.Name, err)
		}
	}
	if alpha, _ := f2.Float("adapter.lora.alpha"); alpha != 8 {
		t.Errorf("alpha %v after the round trip", alpha)
	}
	// And PEFT → GGUF → PEFT gives the same safetensors.
	peft2 := filepath.Join(dir, "peft2")
	if err := ExportPEFT(back, base, peft2); err != nil {
		t.Fatal(err)
	}
	w2, _ := os.ReadFile(filepath.Join(peft2, PEFTWeightsFile))
	if !slices.Equal(wraw, w2) {
		t.Error("adapter_model.safetensors differs after PEFT → GGUF → PEFT")
	}
}

// TestPEFTRefusals: what a LoRA GGUF cannot hold, and malformed
// directories, are errors naming the reason.
func TestPEFTRefusals(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(sharedModels, "stories260K.gguf")
	ad := filepath.Join(dir, "a.gguf")
	writeTestAdapter(t, ad, 2, []int{0}, []string{"attn_q", "ffn_up"})
	good := filepath.Join(dir, "good")
	if err := ExportPEFT(ad, base, good); err != nil {
		t.Fatal(err)
	}
	weights, _ := os.ReadFile(filepath.Join(good, PEFTWeightsFile))
	for _, c := range []struct {
		name  string
		patch map[string]any
		want  string
	}{
		{"dora", map[string]any{"use_dora": true}, "DoRA"},
		{"rslora", map[string]any{"use_rslora": true}, "rsLoRA"},
		{"save", map[string]any{"modules_to_save": []string{"lm_head"}}, "modules_to_save"},
		{"pattern", map[string]any{"rank_pattern": map[string]int{"q_proj": 8}}, "rank_pattern"},
		{"ia3", map[string]any{"peft_type": "IA3"}, "only LORA"},
		{"rank", map[string]any{"r": 3}, "want [3, 64]"},
	} {
		d := filepath.Join(dir, c.name)
		os.MkdirAll(d, 0o755)
		var cfg map[string]any
		raw, _ := os.ReadFile(filepath.Join(good, PEFTConfigFile))
		json.Unmarshal(raw, &cfg)
		for k, v := range c.patch {
			cfg[k] = v
		}
		js, _ := json.Marshal(cfg)
		os.WriteFile(filepath.Join(d, PEFTConfigFile), js, 0o644)
		os.WriteFile(filepath.Join(d, PEFTWeightsFile), weights, 0o644)
		err := ImportPEFT(d, base, filepath.Join(dir, c.name+".gguf"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, c.name+".gguf")); err == nil {
			t.Errorf("%s: an output was written", c.name)
		}
	}
	// A truncated safetensors file and a missing directory.
	bad := filepath.Join(dir, "truncated")
	os.MkdirAll(bad, 0o755)
	cfgRaw, _ := os.ReadFile(filepath.Join(good, PEFTConfigFile))
	os.WriteFile(filepath.Join(bad, PEFTConfigFile), cfgRaw, 0o644)
	os.WriteFile(filepath.Join(bad, PEFTWeightsFile), weights[:len(weights)/2], 0o644)
	if err := ImportPEFT(bad, base, filepath.Join(dir, "t.gguf")); err == nil || !strings.Contains(err.Error(), PEFTWeightsFile) {
		t.Errorf("truncated weights: %v", err)
	}
	if err := ImportPEFT(filepath.Join(dir, "none"), base, filepath.Join(dir, "n.gguf")); err == nil || !strings.Contains(err.Error(), PEFTConfigFile) {
		t.Errorf("missing directory: %v", err)
	}
	// Embedding factors have no plain PEFT LoRA counterpart here.
	emb := filepath.Join(dir, "emb.gguf")
	w := NewWriter()
	for _, kv := range []KV{{Key: "general.architecture", Value: "llama"}, {Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: float32(4)}} {
		w.Set(kv.Key, kv.Value)
	}
	w.AddF32("token_embd.weight.lora_a", []uint64{2, 512}, make([]float32, 1024))
	w.AddF32("token_embd.weight.lora_b", []uint64{2, 64}, make([]float32, 128))
	if err := w.WriteFile(emb); err != nil {
		t.Fatal(err)
	}
	if err := ExportPEFT(emb, base, filepath.Join(dir, "embout")); err == nil || !strings.Contains(err.Error(), "no PEFT counterpart") {
		t.Errorf("embedding adapter: %v", err)
	}
}
