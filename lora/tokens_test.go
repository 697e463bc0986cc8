package lora

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

// randomizeRows sets the token rows' deltas to N(0, std²), so that every
// gradient path (input and output) is exercised away from zero.
func (t *Trainer) randomizeRows(rng *rand.Rand, std float64) {
	for _, d := range []tensor{t.rows.in, t.rows.out} {
		if d == nil {
			continue
		}
		x := make([]float32, nbytes(d)/4)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
		setF32(d, x)
	}
}

// TestTokenRows: trainable token rows on an untied (llama) and a tied
// (gemma3) synthetic model: finite-difference gradients of the input and
// output deltas, the same gradient layer by layer (Checkpointing), a
// checkpoint round trip, and the exported adapter in llama.cpp (untied: LoRA
// pairs it loads; tied: refused with the merge hint, and the merged model
// matching the trainer).
func TestTokenRows(t *testing.T) {
	for _, arch := range []string{"llama", "gemma3"} {
		t.Run(arch, func(t *testing.T) {
			path := synthModel(t, tinyConfig(arch))
			rng := rand.New(rand.NewPCG(21, 21))
			rows := randomRows(rng, 2, 16, 200)
			// Two ids that occur as inputs, one that never does.
			ids := []int32{rows[0].Tokens[3], rows[1].Tokens[5], 250}
			mod := func(c *Config) { c.Rank = 4; c.LR = 1e-2; c.TrainTokens = ids }
			tr := newTestTrainer(t, path, mod)
			got, tied := tr.TrainTokens()
			if want := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) || tied != (arch == "gemma3") {
				t.Fatalf("TrainTokens() = %v tied %v", got, tied)
			}
			base := tinyConfigParams(t, path, arch)
			if n := tr.NumParams() - base; n != 3*64*map[bool]int{true: 1, false: 2}[tied] {
				t.Errorf("token rows add %d parameters", n)
			}
			tr.randomizeB(rng, 0.05)
			tr.randomizeRows(rng, 0.05)

			loss, grads, err := tr.Gradient(rows)
			if err != nil {
				t.Fatal(err)
			}
			names := []string{TokenRowsIn}
			if !tied {
				names = append(names, TokenRowsOut)
			}
			for _, name := range names {
				tt, _ := tr.findState(name)
				checkDirection(t, tr, rng, rows, tt, grads[name], name, 1e-2)
			}
			// The column of the id that never is an input still gets an output
			// gradient (its logit is in every softmax); tied or not, the
			// input-only columns of an untied model's in-delta for it are 0.
			if !tied {
				k := slices.Index(tr.rows.ids, 250)
				col := grads[TokenRowsIn][k*64 : (k+1)*64]
				if slices.ContainsFunc(col, func(x float32) bool { return x != 0 }) {
					t.Error("the input delta of a token that is never an input has a gradient")
				}
			}

			// Layer by layer: the same loss and gradients.
			lt := newTestTrainer(t, path, func(c *Config) { mod(c); c.Checkpointing = true })
			copyState(t, tr, lt)
			l2, g2, err := lt.Gradient(rows)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(l2-loss) > 1e-5*math.Abs(loss) {
				t.Errorf("checkpointed loss %v, single graph %v", l2, loss)
			}
			for _, name := range names {
				// F32 sums in another order: 1e-4 of the largest component.
				if d, s := maxDiff(grads[name], g2[name]); d > 1e-4*s {
					t.Errorf("%s: checkpointed gradient differs by %.3g of %.3g", name, d, s)
				}
			}

			for i := 0; i < 3; i++ {
				if _, err := tr.Step(randomRows(rng, 2, 16, 200)); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			ck := filepath.Join(dir, "ck.gguf")
			if err := tr.SaveCheckpoint(ck); err != nil {
				t.Fatal(err)
			}
			other := newTestTrainer(t, path, mod)
			if err := other.LoadCheckpoint(ck); err != nil {
				t.Fatal(err)
			}
			sameRows(t, tr, other, names, 0, "the checkpoint round trip")
			plain := newTestTrainer(t, path, func(c *Config) { c.Rank = 4 })
			if err := plain.LoadCheckpoint(ck); err == nil || !strings.Contains(err.Error(), "token rows") {
				t.Errorf("a trainer without token rows loads the checkpoint: %v", err)
			}

			adapter := filepath.Join(dir, "a.gguf")
			if err := tr.ExportAdapter(adapter); err != nil {
				t.Fatal(err)
			}
			fresh := newTestTrainer(t, path, mod)
			if err := fresh.LoadAdapter(adapter); err != nil {
				t.Fatal(err)
			}
			sameRows(t, tr, fresh, names, 1e-6, "LoadAdapter") // the untied form is rescaled by K/alpha and back
			probe := testIDs(24, 200, 9)
			probe[4], probe[9] = ids[0], ids[1]
			want, err := tr.Logits(probe)
			if err != nil {
				t.Fatal(err)
			}
			var ref []float32
			if !tied {
				ref = llamatest.TokenLogits(t, path, []llamatest.Adapter{{Path: adapter, Scale: 1}}, probe)
			} else {
				m, err := llama.LoadModel(path, llama.ModelParams{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = llama.LoadAdapter(m, adapter)
				m.Close()
				if err == nil || !strings.Contains(err.Error(), "spectrum merge") {
					t.Fatalf("llama.LoadAdapter of tied token rows: %v", err)
				}
				merged := filepath.Join(dir, "merged.gguf")
				res, err := models.Merge(path, merged, models.MergeOptions{Adapters: []models.MergeAdapter{{Path: adapter, Scale: 1}}, Type: models.TypeF32})
				if err != nil {
					t.Fatal(err)
				}
				if res.Adapters[0].TokenRows != 3 {
					t.Errorf("merge reports %d token rows", res.Adapters[0].TokenRows)
				}
				ref = llamatest.TokenLogits(t, merged, nil, probe)
			}
			rel := llamatest.RelMaxDiff(want, ref)
			t.Logf("%s: trainer vs llama.cpp with the exported rows: %.3g", arch, rel)
			if rel > 1e-3 { // the forward parity bound of TestArchitectures
				t.Errorf("exported token rows: llama.cpp differs by %.3g", rel)
			}
			// Without the rows the logits differ: the test sees them.
			noRows := newTestTrainer(t, path, func(c *Config) { c.Rank = 4 })
			copyPairs(t, tr, noRows)
			without, _ := noRows.Logits(probe)
			if llamatest.RelMaxDiff(without, want) < 1e-2 {
				t.Error("the token rows hardly change the logits; the test would not see them")
			}
		})
	}
}

// tinyConfigParams is the LoRA parameter count of a rank-4 trainer on path.
func tinyConfigParams(t *testing.T, path, arch string) int {
	tr := newTestTrainer(t, path, func(c *Config) { c.Rank = 4 })
	return tr.NumParams()
}

// copyState copies every parameter of src into dst (same configuration).
func copyState(t *testing.T, src, dst *Trainer) {
	t.Helper()
	for _, ts := range src.stateTensors() {
		d, ok := dst.findState(ts.name)
		if !ok {
			t.Fatalf("no %s", ts.name)
		}
		setF32(d, getF32(ts.t))
	}
}

// copyPairs copies the LoRA factors of src into dst.
func copyPairs(t *testing.T, src, dst *Trainer) {
	t.Helper()
	for i, p := range src.pairs {
		setF32(dst.pairs[i].a, getF32(p.a))
		setF32(dst.pairs[i].b, getF32(p.b))
	}
}

// sameRows checks that b's token-row tensors equal a's to tol of the
// largest value (0: exactly).
func sameRows(t *testing.T, a, b *Trainer, names []string, tol float64, after string) {
	t.Helper()
	for _, name := range names {
		x, _ := a.findState(name)
		y, _ := b.findState(name)
		if d, s := maxDiff(getF32(x), getF32(y)); d > tol*s {
			t.Errorf("%s after %s differs by %.3g of %.3g", name, after, d, s)
		}
	}
}

func maxDiff(a, b []float32) (d, s float64) {
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		s = math.Max(s, math.Abs(float64(a[i])))
	}
	return d, s
}
