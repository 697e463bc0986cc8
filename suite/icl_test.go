package suite

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

var offlineTasks = []string{"coinflip", "normal", "cards", "poisson", "geometric", "geometric_beta", "binomial",
	"negative_binomial", "categorical", "multinomial", "hypergeometric", "zipfian", "flight", "urn", "states",
	"rng_1_100", "element_names"}

func gen(t *testing.T, name string, seed int64, rows int) []Row {
	t.Helper()
	task, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := task.Generate(seed, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != rows {
		t.Fatalf("%s: %d rows, want %d", name, len(out), rows)
	}
	return out
}

func extra[T any](t *testing.T, r Row, key string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Extra[key], &v); err != nil {
		t.Fatalf("%s row %d: extra %q: %v", r.Task, r.Index, key, err)
	}
	return v
}

func TestGenerateDeterministic(t *testing.T) {
	for _, name := range offlineTasks {
		t.Run(name, func(t *testing.T) {
			a, b := gen(t, name, 7, 4), gen(t, name, 7, 4)
			if !reflect.DeepEqual(a, b) {
				t.Fatal("same seed, different rows")
			}
			// a row depends only on (task, seed, index): fewer rows give a prefix
			if p := gen(t, name, 7, 2); !reflect.DeepEqual(p, a[:2]) {
				t.Error("2 rows are not a prefix of 4 rows")
			}
			for i := range a {
				if err := a[i].Validate(); err != nil {
					t.Errorf("row %d invalid: %v", i, err)
				}
				if !a[i].Distributional() && a[i].N != len(a[i].Outputs()) {
					t.Errorf("row %d: n=%d but %d outputs", i, a[i].N, len(a[i].Outputs()))
				}
				if a[i].IncludeDescription != (a[i].Description() != "") {
					t.Errorf("row %d: include_description=%v", i, a[i].IncludeDescription)
				}
			}
			task, _ := Lookup(name)
			if task.Kind == KindCoverage || name == "states" {
				return // fixed prompts
			}
			c := gen(t, name, 8, 4)
			if reflect.DeepEqual(a[0].Messages, c[0].Messages) || reflect.DeepEqual(a[1].Messages, c[1].Messages) {
				t.Error("seeds 7 and 8 give the same rows")
			}
			if reflect.DeepEqual(a[0].Messages, a[1].Messages) {
				t.Error("rows 0 and 1 are equal")
			}
		})
	}
}

func TestDescriptionRate(t *testing.T) {
	tests := []struct {
		task string
		prob float64 // < 0: the task's default
		want float64
		rows int
	}{
		{"coinflip", -1, 0.6, 1000},
		{"normal", -1, 0.4, 1000},
		{"cards", -1, 0.6, 100},
		{"coinflip", PaperDescriptionProb, 0.8, 500},
		{"coinflip", 0, 0, 100},
		{"coinflip", 1, 1, 100},
	}
	for _, tt := range tests {
		task, _ := Lookup(tt.task)
		p := tt.prob
		if p < 0 {
			p = task.DescriptionProb
		}
		rows, err := task.GenerateWith(11, tt.rows, p)
		if err != nil {
			t.Fatal(err)
		}
		with := 0
		for _, r := range rows {
			if r.IncludeDescription {
				with++
			}
		}
		rate := float64(with) / float64(len(rows))
		se := math.Sqrt(tt.want * (1 - tt.want) / float64(len(rows)))
		if math.Abs(rate-tt.want) > 4*se+1e-12 {
			t.Errorf("%s at p=%v: description rate %.3f, want %.2f ± %.3f", tt.task, p, rate, tt.want, 4*se)
		}
	}
}

func TestExamplesPerRow(t *testing.T) {
	// n ~ GP(m) = Geometric(2/m) + Poisson(m/2): mean m, variance (1-2/m)(m/2)² + m/2
	gpSD := func(m float64) float64 { p := 2 / m; return math.Sqrt((1-p)/(p*p) + m/2) }
	tests := []struct {
		task string
		m    float64
		rows int
	}{{"coinflip", 128, 1000}, {"normal", 128, 400}, {"poisson", 1024, 100}}
	for _, tt := range tests {
		rows := gen(t, tt.task, 5, tt.rows)
		sum := 0.0
		for _, r := range rows {
			if r.N < 1 {
				t.Fatalf("%s: row with n=%d", tt.task, r.N)
			}
			sum += float64(r.N)
		}
		mean := sum / float64(len(rows))
		if se := gpSD(tt.m) / math.Sqrt(float64(len(rows))); math.Abs(mean-tt.m) > 4*se {
			t.Errorf("%s: mean n = %.1f, want %v ± %.1f", tt.task, mean, tt.m, 4*se)
		}
	}
	for _, r := range gen(t, "flight", 5, 5) {
		if r.N != 20 {
			t.Errorf("flight row with %d examples", r.N)
		}
	}
}

func parseInts(t *testing.T, r Row) []float64 {
	t.Helper()
	outs := r.Outputs()
	v := make([]float64, len(outs))
	for i, o := range outs {
		n, err := strconv.ParseInt(o, 10, 64)
		if err != nil {
			t.Fatalf("%s row %d: output %q is not an int", r.Task, r.Index, o)
		}
		v[i] = float64(n)
	}
	return v
}

func meanVar(v []float64) (mean, variance float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(v)-1)
}

// checkMean asserts |sample mean − mu| < 4 standard errors (sd/√n).
func checkMean(t *testing.T, r Row, what string, v []float64, mu, sd float64) {
	t.Helper()
	m, _ := meanVar(v)
	se := sd / math.Sqrt(float64(len(v)))
	if math.Abs(m-mu) > 4*se+1e-9*math.Abs(mu) {
		t.Errorf("%s row %d: %s sample mean %.6g, want %.6g ± %.3g (n=%d)", r.Task, r.Index, what, m, mu, 4*se, len(v))
	}
}

func TestCoinflipStatistics(t *testing.T) {
	for _, r := range gen(t, "coinflip", 1, 200) {
		p := extra[float64](t, r, "p")
		v := make([]float64, 0, r.N)
		for _, o := range r.Outputs() {
			switch o {
			case "Heads":
				v = append(v, 1)
			case "Tails":
				v = append(v, 0)
			default:
				t.Fatalf("output %q", o)
			}
		}
		checkMean(t, r, "P(Heads)", v, p, math.Sqrt(p*(1-p)))
		if d := r.Description(); d != "" && !slices.Contains(coinflipDescriptions(p), d) {
			t.Errorf("row %d: description %q not in the list for p=%v", r.Index, d, p)
		}
	}
}

func TestCoinflipDescriptions(t *testing.T) {
	want := []string{
		"['Heads', 'Tails']",
		"{'Heads': 0.375, 'Tails': 0.625}",
		"Bernoulli({'Heads': 0.375, 'Tails': 0.625})",
		"{'Heads': '37.5%', 'Tails': '62.5%'}",
		"Bernoulli({'Heads': '37.5%', 'Tails': '62.5%'})",
		"Options: ['Heads', 'Tails']\nTails is more likely than Heads.",
		"Coin flip with Heads and Tails. It is potentially biased.",
	}
	if got := coinflipDescriptions(0.375); !reflect.DeepEqual(got, want) {
		t.Errorf("coinflipDescriptions(0.375) =\n%q\nwant\n%q", got, want)
	}
	// float artefacts of float(100*round(v, 3)) are kept, as in the reference
	got := coinflipDescriptions(0.58)
	if got[3] != "{'Heads': '57.99999999999999%', 'Tails': '42.0%'}" || got[1] != "{'Heads': 0.58, 'Tails': 0.42}" {
		t.Errorf("coinflipDescriptions(0.58) = %q", got[1:4])
	}
	if got := coinflipDescriptions(0.5)[5]; got != "Options: ['Heads', 'Tails']\nHeads and Tails are equally likely." {
		t.Errorf("p=0.5: %q", got)
	}
	if got := coinflipDescriptions(0.9)[5]; got != "Options: ['Heads', 'Tails']\nHeads is more likely than Tails." {
		t.Errorf("p=0.9: %q", got)
	}
}

func TestNormalStatistics(t *testing.T) {
	checked := 0
	for _, r := range gen(t, "normal", 2, 300) {
		mean, std := extra[float64](t, r, "mean"), extra[float64](t, r, "std")
		d := extra[int](t, r, "round_digits")
		format := regexp.MustCompile(`^-?\d+\.\d{` + strconv.Itoa(d) + `}$`)
		v := make([]float64, r.N)
		for i, o := range r.Outputs() {
			if !format.MatchString(o) {
				t.Fatalf("row %d: output %q is not a number with %d decimals", r.Index, o, d)
			}
			v[i], _ = strconv.ParseFloat(o, 64)
		}
		if desc := r.Description(); desc != "" && !slices.Contains(normalDescriptions(mean, std, d), desc) {
			t.Errorf("row %d: description %q not in its list", r.Index, desc)
		}
		h := math.Pow(10, -float64(d)) // rounding step
		if std < 20*h || r.N < 30 || math.Abs(mean) > 1e12 {
			continue // rounding dominates, or too few digits to measure
		}
		checked++
		m, s2 := meanVar(v)
		se := std / math.Sqrt(float64(r.N))
		if math.Abs(m-mean) > 4*se+h/2 {
			t.Errorf("row %d: mean %.6g, want %.6g ± %.3g", r.Index, m, mean, 4*se)
		}
		// sd of the sample sd ≈ σ/√(2(n−1)); rounding adds h²/12 of variance
		sdWant := math.Sqrt(std*std + h*h/12)
		if sdSE := std / math.Sqrt(2*float64(r.N-1)); math.Abs(math.Sqrt(s2)-sdWant) > 4*sdSE+h {
			t.Errorf("row %d: sd %.6g, want %.6g ± %.3g", r.Index, math.Sqrt(s2), sdWant, 4*sdSE)
		}
	}
	if checked < 100 {
		t.Errorf("only %d rows checked", checked)
	}
}

func TestNormalDescriptions(t *testing.T) {
	got := normalDescriptions(-1234.56789, 0.001234, 3)
	if len(got) != 126 {
		t.Fatalf("%d descriptions, want 126", len(got))
	}
	for _, want := range []string{
		"Normal distribution with mean -1234.56789 and std 0.00123.\nPrecision: 3",
		"The following are draws from a normal distribution with mean -1.2346e+03 and standard deviation 1.2340e-03.\n3 decimal places",
		"x~N(-1.23e+03, 1.23e-03)\n",
		"Numbers\n",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	n := 0
	for _, d := range got {
		if d == "Normal distribution\n" {
			n++
		}
	}
	if n != 6 {
		t.Errorf(`"Normal distribution\n" appears %d times, want 6 (duplicates weight the list)`, n)
	}
}

func TestCardsPermutation(t *testing.T) {
	deck := cardDeck()
	sort.Strings(deck)
	for _, r := range gen(t, "cards", 3, 20) {
		got := r.Outputs()
		sort.Strings(got)
		if !reflect.DeepEqual(got, deck) {
			t.Fatalf("row %d is not a permutation of the deck", r.Index)
		}
		if d := r.Description(); d != "" && d != cardsDescription {
			t.Errorf("description %q", d)
		}
	}
	if deck := cardDeck(); deck[0] != "2♣" || deck[12] != "A♣" || deck[13] != "2♦" || deck[51] != "A♠" {
		t.Errorf("deck order %v", deck)
	}
}

func TestDiscreteStatistics(t *testing.T) {
	t.Run("poisson", func(t *testing.T) {
		for _, r := range gen(t, "poisson", 4, 60) {
			l := extra[float64](t, r, "lambda")
			checkMean(t, r, "mean", parseInts(t, r), l, math.Sqrt(l))
			wantDescs := []string{"Draws from a Poisson distribution with parameter " + PyFloat(l) + ".", "Poisson distribution", "Poisson(" + PyFloat(l) + ")"}
			if d := r.Description(); d != "" && !slices.Contains(wantDescs, d) {
				t.Errorf("description %q", d)
			}
		}
	})
	geometric := func(t *testing.T, task string) {
		for _, r := range gen(t, task, 4, 60) {
			p := extra[float64](t, r, "p")
			v := parseInts(t, r)
			if slices.Min(v) < 1 {
				t.Fatalf("geometric draw below 1 (NumPy's support is {1, 2, …})")
			}
			checkMean(t, r, "mean", v, 1/p, math.Sqrt(1-p)/p)
		}
	}
	t.Run("geometric", func(t *testing.T) { geometric(t, "geometric") })
	t.Run("geometric_beta", func(t *testing.T) { geometric(t, "geometric_beta") })
	t.Run("binomial", func(t *testing.T) {
		for _, r := range gen(t, "binomial", 4, 60) {
			p, n := extra[float64](t, r, "p"), extra[float64](t, r, "n_trials")
			v := parseInts(t, r)
			if slices.Min(v) < 0 || slices.Max(v) > n {
				t.Fatalf("draw outside [0, %v]", n)
			}
			checkMean(t, r, "mean", v, n*p, math.Sqrt(n*p*(1-p)))
			if d := r.Description(); d != "" && d != "Binomial distribution" &&
				d != fmt.Sprintf("Binomial(%d, %s)", int64(n), PyFloat(p)) &&
				d != fmt.Sprintf("Draws from a binomial distribution with parameters n=%d and p=%s.", int64(n), PyFloat(p)) {
				t.Errorf("description %q", d)
			}
		}
	})
	t.Run("negative_binomial", func(t *testing.T) {
		for _, r := range gen(t, "negative_binomial", 4, 60) {
			rr, p := extra[float64](t, r, "r"), extra[float64](t, r, "p")
			checkMean(t, r, "mean", parseInts(t, r), rr*(1-p)/p, math.Sqrt(rr*(1-p))/p)
			if d := r.Description(); strings.HasPrefix(d, "NegativeBinomial(") && d != "NegativeBinomial("+pyFixed(rr, 2)+", "+pyFixed(p, 2)+")" {
				t.Errorf("description %q", d)
			}
		}
	})
	t.Run("hypergeometric", func(t *testing.T) {
		for _, r := range gen(t, "hypergeometric", 4, 60) {
			N, K, n := extra[float64](t, r, "N"), extra[float64](t, r, "K"), extra[float64](t, r, "n_draws")
			if K < 1 || K > N || n < 1 || n > N {
				t.Fatalf("parameters N=%v K=%v n=%v", N, K, n)
			}
			v := parseInts(t, r)
			if slices.Min(v) < math.Max(0, n-(N-K)) || slices.Max(v) > math.Min(n, K) {
				t.Fatalf("draw outside the support")
			}
			sd := 0.0
			if N > 1 {
				sd = math.Sqrt(n * K / N * (N - K) / N * (N - n) / (N - 1))
			}
			checkMean(t, r, "mean", v, n*K/N, sd)
		}
	})
	t.Run("zipfian", func(t *testing.T) {
		for _, r := range gen(t, "zipfian", 4, 60) {
			a := extra[float64](t, r, "alpha")
			if a <= 1 || a >= 2.5 {
				t.Fatalf("alpha %v", a)
			}
			v := parseInts(t, r)
			ones := make([]float64, len(v))
			for i, x := range v {
				if x < 1 {
					t.Fatalf("zipf draw %v", x)
				}
				if x == 1 {
					ones[i] = 1
				}
			}
			// P(X = 1) = 1/ζ(α), but NumPy's rejection sampler (and ours) rejects
			// proposals above the int64 range, which matters for α near 1:
			// P(X = 1) = 1/(ζ(α) − ζ(α, M+1)) with M = 2^63.
			p1 := 1 / (mathext.Zeta(a, 1) - mathext.Zeta(a, 0x1p63+1))
			checkMean(t, r, "P(X=1)", ones, p1, math.Sqrt(p1*(1-p1)))
		}
	})
}

var pvEntry = regexp.MustCompile(`(\d+): ([0-9.e-]+)`)

func TestCategoricalStatistics(t *testing.T) {
	for _, r := range gen(t, "categorical", 6, 60) {
		probs := extra[[]float64](t, r, "probs")
		k := len(probs)
		if k < 2 || extra[int](t, r, "n_categories") != k {
			t.Fatalf("row %d: %d categories", r.Index, k)
		}
		counts := make([]float64, k)
		for _, o := range r.Outputs() {
			i, err := strconv.Atoi(o)
			if err != nil || i < 0 || i >= k {
				t.Fatalf("output %q", o)
			}
			counts[i]++
		}
		for i, c := range counts {
			v := make([]float64, r.N)
			for j := range v[:int(c)] {
				v[j] = 1
			}
			checkMean(t, r, fmt.Sprintf("P(%d)", i), v, probs[i], math.Sqrt(probs[i]*(1-probs[i])))
		}
		// the description's probability vector: {i: round(π_i, 4)}
		if d := r.Description(); strings.HasPrefix(d, "Draws") || strings.HasPrefix(d, "SingleVariableIID") {
			m := pvEntry.FindAllStringSubmatch(d[strings.Index(d, "{"):], -1)
			if len(m) != k {
				t.Fatalf("description %q has %d entries, want %d", d, len(m), k)
			}
			for i, e := range m {
				got, _ := strconv.ParseFloat(e[2], 64)
				if e[1] != strconv.Itoa(i) || math.Abs(got-probs[i]) > 0.00005+1e-12 {
					t.Errorf("entry %d = %s: %s, want ≈ %v", i, e[1], e[2], probs[i])
				}
			}
		}
	}
	if got, want := probVectorString([]float64{0.12344, 0.87656}), "{0: 0.1234, 1: 0.8766}"; got != want {
		t.Errorf("probVectorString = %q, want %q", got, want)
	}
}

var (
	multiDict = regexp.MustCompile(`^\{0: \d+(, \d+: \d+)*\}$`)
	multiList = regexp.MustCompile(`^\['\d+'(, '\d+')*\]$`)
)

func TestMultinomialStatistics(t *testing.T) {
	forms := map[bool]int{}
	for _, r := range gen(t, "multinomial", 6, 40) {
		probs := extra[[]float64](t, r, "probs")
		total := extra[float64](t, r, "total_draws")
		asDict := extra[bool](t, r, "as_dict")
		forms[asDict]++
		k := len(probs)
		sums := make([][]float64, k)
		for _, o := range r.Outputs() {
			var counts []string
			if asDict {
				if !multiDict.MatchString(o) {
					t.Fatalf("output %q is not a dict of plain ints", o)
				}
				for _, e := range pvEntry.FindAllStringSubmatch(o, -1) {
					counts = append(counts, e[2])
				}
			} else {
				if !multiList.MatchString(o) {
					t.Fatalf("output %q is not a list of strings", o)
				}
				counts = strings.Split(strings.NewReplacer("[", "", "]", "", "'", "").Replace(o), ", ")
			}
			if len(counts) != k {
				t.Fatalf("output %q has %d counts, want %d", o, len(counts), k)
			}
			s := 0.0
			for i, c := range counts {
				x, _ := strconv.ParseFloat(c, 64)
				s += x
				sums[i] = append(sums[i], x)
			}
			if s != total {
				t.Fatalf("counts of %q sum to %v, want %v", o, s, total)
			}
		}
		for i := range probs {
			checkMean(t, r, fmt.Sprintf("count %d", i), sums[i], total*probs[i], math.Sqrt(total*probs[i]*(1-probs[i])))
		}
		if d := r.Description(); strings.HasPrefix(d, "Multinomial(") &&
			!strings.HasPrefix(d, fmt.Sprintf("Multinomial(%d, %d, {0: ", k, int64(total))) {
			t.Errorf("description %q", d)
		}
	}
	if forms[true] == 0 || forms[false] == 0 {
		t.Errorf("dict/list forms: %v", forms)
	}
}

func TestFlightString(t *testing.T) {
	// the two flights of the reference's docstring example
	fs := []flight{
		{linspace100(43), linspace100(85), linspace100(8), 0.5},
		{linspace100(69), linspace100(20), linspace100(9), 1},
	}
	want := "Flight 1:\nDeparture Time: 01:15 PM, Duration: 13 hr 50 min, Number of Stops: 1, Price: $610.00\n" +
		"Flight 2:\nDeparture Time: 06:14 PM, Duration: 3 hr 49 min, Number of Stops: 2, Price: $630.00"
	if got := flightsString(fs); got != want {
		t.Errorf("flightsString =\n%s\nwant\n%s", got, want)
	}
	// edges: 05:00 AM + 19 h = 12:00 AM; CPython prints 02:35 PM and 11:48 PM for k = 50, 98
	got := flightsString([]flight{{0, 0, 0, 0}, {1, 1, 1, 1}, {linspace100(50), 0, 0, 0}, {linspace100(98), 0, 0, 0}})
	for _, s := range []string{
		"Departure Time: 05:00 AM, Duration: 0 hr 45 min, Number of Stops: 0, Price: $500.00",
		"Departure Time: 12:00 AM, Duration: 16 hr 0 min, Number of Stops: 2, Price: $1950.00",
		"Departure Time: 02:35 PM", "Departure Time: 11:48 PM",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("flightsString lacks %q:\n%s", s, got)
		}
	}
}

var flightLine = regexp.MustCompile(`^Flight (\d):\nDeparture Time: (.*), Duration: (.*), Number of Stops: (\d), Price: \$(.*)$`)

// TestFlightPreferences parses every input back to the flight features (the
// printed values identify the grid points) and checks the output is the
// argmax of the profile's score.
func TestFlightPreferences(t *testing.T) {
	depart, dur, price := map[string]int{}, map[string]int{}, map[string]int{}
	for k := 0; k < 100; k++ {
		f := linspace100(k)
		m := flightLine.FindStringSubmatch(flightsString([]flight{{f, f, f, 0}}))
		depart[m[2]], dur[m[3]], price[m[5]] = k, k, k
	}
	if len(depart) != 100 || len(dur) != 100 || len(price) != 100 {
		t.Fatalf("printed flight values do not identify the grid: %d %d %d", len(depart), len(dur), len(price))
	}
	ones := 0.0
	for _, r := range gen(t, "flight", 9, 30) {
		w := extra[[]float64](t, r, "profile")
		if len(w) != 4 || (w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0) {
			t.Fatalf("profile %v", w)
		}
		for _, x := range w {
			if x != -1 && x != -0.5 && x != 0 && x != 0.5 {
				t.Fatalf("profile %v", w)
			}
		}
		for i := 0; i+1 < len(r.Messages); i++ {
			if r.Messages[i].Role != RoleInput {
				continue
			}
			lines := strings.Split(r.Messages[i].Content, "\n")
			if len(lines) != 6 {
				t.Fatalf("input %q", r.Messages[i].Content)
			}
			best, bestScore := 0, math.Inf(-1)
			for j := 0; j < 3; j++ {
				m := flightLine.FindStringSubmatch(lines[2*j] + "\n" + lines[2*j+1])
				if m == nil || m[1] != strconv.Itoa(j+1) {
					t.Fatalf("flight %q", lines[2*j:2*j+2])
				}
				stops, _ := strconv.Atoi(m[4])
				f := flight{linspace100(depart[m[2]]), linspace100(dur[m[3]]), linspace100(price[m[5]]), float64(stops) / 2}
				score := 0.0
				for c := range w {
					score += f[c] * w[c]
				}
				if score > bestScore {
					best, bestScore = j, score
				}
			}
			out := r.Messages[i+1]
			if out.Role != RoleOutput || out.Content != strconv.Itoa(best+1) {
				t.Errorf("row %d: output %q, want %d", r.Index, out.Content, best+1)
			}
			if best == 0 {
				ones++
			}
		}
	}
	if ones == 0 || ones == 600 {
		t.Errorf("flight 1 preferred %v times of 600", ones)
	}
	if got := pyTimedeltaMul(3, 0.5); got != 2 { // 1.5 µs → 2 (ties to even)
		t.Errorf("pyTimedeltaMul(3, 0.5) = %d", got)
	}
	if got := pyTimedeltaMul(5, 0.5); got != 2 { // 2.5 µs → 2
		t.Errorf("pyTimedeltaMul(5, 0.5) = %d", got)
	}
	if a, b := pyFloorDiv(1450*linspace100(8), 10), pyFloorDiv(1450*linspace100(9), 10); a != 11 || b != 13 {
		t.Errorf("pyFloorDiv = %v, %v; CPython gives 11.0, 13.0", a, b)
	}
}
