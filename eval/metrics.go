package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// Num is a float64 that is written to JSON as null when it is NaN or
// infinite (e.g. the standard error of a single value), since JSON has no NaN.
type Num float64

// MarshalJSON writes n, or null when n is not finite.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%v", f)), nil
}

// UnmarshalJSON reads a number or null (NaN).
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if _, err := fmt.Sscan(string(b), &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Stats is the mean, standard deviation and standard error of the mean of a
// set of values.
type Stats struct {
	Mean Num `json:"mean"`
	Std  Num `json:"std"`
	Sem  Num `json:"sem"`
	N    int `json:"n"`
}

// Summarize returns the mean, the sample standard deviation (ddof = 1, as
// pandas' std and sem, which the reference's steerability and distributional
// evaluations log) and sem = std/√n. With no values every field is NaN; with
// one value std and sem are NaN.
func Summarize(x []float64) Stats {
	n := len(x)
	if n == 0 {
		nan := Num(math.NaN())
		return Stats{Mean: nan, Std: nan, Sem: nan}
	}
	if n == 1 {
		nan := Num(math.NaN())
		return Stats{Mean: Num(x[0]), Std: nan, Sem: nan, N: 1}
	}
	mean, std := stat.MeanStdDev(x, nil)
	return Stats{Mean: Num(mean), Std: Num(std), Sem: Num(stat.StdErr(std, float64(n))), N: n}
}

// SummarizePop is Summarize with the population standard deviation (ddof =
// 0), as the reference's coverage aggregates across tasks use (np.std).
func SummarizePop(x []float64) Stats {
	n := len(x)
	if n == 0 {
		nan := Num(math.NaN())
		return Stats{Mean: nan, Std: nan, Sem: nan}
	}
	mean, std := stat.PopMeanStdDev(x, nil)
	return Stats{Mean: Num(mean), Std: Num(std), Sem: Num(stat.StdErr(std, float64(n))), N: n}
}

// Epsilon is the smoothing the distributional metrics apply to both
// distributions (reference §5.3).
const Epsilon = 1e-6

// Smooth returns (p+ε)/Σ(p+ε).
func Smooth(p []float64, eps float64) []float64 {
	out := make([]float64, len(p))
	var s float64
	for i, v := range p {
		out[i] = v + eps
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// DistMetrics are the per-row distributional alignment metrics (natural logs)
// between the target distribution p and the model's q.
type DistMetrics struct {
	KL           float64 `json:"kl"`
	ReverseKL    float64 `json:"reverse_kl"`
	JS           float64 `json:"js_divergence"`
	CrossEntropy float64 `json:"cross_entropy"`
	ModeMatch    float64 `json:"mode_match"`
}

// CompareDistributions smooths p and q with ε (Smooth) and computes KL(p‖q),
// KL(q‖p), the Jensen–Shannon divergence (at most ln 2), the cross-entropy
// −Σ p ln q and mode match 1[argmax p = argmax q] (first maximum of each,
// as numpy's argmax).
func CompareDistributions(p, q []float64, eps float64) (DistMetrics, error) {
	if len(p) != len(q) || len(p) == 0 {
		return DistMetrics{}, fmt.Errorf("eval: distributions of lengths %d and %d", len(p), len(q))
	}
	ps, qs := Smooth(p, eps), Smooth(q, eps)
	m := DistMetrics{
		KL:           stat.KullbackLeibler(ps, qs),
		ReverseKL:    stat.KullbackLeibler(qs, ps),
		JS:           stat.JensenShannon(ps, qs),
		CrossEntropy: stat.CrossEntropy(ps, qs),
	}
	if argmax(p) == argmax(q) {
		m.ModeMatch = 1
	}
	return m, nil
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// NormalizeLogProbs turns candidate log-probabilities log q̃ into the
// normalized distribution q = q̃/Σq̃ and the coverage Σq̃ (the probability
// mass the candidates hold), computed stably in log space.
func NormalizeLogProbs(logq []float64) (q []float64, coverage float64) {
	mx := math.Inf(-1)
	for _, v := range logq {
		mx = math.Max(mx, v)
	}
	q = make([]float64, len(logq))
	if math.IsInf(mx, -1) {
		return q, 0
	}
	var s float64
	for i, v := range logq {
		q[i] = math.Exp(v - mx)
		s += q[i]
	}
	for i := range q {
		q[i] /= s
	}
	return q, math.Exp(mx + math.Log(s))
}

// ErrNoK is returned by AutoK when no row holds enough scored outputs.
var ErrNoK = errors.New("eval: not enough rows with two or more in-context examples to choose k")

// AutoK is the reference's get_example_k (§5.1.2). maxIdx[i] is row i's
// largest example index among its labelled tokens, already lowered by one
// when the row's last token is labelled (its last output was cut off).
// k = argmax_{k≥1} k·#{rows: m ≥ k}, the first maximum; keep lists the rows
// with m ≥ k. When that k is 1, k becomes 2 if at least 10 rows have m ≥ 2,
// otherwise the result is ErrNoK; keep stays the rows with m ≥ 1, as the
// reference's code computes them before raising k.
func AutoK(maxIdx []int) (k int, keep []int, err error) {
	top := 0
	for _, m := range maxIdx {
		top = max(top, m)
	}
	best, bestScore := 0, -1
	for c := 1; c <= top; c++ {
		n := 0
		for _, m := range maxIdx {
			if m >= c {
				n++
			}
		}
		if c*n > bestScore {
			best, bestScore = c, c*n
		}
	}
	k = best
	for i, m := range maxIdx {
		if m >= k {
			keep = append(keep, i)
		}
	}
	if k <= 1 {
		n := 0
		for _, m := range maxIdx {
			if m >= 2 {
				n++
			}
		}
		if n < 10 {
			return 0, nil, fmt.Errorf("%w (%d rows with m ≥ 2, need 10)", ErrNoK, n)
		}
		k = 2
	}
	return k, keep, nil
}

// CalibPoint is one log-probability pooled for the calibration error: that
// of the correct token at a labelled position, or of another vocabulary
// token above the threshold there.
type CalibPoint struct {
	LogP    float64
	Correct bool
}

// CalibThreshold is the probability a token, correct or not, must exceed to
// enter the calibration pool (get_ece_stats' thresh).
const CalibThreshold = 0.01

// ECE is the reference's expected calibration error, get_ece_stats with
// n_bins bins, computed as its code does rather than as a textbook ECE:
//
//   - only points with probability above CalibThreshold are pooled, the
//     correct tokens' included (a correct token at p ≤ 0.01 is left out);
//   - the bin edges are numpy's linear-interpolation percentiles of the
//     pooled log-probabilities at 0, 100/n, …, 100 (n = min(n_bins,
//     points));
//   - a bin holds the points with lo ≤ log p ≤ hi, so a point on an edge
//     counts in both bins;
//   - per non-empty bin the confidence is the mean probability and the
//     accuracy the share of correct points; ECE is the unweighted mean over
//     those bins of |confidence − accuracy|.
//
// NaN when no point is above the threshold.
func ECE(points []CalibPoint, nBins int) float64 {
	lt := math.Log(CalibThreshold)
	var all []float64
	var correct []float64
	for _, p := range points {
		if p.LogP > lt {
			all = append(all, p.LogP)
			if p.Correct {
				correct = append(correct, p.LogP)
			}
		}
	}
	nBins = min(nBins, len(all))
	if nBins < 1 {
		return math.NaN()
	}
	sorted := append([]float64(nil), all...)
	sort.Float64s(sorted)
	edges := make([]float64, nBins+1)
	for b := range edges {
		// np.linspace(0, 100, n+1) is exact here (i·step); np.percentile
		// divides by 100 and scales by n−1.
		edges[b] = percentileLinear(sorted, float64(b)*(100/float64(nBins))/100)
	}
	var sum float64
	bins := 0
	for b := 0; b < nBins; b++ {
		lo, hi := edges[b], edges[b+1]
		var conf float64
		n, nc := 0, 0
		for _, v := range all {
			if v >= lo && v <= hi {
				conf += math.Exp(v)
				n++
			}
		}
		if n == 0 {
			continue
		}
		for _, v := range correct {
			if v >= lo && v <= hi {
				nc++
			}
		}
		sum += math.Abs(conf/float64(n) - float64(nc)/float64(n))
		bins++
	}
	return sum / float64(bins)
}

// percentileLinear is numpy's percentile with the default "linear" method at
// quantile q ∈ [0, 1] of sorted values, including numpy's two-sided lerp
// (from the upper neighbour when the fraction is ≥ 0.5), so that edges
// equal numpy's to the last bit.
func percentileLinear(sorted []float64, q float64) float64 {
	n := len(sorted)
	h := q * float64(n-1)
	lo := math.Floor(h)
	i := int(lo)
	if i >= n-1 {
		return sorted[n-1]
	}
	if i < 0 {
		return sorted[0]
	}
	t := h - lo
	a, b := sorted[i], sorted[i+1]
	d := b - a
	if t >= 0.5 {
		return b - d*(1-t)
	}
	return a + d*t
}

// CoverageMetrics are the diversity/validity metrics of one task and prompt
// variant (reference §5.2). Shares are fractions in [0, 1], as the
// reference computes them despite the "pct" names.
type CoverageMetrics struct {
	N                     int  `json:"n"`
	PercentValid          Num  `json:"percent_valid"`
	UniqueGensPct         Num  `json:"unique_gens_pct"`
	UniqueValidCount      int  `json:"unique_valid_count"`
	UsableUniquePct       Num  `json:"usable_unique_pct"`
	RawUniquePct          Num  `json:"raw_unique_pct"`
	PairwiseCollision     Num  `json:"pairwise_collision"`
	PairwiseUniqueness    Num  `json:"pairwise_uniqueness"`
	PairwiseUniquenessSem Num  `json:"pairwise_uniqueness_sem"`
	CoveragePct           *Num `json:"coverage_pct,omitempty"`
	ValidSetSize          int  `json:"valid_set_size,omitempty"`
}

// Coverage computes the coverage metrics of generations gens with validity
// flags valid. validSetSize > 0 (the length of a closed task's list of valid
// strings, duplicates counted as the reference does) adds coverage_pct.
// With fewer than two valid generations there is no pair: collision 0,
// uniqueness 1, sem 0, as the reference reports them.
func Coverage(gens []string, valid []bool, validSetSize int) CoverageMetrics {
	n := len(gens)
	m := CoverageMetrics{N: n}
	all := map[string]int{}
	uv := map[string]int{}
	nv := 0
	for i, g := range gens {
		all[g]++
		if valid[i] {
			nv++
			uv[g]++
		}
	}
	frac := func(a, b int) Num {
		if b == 0 {
			return 0
		}
		return Num(float64(a) / float64(b))
	}
	m.PercentValid = frac(nv, n)
	m.UniqueGensPct = frac(len(uv), nv)
	m.UniqueValidCount = len(uv)
	m.UsableUniquePct = frac(len(uv), n)
	m.RawUniquePct = frac(len(all), n)
	pairs := nv * (nv - 1) / 2
	if pairs > 0 {
		same := 0
		for _, c := range uv {
			same += c * (c - 1) / 2
		}
		p := float64(same) / float64(pairs)
		m.PairwiseCollision = Num(p)
		m.PairwiseUniqueness = Num(1 - p)
		m.PairwiseUniquenessSem = Num(math.Sqrt(p * (1 - p) / float64(pairs)))
	} else {
		// The reference's values without a pair: no collision seen.
		m.PairwiseCollision, m.PairwiseUniqueness, m.PairwiseUniquenessSem = 0, 1, 0
	}
	if validSetSize > 0 {
		c := Num(float64(len(uv)) / float64(validSetSize))
		m.CoveragePct = &c
		m.ValidSetSize = validSetSize
	}
	return m
}
