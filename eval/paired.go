package eval

// Paired comparisons of two models over the same units (rows, prompts,
// tasks): the mean difference, a bootstrap interval, a permutation p-value,
// and Holm's correction over a table of them.

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Resampling sizes and seeds of the paired statistics; fixed so that a
// report is reproducible.
const (
	BootstrapResamples   = 2000
	PermutationResamples = 10000
	// ExactPermutationMax is the largest number of units whose 2^n sign
	// patterns are all enumerated (the exact p-value); more units use
	// PermutationResamples random patterns.
	ExactPermutationMax = 16
	pairedSeed          = 0x5bec7
)

// PairedDiff is the paired comparison of one metric between a model and
// the first model of a comparison over the units both have.
type PairedDiff struct {
	Metric string `json:"metric"`      // as the markdown table names it, e.g. "steer urn loss_geq_1"
	Unit   string `json:"unit"`        // what is paired: "row", "task"
	Model  string `json:"model"`       // the compared model's label
	Index  int    `json:"model_index"` // its position in the result's models
	Ref    string `json:"reference"`
	N      int    `json:"n"` // units in both
	// Delta is mean(model − reference) over the units; Lo and Hi bound its
	// 95 % paired bootstrap percentile interval (NaN, null in JSON, for a
	// single unit).
	Delta Num `json:"delta"`
	Lo    Num `json:"ci_lo"`
	Hi    Num `json:"ci_hi"`
	// P is the two-sided p-value of the paired sign-flip permutation test
	// (H0: the differences are symmetric about 0); PHolm is P after Holm's
	// correction over every comparison of the result, and Holds reports
	// PHolm < 0.05.
	P     Num  `json:"p_value"`
	PHolm Num  `json:"p_holm"`
	Holds bool `json:"holds"`
}

// PairedBootstrap returns the 2.5 and 97.5 percentiles (numpy's linear
// interpolation) of the means of resamples bootstrap resamples of d (units
// drawn with replacement, PCG(seed)). A constant d gives [d, d].
func PairedBootstrap(d []float64, resamples int, seed uint64) (lo, hi float64) {
	n := len(d)
	if n == 0 || resamples < 1 {
		return math.NaN(), math.NaN()
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	means := make([]float64, resamples)
	for b := range means {
		var s float64
		for range n {
			s += d[r.IntN(n)]
		}
		means[b] = s / float64(n)
	}
	sort.Float64s(means)
	return percentileLinear(means, 0.025), percentileLinear(means, 0.975)
}

// SignFlipP is the two-sided p-value of the paired permutation test on the
// differences d: the share of sign patterns s for which |mean(s·d)| ≥
// |mean(d)|, the observed pattern included. With up to ExactPermutationMax
// units every pattern is enumerated (the exact test, as scipy's
// permutation_test with permutation_type="samples"); with more, resamples
// random patterns from PCG(seed) and p = (1 + hits) / (1 + resamples). All
// zero differences give 1.
func SignFlipP(d []float64, resamples int, seed uint64) float64 {
	n := len(d)
	if n == 0 {
		return math.NaN()
	}
	var obs float64
	for _, x := range d {
		obs += x
	}
	obs = math.Abs(obs)
	// Compare sums with a relative slack, as scipy does, so that patterns
	// equal to the observed one up to rounding count.
	tol := obs * 1e-12
	if n <= ExactPermutationMax {
		hits := 0
		for mask := 0; mask < 1<<n; mask++ {
			var s float64
			for i, x := range d {
				if mask&(1<<i) != 0 {
					s -= x
				} else {
					s += x
				}
			}
			if math.Abs(s) >= obs-tol {
				hits++
			}
		}
		return float64(hits) / float64(int(1)<<n)
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	hits := 0
	for range resamples {
		var s float64
		for _, x := range d {
			if r.Uint64()&1 != 0 {
				s -= x
			} else {
				s += x
			}
		}
		if math.Abs(s) >= obs-tol {
			hits++
		}
	}
	return float64(1+hits) / float64(1+resamples)
}

// Holm returns Holm's step-down adjusted p-values: with the p-values
// sorted ascending, p_(i) × (m − i + 1), made non-decreasing and capped at
// 1. NaN p-values are left out of m and stay NaN.
func Holm(ps []float64) []float64 {
	idx := make([]int, 0, len(ps))
	for i, p := range ps {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	out := make([]float64, len(ps))
	for i := range out {
		out[i] = math.NaN()
	}
	m, run := len(idx), 0.0
	for rank, i := range idx {
		run = math.Max(run, math.Min(1, ps[i]*float64(m-rank)))
		out[i] = run
	}
	return out
}

// Compare is the paired comparison of values (unit → value) of a model
// with those of the reference over the units both have; nil when they share
// none.
func Compare(metric, unit, model, ref string, values, refValues map[string]float64) *PairedDiff {
	keys := make([]string, 0, len(values))
	for k := range values {
		if _, ok := refValues[k]; ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	d := make([]float64, len(keys))
	var sum float64
	for i, k := range keys {
		d[i] = values[k] - refValues[k]
		sum += d[i]
	}
	lo, hi := math.NaN(), math.NaN() // no interval from one unit
	if len(d) > 1 {
		lo, hi = PairedBootstrap(d, BootstrapResamples, pairedSeed)
	}
	return &PairedDiff{Metric: metric, Unit: unit, Model: model, Ref: ref, N: len(d),
		Delta: Num(sum / float64(len(d))), Lo: Num(lo), Hi: Num(hi),
		P: Num(SignFlipP(d, PermutationResamples, pairedSeed))}
}

// AdjustHolm fills PHolm and Holds of every comparison (Holm over all of
// them: the family is the whole table).
func AdjustHolm(cs []*PairedDiff) {
	ps := make([]float64, len(cs))
	for i, c := range cs {
		ps[i] = float64(c.P)
	}
	for i, p := range Holm(ps) {
		cs[i].PHolm = Num(p)
		cs[i].Holds = p < 0.05
	}
}
