package lora

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

// synthModel writes a synthetic model and then gives every bias and norm
// weight random values (synth writes zeros and ones), so that biases and
// q/k norms are exercised numerically.
func synthModel(t *testing.T, cfg synth.Config, extra ...models.KV) string {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.gguf")
	if err := synth.Write(raw, cfg); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, cfg.Arch+".gguf")
	f, err := models.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := models.NewWriter()
	if err := w.CopyMetadata(f, ""); err != nil {
		t.Fatal(err)
	}
	for _, kv := range extra {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 77))
	for _, ti := range f.Tensors {
		if strings.HasSuffix(ti.Name, ".bias") || strings.HasSuffix(ti.Name, "norm.weight") {
			v := make([]float32, ti.Elements())
			for i := range v {
				if strings.HasSuffix(ti.Name, ".bias") {
					v[i] = float32(rng.NormFloat64() * 0.5)
				} else {
					v[i] = float32(1 + rng.NormFloat64()*0.3)
				}
			}
			if err := w.AddF32(ti.Name, ti.Shape, v); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddRaw(ti.Name, ti.Type, ti.Shape, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func tinyConfig(arch string) synth.Config {
	if arch == "gemma3" {
		// Six layers: llama.cpp's default pattern makes 0–4 local and 5
		// global; a window of 8 is shorter than the test sequences, and
		// head_dim·n_head (128) differs from n_embd (64) as in Gemma.
		return synth.Config{Arch: arch, NEmbd: 64, NFF: 96, NLayer: 6, NHead: 4, NHeadKV: 2, HeadDim: 32,
			Seed: 3, Std: 0.1, SlidingWindow: 8, TiedOutput: true}
	}
	return synth.Config{Arch: arch, NEmbd: 64, NFF: 96, NLayer: 2, NHead: 4, NHeadKV: 2, Seed: 3, Std: 0.1}
}

// TestArchitectures: forward parity with llama.cpp, export parity after
// training, and finite-difference gradients for each supported
// architecture on synthetic F32 models.
func TestArchitectures(t *testing.T) {
	// "-mqa": one K/V head (as Gemma 3 270M and 1B), where attention runs
	// as 2-D products over all heads.
	for _, name := range []string{"llama", "qwen2", "qwen3", "gemma3", "gemma3-softcap", "gemma3-mqa", "llama-mqa"} {
		t.Run(name, func(t *testing.T) {
			arch, _, _ := strings.Cut(name, "-")
			var extra []models.KV
			if name == "gemma3-softcap" {
				// Gemma 3 files normally have none; llama.cpp applies it when set.
				extra = append(extra, models.KV{Key: "gemma3.final_logit_softcapping", Value: float32(3)})
			}
			cfg := tinyConfig(arch)
			if strings.HasSuffix(name, "-mqa") {
				cfg.NHeadKV = 1
			}
			path := synthModel(t, cfg, extra...)
			tr := newTestTrainer(t, path, func(c *Config) { c.Rank = 4; c.LR = 1e-2 })
			if arch == "gemma3" {
				local := 0
				for _, b := range tr.hp.swa {
					if b {
						local++
					}
				}
				if local != 5 || tr.hp.swa[5] || tr.hp.ropeBaseL[0] != 10000 || tr.hp.ropeBaseL[5] != 1e6 {
					t.Fatalf("gemma3 layout: swa %v, rope bases %v", tr.hp.swa, tr.hp.ropeBaseL)
				}
			}
			ids := testIDs(24, tr.VocabSize(), 5)
			got, err := tr.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			want := llamatest.TokenLogits(t, path, nil, ids)
			rel, scale := llamatest.RelMaxDiff(got, want), llamatest.MaxAbs(want)
			t.Logf("%s: forward vs llama.cpp %.3g (logit scale %.3g)", name, rel, scale)
			if rel > 1e-3 {
				t.Errorf("forward parity %.3g", rel)
			}

			rng := rand.New(rand.NewPCG(8, 8))
			tr.randomizeB(rng, 0.05)
			rows := randomRows(rng, 2, 16, tr.VocabSize())
			stride := 2
			if arch == "gemma3" {
				stride = 5 // 84 tensors; every 5th still covers each target and both A and B
			}
			checkGradients(t, tr, rng, rows, stride, 1e-2)

			for i := 0; i < 3; i++ {
				if _, err := tr.Step(randomRows(rng, 2, 16, tr.VocabSize())); err != nil {
					t.Fatal(err)
				}
			}
			adapter := filepath.Join(t.TempDir(), "a.gguf")
			if err := tr.ExportAdapter(adapter); err != nil {
				t.Fatal(err)
			}
			got, _ = tr.Logits(ids)
			rel = llamatest.RelMaxDiff(got, llamatest.TokenLogits(t, path, []llamatest.Adapter{{Path: adapter, Scale: 1}}, ids))
			t.Logf("%s: export parity %.3g", name, rel)
			if rel > 1e-3 {
				t.Errorf("export parity %.3g", rel)
			}
		})
	}
}

// TestQuantizedBases: on a llama model whose widths are multiples of 256,
// quantized with llama.cpp to Q8_0, Q4_0 and Q4_K (every matrix), the
// training graph keeps the stored types, matches llama.cpp on the same file,
// trains (loss falls on a repeated batch) and its exported adapter matches
// llama.cpp too.
func TestQuantizedBases(t *testing.T) {
	llamaCfg := synth.Config{Arch: "llama", NEmbd: 256, NFF: 512, NLayer: 2, NHead: 4, NHeadKV: 2, Seed: 4, Std: 0.05, NVocab: 512}
	gemmaCfg := synth.Config{Arch: "gemma3", NEmbd: 256, NFF: 512, NLayer: 6, NHead: 4, NHeadKV: 2, HeadDim: 64, Seed: 4, Std: 0.05,
		NVocab: 512, SlidingWindow: 8, TiedOutput: true}
	f32 := map[string]string{"llama": synthModel(t, llamaCfg), "gemma3": synthModel(t, gemmaCfg)}
	for _, q := range []struct {
		arch, name string
		typ        models.GGMLType
	}{
		{"llama", "q8_0", models.TypeQ8_0}, {"llama", "q4_0", models.TypeQ4_0}, {"llama", "q4_k", models.TypeQ4_K},
		{"gemma3", "q8_0", models.TypeQ8_0}, {"gemma3", "q4_k", models.TypeQ4_K},
	} {
		t.Run(q.arch+"/"+q.name, func(t *testing.T) {
			// gemma3: our exact (composed) GELU-tanh against llama.cpp's CPU
			// GEGLU, which reads GELU from an F16 table, differs by ~3e-4 in
			// F32, but the CPU's quantized matmuls, which quantize their
			// activations, turn that into ~2% of the logit scale on Q8_0
			// (with ggml's table GELU in our graph the Q8_0 difference is
			// exactly 0, measured): allow 5e-2 for gemma3.
			tol, tolQ8 := 2e-2, 1e-3
			if q.arch == "gemma3" {
				tol, tolQ8 = 5e-2, 5e-2
			}
			path := filepath.Join(t.TempDir(), q.name+".gguf")
			if err := llama.Quantize(f32[q.arch], path, q.name, llama.QuantizeParams{Threads: 1, Pure: true}); err != nil {
				t.Fatal(err)
			}
			tr := newTestTrainer(t, path, func(c *Config) { c.Rank = 8; c.LR = 3e-3 })
			for _, name := range []string{"token_embd.weight", "blk.0.attn_q.weight", "blk.1.ffn_down.weight", "output.weight"} {
				if tr.w.t[name] == nil && name == "output.weight" && q.arch == "gemma3" {
					continue // tied
				}
				if got := models.GGMLType(tr.w.t[name]._type); got != q.typ {
					t.Errorf("%s held as %s, want %s", name, got, q.typ)
				}
			}
			ids := testIDs(24, tr.VocabSize(), 6)
			got, err := tr.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			// With B = 0 our logits differ from llama.cpp's on Q4_0/Q4_K by
			// up to ~1% of the logit scale (measured 0.92% Q4_0, 0.18% Q4_K,
			// 0 for Q8_0), although after training, with B ≠ 0, llama.cpp
			// with the exported adapter reproduces them bit for bit (below);
			// the cause is on llama.cpp's side and not understood yet. The
			// quantization error itself is ~40% of the logit scale here.
			want := llamatest.TokenLogits(t, path, nil, ids)
			rel, scale := llamatest.RelMaxDiff(got, want), llamatest.MaxAbs(want)
			t.Logf("%s/%s: forward (B = 0) vs llama.cpp %.3g (logit scale %.3g)", q.arch, q.name, rel, scale)
			if rel > tol || (q.typ == models.TypeQ8_0 && rel > tolQ8) {
				t.Errorf("forward parity %.3g", rel)
			}
			rows := randomRows(rand.New(rand.NewPCG(9, 9)), 2, 24, tr.VocabSize())

			// DequantBackward (in-graph dequantization to F32, the CUDA path)
			// computes the gradient of an F32 file of the same dequantized
			// weights.
			var gr [2][]float32
			for k, p := range []string{path, dequantizedCopy(t, path)} {
				tk := newTestTrainer(t, p, func(c *Config) { c.Rank = 8; c.DequantBackward = k == 0 })
				tk.randomizeB(rand.New(rand.NewPCG(5, 5)), 0.02)
				var err error
				if _, gr[k], err = tk.gradient(rows); err != nil {
					t.Fatal(err)
				}
				tk.Close()
			}
			var d, s float64
			for i := range gr[0] {
				d += math.Pow(float64(gr[0][i]-gr[1][i]), 2)
				s += math.Pow(float64(gr[1][i]), 2)
			}
			t.Logf("%s/%s: DequantBackward gradient vs the dequantized F32 file %.3g", q.arch, q.name, math.Sqrt(d/s))
			if math.Sqrt(d/s) > 1e-5 {
				t.Errorf("DequantBackward gradient differs from the F32 file's by %.3g", math.Sqrt(d/s))
			}

			var first, last float64
			for i := 0; i < 10; i++ {
				r, err := tr.Step(rows)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = r.Loss
				}
				last = r.Loss
			}
			t.Logf("%s/%s: loss on a repeated batch %.4f → %.4f in 10 steps", q.arch, q.name, first, last)
			if !(last < first-0.05) {
				t.Errorf("loss did not fall: %.4f → %.4f", first, last)
			}
			adapter := filepath.Join(t.TempDir(), "a.gguf")
			if err := tr.ExportAdapter(adapter); err != nil {
				t.Fatal(err)
			}
			got, _ = tr.Logits(ids)
			rel = llamatest.RelMaxDiff(got, llamatest.TokenLogits(t, path, []llamatest.Adapter{{Path: adapter, Scale: 1}}, ids))
			t.Logf("%s/%s: export parity %.3g", q.arch, q.name, rel)
			// Both sides run the CPU's quantized kernels here, which round
			// activations to 8 bits: a 1e-7 difference in an input (the two
			// graphs sum in other orders) can flip a rounding and move a logit
			// by ~1e-3 of the scale, and whether that happens depends on the
			// adapter the run trained (llama/q4_k measured: 1.5e-7 after
			// training on ggml's kernels or OpenBLAS, 2.6e-3 after oneMKL,
			// whose products round differently). Q8_0 stays within 1e-3.
			// gemma3 keeps its forward tolerance (the F16-table GELU above).
			exportTol := tol
			if q.arch != "gemma3" {
				exportTol = 1e-2
				if q.typ == models.TypeQ8_0 {
					exportTol = 1e-3
				}
			}
			if rel > exportTol {
				t.Errorf("export parity %.3g", rel)
			}
		})
	}
}

// TestGemma3Layout: the sliding-window layout and RoPE bases from the GGUF:
// llama.cpp's defaults (every 6th layer global, local base 10000), the newer
// attention.sliding_window_pattern (a period or per-layer bools) and
// rope.freq_base_swa keys, and no sliding window at all.
func TestGemma3Layout(t *testing.T) {
	cfg := tinyConfig("gemma3")
	cases := []struct {
		name  string
		extra []models.KV
		swa   []bool
		base  float32 // local layers' RoPE base
	}{
		{"default", nil, []bool{true, true, true, true, true, false}, 10000},
		{"period 3", []models.KV{{Key: "gemma3.attention.sliding_window_pattern", Value: uint32(3)},
			{Key: "gemma3.rope.freq_base_swa", Value: float32(5000)}}, []bool{true, true, false, true, true, false}, 5000},
		{"bools", []models.KV{{Key: "gemma3.attention.sliding_window_pattern", Value: []bool{false, true, false, true, false, true}}},
			[]bool{false, true, false, true, false, true}, 10000},
		{"no window", []models.KV{{Key: "gemma3.attention.sliding_window", Value: uint32(0)}}, make([]bool, 6), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTestTrainer(t, synthModel(t, cfg, c.extra...), nil)
			hp := tr.hp
			for l, local := range c.swa {
				want := float32(1e6)
				if local {
					want = c.base
				}
				if hp.swa[l] != local || hp.ropeBaseL[l] != want {
					t.Errorf("layer %d: local %v base %g, want %v %g", l, hp.swa[l], hp.ropeBaseL[l], local, want)
				}
			}
			if _, err := tr.Logits(testIDs(12, tr.VocabSize(), 2)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
