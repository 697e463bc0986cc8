package llama

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// refLSE is the float64 reference: log Σ exp(x) and the first argmax.
func refLSE(x []float32) (float64, int) {
	mx, arg := math.Inf(-1), 0
	for i, v := range x {
		if float64(v) > mx {
			mx, arg = float64(v), i
		}
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s), arg
}

func TestLogSumExpArgmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vec := func(n int, scale float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	ninf := float32(math.Inf(-1))
	tie := vec(1000, 3)
	tie[17], tie[900] = 50, 50
	withInf := vec(262144, 4)
	for i := 0; i < len(withInf); i += 3 {
		withInf[i] = ninf // logit-biased tokens
	}
	for _, c := range []struct {
		name string
		x    []float32
	}{
		{"one", []float32{2.5}},
		{"seven", vec(7, 1)},
		{"not a multiple of 8", vec(1003, 2)},
		{"gemma vocabulary", vec(262144, 5)},
		{"wide logits", vec(50000, 40)},
		{"tie: first index", tie},
		{"-inf entries", withInf},
		{"all equal", make([]float32, 4099)},
	} {
		got, arg := logSumExpArgmax(c.x)
		want, wantArg := refLSE(c.x)
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) || arg != wantArg {
			t.Errorf("%s: got (%.9g, %d), want (%.9g, %d)", c.name, got, arg, want, wantArg)
		}
	}
}

// BenchmarkLogSumExp: one log-softmax normaliser over Gemma's vocabulary,
// the C kernel against the float64 Go loop it replaced (ratio reported).
func BenchmarkLogSumExp(b *testing.B) {
	x := make([]float32, 262144)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 5)
	}
	var tc, tg float64
	for i := 0; i < b.N; i++ {
		s := nowSeconds()
		logSumExpArgmax(x)
		tc += nowSeconds() - s
		s = nowSeconds()
		refLSE(x)
		tg += nowSeconds() - s
	}
	b.ReportMetric(tc/float64(b.N)*1e6, "µs/C")
	b.ReportMetric(tg/float64(b.N)*1e6, "µs/Go")
	b.ReportMetric(tg/tc, "Go/C")
}

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// TestDraw: the drawn token is where u falls in the float64 CDF of
// softmax(x/T) (within float rounding at the boundaries), for vocabularies
// that are and are not multiples of the 64-token blocks; temp 0 is the
// first argmax.
func TestDraw(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		n    int
		temp float32
	}{{1, 1}, {7, 1}, {200, 0.7}, {4096, 1}, {262144, 1}, {262144, 1.5}} {
		x := make([]float32, c.n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		if c.n > 100 {
			x[c.n/3] = float32(math.Inf(-1)) // a banned token is never drawn
		}
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, float64(v))
		}
		cdf := make([]float64, c.n)
		var s float64
		for i, v := range x {
			s += math.Exp((float64(v) - mx) / float64(c.temp))
			cdf[i] = s
		}
		sums := make([]float32, c.n/64+1)
		for k := 0; k < 300; k++ {
			u := rng.Float64()
			tok := draw(x, c.temp, u, sums)
			lo := 0.0
			if tok > 0 {
				lo = cdf[tok-1] / s
			}
			hi := cdf[tok] / s
			if tok < 0 || tok >= c.n || u < lo-1e-5 || u > hi+1e-5 || (c.n > 100 && tok == c.n/3) {
				t.Fatalf("n %d temp %g u %.6f: token %d covers [%.6f, %.6f]", c.n, c.temp, u, tok, lo, hi)
			}
		}
		_, arg := refLSE(x)
		if got := draw(x, 0, 0, sums); got != arg {
			t.Errorf("n %d greedy: %d, want %d", c.n, got, arg)
		}
	}
}
