package eval

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/spectrumkit/spectrum/format"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.12g, want %.12g", name, got, want)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{1, 2, 3, 4})
	near(t, "mean", float64(s.Mean), 2.5, 1e-12)
	near(t, "std", float64(s.Std), math.Sqrt(5.0/3), 1e-12) // ddof 1
	near(t, "sem", float64(s.Sem), math.Sqrt(5.0/3)/2, 1e-12)
	p := SummarizePop([]float64{1, 2, 3, 4})
	near(t, "pop std", float64(p.Std), math.Sqrt(1.25), 1e-12)
	near(t, "pop sem", float64(p.Sem), math.Sqrt(1.25)/2, 1e-12)
	one := Summarize([]float64{7})
	if float64(one.Mean) != 7 || !math.IsNaN(float64(one.Sem)) {
		t.Errorf("one value: %+v", one)
	}
	b, err := json.Marshal(one)
	if err != nil || string(b) != `{"mean":7,"std":null,"sem":null,"n":1}` {
		t.Errorf("JSON of one value: %s %v", b, err)
	}
}

func TestCompareDistributions(t *testing.T) {
	// Values computed by hand (python, natural logs, ε = 1e-6 smoothing).
	m, err := CompareDistributions([]float64{0.5, 0.5, 0}, []float64{0.25, 0.75, 0}, Epsilon)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "KL", m.KL, 0.14384022572173039, 1e-12)
	near(t, "reverse KL", m.ReverseKL, 0.13081135582566353, 1e-12)
	near(t, "JS", m.JS, 0.03382189480060578, 1e-12)
	near(t, "cross-entropy", m.CrossEntropy, 0.8370015286051861, 1e-12)
	if m.ModeMatch != 0 { // argmax p = 0 (first maximum), argmax q = 1

		t.Errorf("mode match of argmax 0 vs 1 = %v", m.ModeMatch)
	}
	d, _ := CompareDistributions([]float64{1, 0}, []float64{0, 1}, Epsilon)
	near(t, "disjoint KL", d.KL, 13.81548392699592, 1e-9)
	near(t, "disjoint JS", d.JS, 0.6931323650775184, 1e-12)
	near(t, "disjoint CE", d.CrossEntropy, 13.815498742478347, 1e-9)
	same, _ := CompareDistributions([]float64{0.2, 0.8}, []float64{0.2, 0.8}, Epsilon)
	if same.KL != 0 || same.JS > 1e-15 || same.ModeMatch != 1 {
		t.Errorf("identical distributions: %+v", same)
	}
	if _, err := CompareDistributions([]float64{1}, []float64{0.5, 0.5}, Epsilon); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestNormalizeLogProbs(t *testing.T) {
	q, cov := NormalizeLogProbs([]float64{math.Log(0.2), math.Log(0.3)})
	near(t, "q0", q[0], 0.4, 1e-12)
	near(t, "q1", q[1], 0.6, 1e-12)
	near(t, "coverage", cov, 0.5, 1e-12)
	q, cov = NormalizeLogProbs([]float64{-2000, -2001})
	near(t, "underflow q0", q[0], 1/(1+math.Exp(-1)), 1e-12)
	if cov != 0 {
		t.Errorf("coverage of tiny masses = %g", cov)
	}
}

func TestAutoK(t *testing.T) {
	for _, c := range []struct {
		ms   []int
		k    int
		keep []int
		err  bool
	}{
		// k·#{m ≥ k}: 5, 8, 9, 4, 5 → k = 3.
		{ms: []int{1, 2, 3, 3, 5}, k: 3, keep: []int{2, 3, 4}},
		// 4, 8, 6, 8: the first maximum wins.
		{ms: []int{2, 2, 4, 4}, k: 2, keep: []int{0, 1, 2, 3}},
		// k* = 1 and fewer than 10 rows with m ≥ 2: error.
		{ms: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2}, err: true},
		// rows without labels (m = -1) never count.
		{ms: []int{-1, -1, 0}, err: true},
	} {
		k, keep, err := AutoK(c.ms)
		if c.err {
			if !errors.Is(err, ErrNoK) {
				t.Errorf("AutoK(%v) = %d, %v, %v; want ErrNoK", c.ms, k, keep, err)
			}
			continue
		}
		if err != nil || k != c.k || !reflect.DeepEqual(keep, c.keep) {
			t.Errorf("AutoK(%v) = %d, %v, %v; want %d, %v", c.ms, k, keep, err, c.k, c.keep)
		}
	}
	// k* = 1 with 10 rows of m ≥ 2 (40·1 > 10·2): k becomes 2, and the rows
	// kept are those chosen for k* = 1 (all 40), as get_example_k keeps them.
	ms := make([]int, 40)
	for i := range ms {
		ms[i] = 1
		if i%4 == 0 {
			ms[i] = 2
		}
	}
	k, keep, err := AutoK(ms)
	if err != nil || k != 2 || len(keep) != 40 {
		t.Errorf("k*=1 fallback: %d %v %v", k, keep, err)
	}
}

func TestMaxExampleIndexAndTruncate(t *testing.T) {
	loss := []bool{false, true, true, false, true, true, false, true, true}
	tk := format.Tokens{IDs: []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}, Loss: loss, ExampleIndex: format.ExampleIndices(loss)}
	// The last token is labelled: output 2 is cut off, m = 2 − 1.
	if m := maxExampleIndex(&tk); m != 1 {
		t.Errorf("m of a cut-off row = %d, want 1", m)
	}
	tk2 := tk
	tk2.Loss = append(append([]bool{}, loss...), false)
	tk2.IDs = append(append([]int32{}, tk.IDs...), 10)
	tk2.ExampleIndex = format.ExampleIndices(tk2.Loss)
	if m := maxExampleIndex(&tk2); m != 2 {
		t.Errorf("m of a complete row = %d, want 2", m)
	}
	cut := truncateAfter(tk2, 1)
	if !reflect.DeepEqual(cut.IDs, []int32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("truncateAfter(1) = %v", cut.IDs)
	}
}

func TestCollectAccuracies(t *testing.T) {
	type pos struct {
		ex   int
		logp float64
		am   bool
	}
	ps := []pos{
		{0, math.Log(0.5), true}, {0, math.Log(0.25), false}, {0, math.Log(0.5), true}, // output 0: one miss
		{1, math.Log(0.9), true}, {1, math.Log(0.8), true}, // output 1: all argmax
		{2, math.Log(0.1), false}, {2, math.Log(0.7), true}, // output 2: first token missed
	}
	rs := collect(10, func(yield func(int, float64, bool, []float64)) {
		for _, p := range ps {
			yield(p.ex, p.logp, p.am, []float64{0.3})
		}
	}, true)
	want := []OutputScore{
		{ExampleIndex: 0, Tokens: 3, Loss: -math.Log(0.5 * 0.25 * 0.5), FirstAcc: 1, Acc: 2.0 / 3, AllAcc: 0},
		{ExampleIndex: 1, Tokens: 2, Loss: -math.Log(0.9 * 0.8), FirstAcc: 1, Acc: 1, AllAcc: 1},
		{ExampleIndex: 2, Tokens: 2, Loss: -math.Log(0.1 * 0.7), FirstAcc: 0, Acc: 0.5, AllAcc: 0},
	}
	for i, w := range want {
		g := rs.Outputs[i]
		near(t, "loss", g.Loss, w.Loss, 1e-12)
		g.Loss = w.Loss
		near(t, "acc", g.Acc, w.Acc, 1e-12)
		g.Acc = w.Acc
		if g != w {
			t.Errorf("output %d = %+v, want %+v", i, g, w)
		}
	}
	if len(rs.Calib[0]) != 6 {
		t.Errorf("calibration points of output 0: %d, want 6", len(rs.Calib[0]))
	}
	agg := AggregateSteer(2, []RowScore{rs}, true)
	near(t, "loss_geq_1", float64(agg.LossGeq1), (want[1].Loss+want[2].Loss)/2, 1e-12)
	near(t, "all_acc", float64(agg.AllAcc), 1.0/3, 1e-12)
	near(t, "all_acc_geq_1", float64(agg.AllAccGeq1), 0.5, 1e-12)
	near(t, "first_acc", float64(agg.FirstAcc), 2.0/3, 1e-12)
	near(t, "loss_k (index k−1 = 1)", float64(agg.LossK), want[1].Loss, 1e-12)
	if len(agg.Curve) != 3 || agg.Curve[2].N != 1 || float64(agg.Curve[1].AllAcc) != 1 {
		t.Errorf("curve = %+v", agg.Curve)
	}
}

func TestECE(t *testing.T) {
	l := math.Log
	// The correct token at p = .005 is under the threshold and left out.
	// Pooled: .1(x) .2(x) .6(✓) .8(✓) .9(x); 2 bins with edges at the 0th,
	// 50th and 100th percentiles of log p: log .1, log .6 (the middle
	// point, exactly), log .9. Both bins hold .6 (edges are inclusive):
	// bin 1 {.1 .2 .6}: conf .3, acc 1/3; bin 2 {.6 .8 .9}: conf 2.3/3, acc 2/3.
	pts := []CalibPoint{{l(0.9), false}, {l(0.1), false}, {l(0.6), true}, {l(0.8), true}, {l(0.2), false}, {l(0.005), true}}
	want := (math.Abs(0.3-1.0/3) + math.Abs(2.3/3-2.0/3)) / 2
	near(t, "ECE", ECE(pts, 2), want, 1e-12)
	// 4 bins over 5 points: the edges are the points themselves, so the
	// bins are {.1 .2} {.2 .6} {.6 .8} {.8 .9}.
	want4 := (math.Abs(0.15-0) + math.Abs(0.4-0.5) + math.Abs(0.7-1) + math.Abs(0.85-0.5)) / 4
	near(t, "ECE 4 bins", ECE(pts, 4), want4, 1e-12)
	// More bins than points: n = 3 bins over 3 points, interpolated edges
	// at 1/3 and 2/3 of the way, one point per bin: ECE = mean |p − correct|.
	three := []CalibPoint{{l(0.1), false}, {l(0.5), true}, {l(0.7), false}}
	near(t, "ECE 10 bins over 3 points", ECE(three, 10), (0.1+0.5+0.7)/3, 1e-12)
	if !math.IsNaN(ECE(nil, 10)) || !math.IsNaN(ECE([]CalibPoint{{l(0.001), true}}, 10)) {
		t.Error("ECE of nothing above the threshold is not NaN")
	}
}

func TestCoverageMetrics(t *testing.T) {
	m := Coverage([]string{"a", "a", "b", "x"}, []bool{true, true, true, false}, 4)
	near(t, "percent_valid", float64(m.PercentValid), 0.75, 1e-12)
	near(t, "unique_gens_pct", float64(m.UniqueGensPct), 2.0/3, 1e-12)
	if m.UniqueValidCount != 2 {
		t.Errorf("unique_valid_count = %d", m.UniqueValidCount)
	}
	near(t, "usable_unique_pct", float64(m.UsableUniquePct), 0.5, 1e-12)
	near(t, "raw_unique_pct", float64(m.RawUniquePct), 0.75, 1e-12)
	near(t, "pairwise_collision", float64(m.PairwiseCollision), 1.0/3, 1e-12)
	near(t, "pairwise_uniqueness_sem", float64(m.PairwiseUniquenessSem), math.Sqrt(1.0/3*2.0/3/3), 1e-12)
	near(t, "coverage_pct", float64(*m.CoveragePct), 0.5, 1e-12)
	// Fewer than two valid generations: no pair, reported as the reference
	// does (collision 0, uniqueness 1, sem 0), not as missing.
	for _, valid := range [][]bool{{false, false}, {true, false}} {
		none := Coverage([]string{"x", "y"}, valid, 0)
		if none.UniqueGensPct != Num(boolInt(valid[0])) || none.CoveragePct != nil ||
			none.PairwiseCollision != 0 || none.PairwiseUniqueness != 1 || none.PairwiseUniquenessSem != 0 {
			t.Errorf("valid %v: %+v", valid, none)
		}
	}
	agg := AggregateCoverage(map[string]map[string]CoverageMetrics{
		"a": {VariantBoth: m}, "b": {VariantBoth: Coverage([]string{"x"}, []bool{false}, 0)},
	})
	near(t, "aggregate pairwise_uniqueness (tasks without a pair count as 1)",
		float64(agg[VariantBoth]["pairwise_uniqueness"].Mean), (2.0/3+1)/2, 1e-12)
}
