package suite

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// rng draws the random numbers of one row. Each row has its own PCG stream,
// derived from (task name, seed, row index), so rows are reproducible one by
// one and independent of how many rows are generated.
type rng struct {
	*rand.Rand
	src rand.Source
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func newRowRNG(task string, seed int64, row int) *rng {
	h := fnv.New64a()
	h.Write([]byte(task))
	th := h.Sum64()
	src := rand.NewPCG(splitmix64(uint64(seed)^th), splitmix64(uint64(row)+splitmix64(th)))
	return &rng{Rand: rand.New(src), src: src}
}

// uniform is NumPy's uniform(lo, hi).
func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// randint is a uniform integer in [lo, hi] (both inclusive).
func (r *rng) randint(lo, hi int) int { return lo + r.IntN(hi-lo+1) }

func (r *rng) normal(mean, std float64) float64 { return mean + std*r.NormFloat64() }

// geometric is NumPy's geometric(p): trials up to the first success, support
// {1, 2, …}.
func (r *rng) geometric(p float64) int64 {
	if p >= 1 {
		return 1
	}
	if p <= 0 {
		return math.MaxInt64
	}
	u := 1 - r.Float64() // (0, 1]
	k := math.Ceil(math.Log(u) / math.Log1p(-p))
	switch {
	case k < 1:
		return 1
	case k >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(k)
}

func (r *rng) poisson(lambda float64) int64 {
	if !(lambda > 0) {
		return 0
	}
	x := distuv.Poisson{Lambda: lambda, Src: r.src}.Rand()
	if x >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(x)
}

// gp is the reference's geom_and_poisson_iter(m): Geometric(2/m) +
// Poisson(m/2) (NumPy geometric, support ≥ 1), with mean m.
func (r *rng) gp(m float64) int64 { return r.geometric(2/m) + r.poisson(m/2) }

// gamma is NumPy's gamma(shape, scale).
func (r *rng) gamma(shape, scale float64) float64 {
	return distuv.Gamma{Alpha: shape, Beta: 1 / scale, Src: r.src}.Rand()
}

func (r *rng) beta(a, b float64) float64 {
	return distuv.Beta{Alpha: a, Beta: b, Src: r.src}.Rand()
}

func (r *rng) binomial(n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	}
	return int64(distuv.Binomial{N: float64(n), P: p, Src: r.src}.Rand())
}

// negativeBinomial is NumPy's negative_binomial(n, p): failures before the
// n-th success, drawn as Poisson(Gamma(n, (1-p)/p)) like NumPy does.
func (r *rng) negativeBinomial(n, p float64) int64 {
	if p >= 1 {
		return 0
	}
	if p <= 0 {
		p = math.SmallestNonzeroFloat64
	}
	return r.poisson(r.gamma(n, (1-p)/p))
}

// dirichletOnes is Dirichlet(1, …, 1) over k categories.
func (r *rng) dirichletOnes(k int) []float64 {
	p := make([]float64, k)
	sum := 0.0
	for i := range p {
		p[i] = r.ExpFloat64()
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// categorical draws an index with probabilities proportional to the
// cumulative sums cum (as NumPy's choice: searchsorted on the CDF).
func (r *rng) categorical(cum []float64) int {
	u := r.Float64() * cum[len(cum)-1]
	i := sort.Search(len(cum), func(i int) bool { return cum[i] > u })
	if i == len(cum) {
		i = len(cum) - 1
	}
	return i
}

func cumsum(p []float64) []float64 {
	c := make([]float64, len(p))
	s := 0.0
	for i, v := range p {
		s += v
		c[i] = s
	}
	return c
}

// multinomial is NumPy's multinomial(n, p): n categorical draws counted when
// n is small, else sequential conditional binomials (as NumPy does).
func (r *rng) multinomial(n int64, p []float64) []int64 {
	out := make([]int64, len(p))
	if n <= 128 {
		cum := cumsum(p)
		for i := int64(0); i < n; i++ {
			out[r.categorical(cum)]++
		}
		return out
	}
	left, rest := n, 1.0
	for i := 0; i < len(p)-1 && left > 0; i++ {
		q := p[i] / rest
		if q > 1 {
			q = 1
		}
		out[i] = r.binomial(left, q)
		left -= out[i]
		rest -= p[i]
		if rest <= 0 {
			break
		}
	}
	out[len(p)-1] += left
	return out
}

// hypergeometric is NumPy's hypergeometric(ngood, nbad, nsample): the number
// of good items in nsample draws without replacement (simulated).
func (r *rng) hypergeometric(ngood, nbad, nsample int) int {
	total := ngood + nbad
	// Draw the smaller of nsample and total-nsample; the complement count
	// follows by symmetry.
	draws, complement := nsample, false
	if nsample > total-nsample {
		draws, complement = total-nsample, true
	}
	good, left := ngood, total
	got := 0
	for i := 0; i < draws; i++ {
		if r.IntN(left) < good {
			got++
			good--
		}
		left--
	}
	if complement {
		return ngood - got
	}
	return got
}

// zipf is NumPy's zipf(a) (the rejection algorithm of RandomState.zipf).
func (r *rng) zipf(a float64) int64 {
	am1 := a - 1
	b := math.Pow(2, am1)
	for {
		u := 1 - r.Float64()
		v := r.Float64()
		x := math.Floor(math.Pow(u, -1/am1))
		if x >= 9.223372036854775807e18 || x < 1 { // would not fit an int64: reject
			continue
		}
		t := math.Pow(1+1/x, am1)
		if v*x*(t-1)/(b-1) <= t/b {
			return int64(x)
		}
	}
}

// ExampleCounter draws the number of examples of a row as the reference's
// geom_and_poisson_iter(mean) does (Geometric(2/mean) + Poisson(mean/2),
// mean ≥ 2), from its own stream seeded by seed. Importers use it to size rows
// like the reference's data-set loaders.
type ExampleCounter struct{ r *rng }

// NewExampleCounter returns a counter with a reproducible stream for seed.
func NewExampleCounter(seed int64) *ExampleCounter {
	src := rand.NewPCG(splitmix64(uint64(seed)), splitmix64(uint64(seed)^0x5ca1ab1e))
	return &ExampleCounter{r: &rng{Rand: rand.New(src), src: src}}
}

// Next returns the next count (≥ 1).
func (c *ExampleCounter) Next(mean float64) int {
	n := c.r.gp(mean)
	if n > maxSamplesPerRow {
		return maxSamplesPerRow
	}
	return int(n)
}
