package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// params returns every LoRA value (A then B of each pair, in order).
func (t *Trainer) params() []float32 {
	var out []float32
	for _, p := range t.pairs {
		out = append(out, getF32(p.a)...)
		out = append(out, getF32(p.b)...)
	}
	return out
}

// grads returns the accumulated gradients in the order of params.
func (t *Trainer) grads() []float32 {
	var out []float32
	for _, p := range t.pairs {
		out = append(out, getF32(p.ga)...)
		out = append(out, getF32(p.gb)...)
	}
	return out
}

// randomizeB sets every B to N(0, std²) so that gradients of A are non-zero.
func (t *Trainer) randomizeB(rng *rand.Rand, std float64) {
	for _, p := range t.pairs {
		b := make([]float32, p.rank*p.nOut)
		for i := range b {
			b[i] = float32(rng.NormFloat64() * std)
		}
		setF32(p.b, b)
	}
}

// gradient runs the accumulation of one step without updating.
func (t *Trainer) gradient(rows []Row) (float64, []float32, error) {
	batches, nl, _, _, err := t.pack(rows)
	if err != nil {
		return 0, nil, err
	}
	var loss float64
	if err := t.accumulate(batches, nl, &loss); err != nil {
		return 0, nil, err
	}
	return loss, t.grads(), nil
}

// randomRows makes n rows of length ln with a random loss mask (about half
// the positions labelled).
func randomRows(rng *rand.Rand, n, ln, vocab int) []Row {
	rows := make([]Row, n)
	for r := range rows {
		row := Row{Tokens: make([]int32, ln), Loss: make([]bool, ln)}
		row.Tokens[0] = 1
		for i := 1; i < ln; i++ {
			row.Tokens[i] = int32(3 + rng.IntN(vocab-3))
			row.Loss[i] = rng.IntN(2) == 0
		}
		row.Loss[ln-1] = true
		rows[r] = row
	}
	return rows
}

// TestGradientFiniteDifferences compares autodiff with central differences
// along directions of single A and B tensors, on the F32 stories260K
// model with all seven targets.
func TestGradientFiniteDifferences(t *testing.T) {
	tr := newTestTrainer(t, sharedModel("stories260K.gguf"), func(c *Config) { c.Rank = 4 })
	rng := rand.New(rand.NewPCG(7, 7))
	tr.randomizeB(rng, 0.02)
	rows := randomRows(rng, 3, 24, tr.VocabSize())
	if n := checkGradients(t, tr, rng, rows, 3, 4e-2); n < 10 {
		t.Fatalf("only %d tensors checked", n)
	}
}

// checkGradients compares autodiff with central finite differences (one
// Richardson step) along a direction in every stride-th LoRA tensor and
// returns how many tensors it checked.
func checkGradients(t *testing.T, tr *Trainer, rng *rand.Rand, rows []Row, stride int, eps float64) int {
	t.Helper()
	_, grad, err := tr.gradient(rows)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets of each tensor within params/grads.
	type span struct {
		p      *pair
		isB    bool
		off, n int
	}
	var spans []span
	off := 0
	for _, p := range tr.pairs {
		spans = append(spans, span{p, false, off, p.nIn * p.rank})
		off += p.nIn * p.rank
		spans = append(spans, span{p, true, off, p.rank * p.nOut})
		off += p.rank * p.nOut
	}
	checked := 0
	for si := 0; si < len(spans); si += stride {
		s := spans[si]
		tt := s.p.a
		if s.isB {
			tt = s.p.b
		}
		checkDirection(t, tr, rng, rows, tt, grad[s.off:s.off+s.n], fmt.Sprintf("%s B=%v", s.p.base, s.isB), eps)
		checked++
	}
	return checked
}

// checkDirection compares the autodiff derivative of the loss of rows along
// a direction in parameter tensor tt (whose gradient is grad) with central
// finite differences (one Richardson step).
func checkDirection(t *testing.T, tr *Trainer, rng *rand.Rand, rows []Row, tt tensor, grad []float32, name string, eps float64) {
	t.Helper()
	orig := getF32(tt)
	n := len(orig)
	// Direction: the autodiff gradient plus an equally long random
	// vector, so that the derivative along it is never tiny.
	u := make([]float32, n)
	var gn, rn float64
	r := make([]float64, n)
	for i := range u {
		r[i] = rng.NormFloat64()
		rn += r[i] * r[i]
		gn += float64(grad[i]) * float64(grad[i])
	}
	var norm float64
	for i := range u {
		u[i] = float32(float64(grad[i])/math.Sqrt(gn) + r[i]/math.Sqrt(rn))
		norm += float64(u[i]) * float64(u[i])
	}
	var dir float64 // autodiff directional derivative g·u/|u|
	for i := range u {
		u[i] /= float32(math.Sqrt(norm))
		dir += float64(grad[i]) * float64(u[i])
	}
	eval := func(h float64) float64 {
		x := slices.Clone(orig)
		for i := range x {
			x[i] += float32(h * float64(u[i]))
		}
		setF32(tt, x)
		l, err := tr.Eval(rows)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// Central differences with one Richardson step (error O(eps⁴)).
	d1 := (eval(eps) - eval(-eps)) / (2 * eps)
	d2 := (eval(eps/2) - eval(-eps/2)) / eps
	fd := (4*d2 - d1) / 3
	setF32(tt, orig)
	rel := math.Abs(fd-dir) / math.Max(math.Abs(fd), 1e-4)
	t.Logf("%-34s autodiff %+.6f  finite-diff %+.6f  rel %.2g", name, dir, fd, rel)
	if rel > 1e-2 {
		t.Errorf("%s: autodiff %.6g vs finite differences %.6g (rel %.3g)", name, dir, fd, rel)
	}
}

// TestMaskedRowsChangeNothing: a step on rows without labelled tokens leaves
// the adapter and optimizer bit-for-bit unchanged.
func TestMaskedRowsChangeNothing(t *testing.T) {
	tr := newTestTrainer(t, sharedModel("stories260K.gguf"), func(c *Config) { c.LR = 1e-2; c.WeightDecay = 0.1 })
	rng := rand.New(rand.NewPCG(1, 1))
	// Move B away from zero first so that weight decay would show.
	if _, err := tr.Step(randomRows(rng, 2, 20, tr.VocabSize())); err != nil {
		t.Fatal(err)
	}
	before := tr.params()
	rows := randomRows(rng, 3, 20, tr.VocabSize())
	for i := range rows {
		clear(rows[i].Loss)
		rows[i].Loss[0] = true // position 0 never counts
	}
	res, err := tr.Step(rows)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Skipped || res.Tokens != 0 || res.Step != 1 {
		t.Errorf("fully masked step: %+v", res)
	}
	if !slices.Equal(before, tr.params()) {
		t.Error("a fully masked step changed the adapter")
	}
}

// TestMaskedLabelsIgnored: the token after the last labelled position is
// only a label, never an input of a scored prediction; when it is masked its
// value must not change the gradient at all.
func TestMaskedLabelsIgnored(t *testing.T) {
	tr := newTestTrainer(t, sharedModel("stories260K.gguf"), nil)
	rng := rand.New(rand.NewPCG(3, 3))
	tr.randomizeB(rng, 0.05)
	rows := randomRows(rng, 2, 20, tr.VocabSize())
	for i := range rows {
		rows[i].Loss[19] = false
		rows[i].Loss[18] = true
	}
	l1, g1, err := tr.gradient(rows)
	if err != nil {
		t.Fatal(err)
	}
	for trial := 0; trial < 3; trial++ {
		for i := range rows {
			rows[i].Tokens[19] = int32(3 + rng.IntN(tr.VocabSize()-3))
		}
		l2, g2, err := tr.gradient(rows)
		if err != nil {
			t.Fatal(err)
		}
		if l1 != l2 || !slices.Equal(g1, g2) {
			t.Fatalf("random masked labels changed loss %v → %v or the gradient", l1, l2)
		}
	}
}

// TestPackingInvariance: rows packed into one micro-batch or split over
// several (gradient accumulation) give the same loss and gradient, and the
// loss is the mean over labelled tokens of the whole step.
func TestPackingInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var rows []Row
	var g [2][]float32
	var l [2]float64
	for k, bt := range []int{256, 32} {
		tr := newTestTrainer(t, sharedModel("stories260K.gguf"), func(c *Config) { c.MaxSeqLen = 32; c.BatchTokens = bt })
		tr.randomizeB(rand.New(rand.NewPCG(9, 9)), 0.05)
		if rows == nil {
			rows = randomRows(rng, 5, 30, tr.VocabSize())
		}
		var err error
		l[k], g[k], err = tr.gradient(rows)
		if err != nil {
			t.Fatal(err)
		}
		// The mean over labelled tokens equals the labelled-token-weighted
		// mean of per-row losses.
		if k == 0 {
			var sum float64
			var n int
			for _, r := range rows {
				lr, err := tr.Eval([]Row{r})
				if err != nil {
					t.Fatal(err)
				}
				c := 0
				for _, b := range r.Loss[1:] {
					if b {
						c++
					}
				}
				sum += lr * float64(c)
				n += c
			}
			if d := math.Abs(sum/float64(n) - l[0]); d > 1e-5 {
				t.Errorf("step loss %.7f, per-row weighted mean %.7f", l[0], sum/float64(n))
			}
		}
	}
	if math.Abs(l[0]-l[1]) > 1e-5 {
		t.Errorf("loss packed %.7f vs accumulated %.7f", l[0], l[1])
	}
	var d, s float64
	for i := range g[0] {
		d = math.Max(d, math.Abs(float64(g[0][i]-g[1][i])))
		s = math.Max(s, math.Abs(float64(g[0][i])))
	}
	t.Logf("loss %.6f; max |Δgrad| %.3g of max |grad| %.3g", l[0], d, s)
	if d > 1e-4*s {
		t.Errorf("gradients differ: %.3g of %.3g", d, s)
	}
}
