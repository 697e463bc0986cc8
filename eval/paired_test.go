package eval

import (
	"math"
	"strings"
	"testing"
)

// TestCompareOneUnit: one shared unit gives a difference but no interval,
// and p = 1 (both sign patterns reach it): nothing can hold.
func TestCompareOneUnit(t *testing.T) {
	c := Compare("dist states js_divergence", "distinct row", "b", "a", map[string]float64{"x": 0.3}, map[string]float64{"x": 0.1})
	if math.Abs(float64(c.Delta)-0.2) > 1e-15 || !math.IsNaN(float64(c.Lo)) || !math.IsNaN(float64(c.Hi)) || c.P != 1 || c.N != 1 {
		t.Errorf("%+v", *c)
	}
	if got := fmtDiff(c); got != "Δ +0.2000 [one unit]" {
		t.Errorf("cell %q", got)
	}
}

func TestSignFlipP(t *testing.T) {
	// d = 1, 2, 3: of the 8 sign patterns only +++ and −−− reach |sum| 6.
	near(t, "exact p of 1,2,3", SignFlipP([]float64{1, 2, 3}, 0, 0), 2.0/8, 0)
	// d = 1, −1, 2, 0.5: sum 2.5; patterns with |±1 ±1 ±2 ±0.5| ≥ 2.5:
	// the 16 sums are ±0.5 … ±4.5; counted by hand: 8 of 16.
	near(t, "exact p of 1,-1,2,0.5", SignFlipP([]float64{1, -1, 2, 0.5}, 0, 0), 8.0/16, 0)
	// Nothing differs: p = 1, exactly and by sampling.
	near(t, "p of zeros", SignFlipP(make([]float64, 5), 0, 0), 1, 0)
	near(t, "p of 40 zeros", SignFlipP(make([]float64, 40), 500, 1), 1, 0)
	// 40 equal positive differences: only the all-+ and all-− patterns
	// reach the observed sum; sampled p = (1 + hits)/(1 + 10000) ≈ 1e-4.
	d := make([]float64, 40)
	for i := range d {
		d[i] = 0.3
	}
	if p := SignFlipP(d, PermutationResamples, 7); p > 2e-4 {
		t.Errorf("p of 40 equal shifts = %v", p)
	}
}

func TestPairedBootstrap(t *testing.T) {
	lo, hi := PairedBootstrap(make([]float64, 10), 500, 1)
	if lo != 0 || hi != 0 {
		t.Errorf("zeros: [%v, %v]", lo, hi)
	}
	// For many units the percentile interval approaches mean ± 1.96·sd/√n:
	// d = 0, 1 alternating (mean 0.5, sd 0.5): ±1.96·0.5/√400 = ±0.049.
	d := make([]float64, 400)
	for i := range d {
		d[i] = float64(i % 2)
	}
	lo, hi = PairedBootstrap(d, 4000, 3)
	// Monte Carlo error of a 2.5 % quantile of 4000 resamples: ~0.005.
	near(t, "lo", lo, 0.5-0.049, 0.008)
	near(t, "hi", hi, 0.5+0.049, 0.008)
}

func TestHolm(t *testing.T) {
	// Sorted 0.01, 0.03, 0.04 of m = 3: 0.03, max(0.03, 0.06), max(0.06, 0.04).
	got := Holm([]float64{0.01, 0.04, 0.03, math.NaN()})
	for i, want := range []float64{0.03, 0.06, 0.06} {
		near(t, "holm", got[i], want, 1e-15)
	}
	if !math.IsNaN(got[3]) {
		t.Errorf("NaN p-value adjusted to %v", got[3])
	}
	if got := Holm([]float64{0.5, 0.9}); got[0] != 1 || got[1] != 1 {
		t.Errorf("capped at 1: %v", got)
	}
}

// TestCompareReports: a report compared with a copy of itself differs by 0
// with p = 1 everywhere; a shifted copy by the shift, significant when the
// units agree on it.
func TestCompareReports(t *testing.T) {
	a, b, c := &Report{Model: "a.gguf"}, &Report{Model: "b.gguf"}, &Report{Model: "c.gguf"}
	for i := range 30 {
		key := string(rune('A' + i))
		v := float64(i%7) / 7
		a.addUnit("steer t loss_geq_1", "row", key, v)
		b.addUnit("steer t loss_geq_1", "row", key, v)
		c.addUnit("steer t loss_geq_1", "row", key, v+0.25+float64(i%3)*0.01)
	}
	c.addUnit("dist u js_divergence", "row", "0", 1) // a has no such metric: not compared
	cs := CompareReports([]*Report{a, b, c})
	if len(cs) != 2 {
		t.Fatalf("%d comparisons", len(cs))
	}
	if s := cs[0]; s.Model != "b" || s.Delta != 0 || s.Lo != 0 || s.Hi != 0 || s.P != 1 || s.PHolm != 1 || s.Holds || s.N != 30 {
		t.Errorf("self comparison %+v", *s)
	}
	if s := cs[1]; s.Model != "c" || s.Index != 2 || math.Abs(float64(s.Delta)-0.26) > 1e-12 || !(s.Lo > 0.25 && s.Hi < 0.27) || !s.Holds {
		t.Errorf("shifted comparison %+v", *s)
	}
	// Two compared models with the same label keep their own differences
	// in the table.
	c.Model = "b.gguf"
	for _, r := range []*Report{a, b, c} {
		r.Steer = map[string]*SteerResult{"t": {LossGeq1: 1}}
	}
	var md strings.Builder
	if err := WriteMarkdownCompared(&md, []*Report{a, b, c}, CompareReports([]*Report{a, b, c})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "(Δ +0.0000 [+0.0000, +0.0000]) | 1.0000 (Δ +0.2600") {
		t.Errorf("table:\n%s", md.String())
	}
}
