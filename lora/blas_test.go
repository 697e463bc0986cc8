package lora

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models/synth"
)

// TestBLAS: with ggml's BLAS backend in the scheduler, losses and gradients
// equal those of ggml's CPU kernels up to float rounding, on an F32 base and
// on a Q8_0 base with DequantBackward (the CPU default for small models:
// every product then has F32 operands on both paths). Rows are long enough
// (48 tokens, two per micro-batch) that the products reach BLAS's 32-row
// minimum.
//
// Tolerance: both sides sum the same F32 products in different orders
// (OpenBLAS blocks k, ggml's kernels accumulate in 16-wide vectors), which
// moves each dot product by ~1e-7 relative; through two layers, softmax and
// the loss head, measured differences are ~1e-6 on gradients and ~1e-7 on
// losses; 1e-5 bounds both with margin and is far below any effect of a
// wrong product (a transposed operand or a missed accumulation changes
// gradients by O(1)).
func TestBLAS(t *testing.T) {
	if lib, err := llama.BLAS(); lib == "" {
		if testmodels.InCI() {
			t.Fatalf("no BLAS library (%v); CI installs OpenBLAS (libopenblas0)", err)
		}
		t.Skipf("no BLAS library: %v", err)
	}
	cfg := synth.Config{Arch: "llama", NEmbd: 256, NFF: 512, NLayer: 2, NHead: 4, NHeadKV: 2, Seed: 9, Std: 0.05, NVocab: 512}
	f32 := synthModel(t, cfg)
	q8 := filepath.Join(t.TempDir(), "q8_0.gguf")
	if err := llama.Quantize(f32, q8, "q8_0", llama.QuantizeParams{Threads: 1, Pure: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		dequant    bool
	}{{"f32", f32, false}, {"q8_0-dequant", q8, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 3))
			batches := [][]Row{randomRows(rng, 2, 48, 512), randomRows(rng, 2, 48, 512)}
			var grads [2][]float32
			var losses [2][]float64
			for k, noBLAS := range []bool{true, false} {
				tr := newTestTrainer(t, tc.path, func(c *Config) {
					c.Rank, c.NoBLAS, c.DequantBackward, c.MaxSeqLen, c.BatchTokens = 8, noBLAS, tc.dequant, 48, 96
				})
				if tr.BLAS() == noBLAS {
					t.Fatalf("NoBLAS %v: trainer reports BLAS %v", noBLAS, tr.BLAS())
				}
				tr.randomizeB(rand.New(rand.NewPCG(4, 4)), 0.02)
				var err error
				if _, grads[k], err = tr.gradient(batches[0]); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 4; i++ {
					r, err := tr.Step(batches[i%2])
					if err != nil {
						t.Fatal(err)
					}
					losses[k] = append(losses[k], r.Loss)
				}
			}
			var d, s float64
			for i := range grads[0] {
				d += math.Pow(float64(grads[0][i]-grads[1][i]), 2)
				s += math.Pow(float64(grads[0][i]), 2)
			}
			rel := math.Sqrt(d / s)
			t.Logf("|Δgrad|/|grad| BLAS vs ggml %.3g; losses ggml %v, BLAS %v", rel, losses[0], losses[1])
			if rel > 1e-5 || s == 0 {
				t.Errorf("gradients differ by %.3g (|grad|² %g)", rel, s)
			}
			for i := range losses[0] {
				if r := math.Abs(losses[0][i]-losses[1][i]) / losses[0][i]; r > 1e-5 {
					t.Errorf("step %d: loss %.7f with BLAS, %.7f without (rel %.2g)", i+1, losses[1][i], losses[0][i], r)
				}
			}
		})
	}
}
