package suite

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// The flight task (icl_dataset_classes/synth_flight_prefs.py, after
// Appendix A.1 of arXiv 2503.17523): one row per individual with a hidden
// preference profile; each example shows three flights and the output is the
// number of the flight the individual prefers.

// flightDescription is the reference's description, typo included.
const flightDescription = "The following express flight preferences for the same individual among a set of flights. Predict which flight the indvidual prefers."

const (
	flightExamples   = 20
	flightsPerChoice = 3
)

// flight holds the four features in [0, 1]: departure time, duration, price,
// number of stops.
type flight [4]float64

// linspace100 is np.linspace(0, 1, 100)[k]: k·(1/99), with the last value 1.
func linspace100(k int) float64 {
	if k == 99 {
		return 1
	}
	return float64(k) * (1.0 / 99)
}

func flightRecipe(r *rng) iclRow {
	// sample_profile: integers(-2, 2, 4)/2, redrawn while all zero.
	var w [4]float64
	for w == [4]float64{} {
		for i := range w {
			w[i] = float64(r.randint(-2, 1)) / 2
		}
	}
	ex := make([]example, flightExamples)
	for e := range ex {
		fs := make([]flight, flightsPerChoice)
		best, bestScore := 0, math.Inf(-1)
		for i := range fs {
			for j := 0; j < 3; j++ {
				fs[i][j] = linspace100(r.IntN(100))
			}
			fs[i][3] = []float64{0, 0.5, 1}[r.IntN(3)]
			score := 0.0
			for j := range w {
				score += fs[i][j] * w[j]
			}
			if score > bestScore { // argmax: first of ties
				best, bestScore = i, score
			}
		}
		ex[e] = example{input: flightsString(fs), hasInput: true, output: strconv.Itoa(best + 1)}
	}
	return iclRow{[]string{flightDescription}, ex, []extraKV{
		{"profile", w[:]}, {"num_flights", flightsPerChoice}, {"num_ic_examples", flightExamples},
	}}
}

// flightsString is the reference's get_flights_str.
func flightsString(fs []flight) string {
	const (
		hour    = int64(3600_000_000) // microseconds
		minute  = int64(60_000_000)
		dayLen  = 19 * hour           // 05:00 → 24:00
		durLen  = 16*hour - 45*minute // 00:45 → 16:00
		depart0 = 5 * hour            // 05:00
		dur0    = 45 * minute         // 00:45
	)
	var b strings.Builder
	for i, f := range fs {
		t := depart0 + pyTimedeltaMul(dayLen, f[0])
		h := (t / hour) % 24
		m := (t / minute) % 60
		ampm := "AM"
		if h >= 12 {
			ampm = "PM"
		}
		h12 := h % 12
		if h12 == 0 {
			h12 = 12
		}
		d := dur0 + pyTimedeltaMul(durLen, f[1])
		price := 10 * (50 + pyFloorDiv((1500-50)*f[2], 10))
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "Flight %d:\nDeparture Time: %02d:%02d %s, Duration: %d hr %d min, Number of Stops: %d, Price: $%s",
			i+1, h12, m, ampm, (d/hour)%24, (d/minute)%60, int(f[3]*2), pyFixed(price, 2))
	}
	return b.String()
}

// pyTimedeltaMul is Python's timedelta(microseconds=us) * f: the exact
// product rounded to a whole microsecond, ties to even.
func pyTimedeltaMul(us int64, f float64) int64 {
	q := new(big.Rat).SetFloat64(f)
	num := new(big.Int).Mul(big.NewInt(us), q.Num())
	den := q.Denom()
	quo, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	rem2 := new(big.Int).Lsh(new(big.Int).Abs(rem), 1)
	if c := rem2.Cmp(den); c > 0 || (c == 0 && quo.Bit(0) == 1) {
		if num.Sign() >= 0 {
			quo.Add(quo, big.NewInt(1))
		} else {
			quo.Sub(quo, big.NewInt(1))
		}
	}
	return quo.Int64()
}

// pyFloorDiv is Python's float floor division a // b.
func pyFloorDiv(a, b float64) float64 {
	mod := math.Mod(a, b)
	div := (a - mod) / b
	if mod != 0 && (b < 0) != (mod < 0) {
		div -= 1
	}
	if div == 0 {
		return math.Copysign(0, a/b)
	}
	fd := math.Floor(div)
	if div-fd > 0.5 {
		fd++
	}
	return fd
}
