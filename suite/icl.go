package suite

import (
	"fmt"
	"math"
	"strconv"
)

// This file holds the built-in offline ICL tasks with the reference recipes
// (reference §6.4; icl_dataset_classes/coinflip.py, normal.py,
// discrete_dists.py, icl_classes/bernoulli.py, single_variable_iid.py).

// maxSamplesPerRow is the reference's default n_iter (5000): a
// SingleVariableIID row holds at most that many of its draws.
const maxSamplesPerRow = 5000

type example struct {
	input    string
	hasInput bool
	output   string
}

type extraKV struct {
	key   string
	value any
}

// iclRow is what a task recipe produces for one row.
type iclRow struct {
	descriptions []string // the row's description list (parameters filled in)
	examples     []example
	extras       []extraKV // task parameters, like the reference's extra columns
}

type iclRecipe func(r *rng) iclRow

func outputsOnly(outs []string) []example {
	ex := make([]example, len(outs))
	for i, o := range outs {
		ex[i].output = o
	}
	return ex
}

// iclGen turns a per-row recipe into a Task generator: per row, the recipe
// draws parameters and samples; then the description is included with
// probability descProb and chosen uniformly from the row's list, and the
// examples are shuffled (ICLClass.generate_many / samples_to_messages).
func iclGen(recipe iclRecipe) func(*Task, int64, int, float64) ([]Row, error) {
	return func(t *Task, seed int64, rows int, descProb float64) ([]Row, error) {
		out := make([]Row, rows)
		for i := range out {
			r := newRowRNG(t.Name, seed, i)
			ir := recipe(r)
			include := r.Float64() < descProb
			desc := ""
			if len(ir.descriptions) > 0 {
				desc = ir.descriptions[r.IntN(len(ir.descriptions))]
			}
			ex := ir.examples
			r.Shuffle(len(ex), func(a, b int) { ex[a], ex[b] = ex[b], ex[a] })
			msgs := make([]Message, 0, 2*len(ex)+1)
			if include && len(ir.descriptions) > 0 {
				msgs = append(msgs, Message{RoleDescription, desc})
			}
			for _, e := range ex {
				if e.hasInput {
					msgs = append(msgs, Message{RoleInput, e.input})
				}
				msgs = append(msgs, Message{RoleOutput, e.output})
			}
			row := Row{
				Task: t.Name, Messages: msgs, Seed: seed, Index: i, N: len(ex),
				IncludeDescription: include && len(ir.descriptions) > 0,
			}
			for _, kv := range ir.extras {
				if err := row.SetExtra(kv.key, kv.value); err != nil {
					return nil, fmt.Errorf("%s row %d: %w", t.Name, i, err)
				}
			}
			out[i] = row
		}
		return out, nil
	}
}

func itoa64(x int64) string { return strconv.FormatInt(x, 10) }

func capDraws(n int64) int {
	if n > maxSamplesPerRow {
		return maxSamplesPerRow
	}
	return int(n)
}

// ---- coinflip --------------------------------------------------------------

// coinflipDescriptions are the Bernoulli class's descriptions for
// sample_names ["Heads", "Tails"] and P(Heads) = p.
func coinflipDescriptions(p float64) []string {
	a, b := "Heads", "Tails"
	names := PyRepr([]string{a, b})
	probs := PyStr(PyDict{{a, npRound(p, 3)}, {b, npRound(1-p, 3)}})
	pct := func(v float64) string { return PyFloat(100*npRound(v, 3)) + "%" }
	pcts := PyStr(PyDict{{a, pct(p)}, {b, pct(1 - p)}})
	var more string
	switch {
	case p > 0.5:
		more = fmt.Sprintf("Options: %s\n%s is more likely than %s.", names, a, b)
	case p < 0.5:
		more = fmt.Sprintf("Options: %s\n%s is more likely than %s.", names, b, a)
	default:
		more = fmt.Sprintf("Options: %s\n%s and %s are equally likely.", names, a, b)
	}
	return []string{
		names,
		probs,
		"Bernoulli(" + probs + ")",
		pcts,
		"Bernoulli(" + pcts + ")",
		more,
		fmt.Sprintf("Coin flip with %s and %s. It is potentially biased.", a, b),
	}
}

func coinflipRecipe(r *rng) iclRow {
	p := r.Float64()
	n := r.gp(128)
	outs := make([]string, n)
	for i := range outs {
		if r.Float64() < p {
			outs[i] = "Heads"
		} else {
			outs[i] = "Tails"
		}
	}
	return iclRow{coinflipDescriptions(p), outputsOnly(outs), []extraKV{{"p", p}}}
}

// ---- normal ----------------------------------------------------------------

// normalParams is the reference's random_mean_std plus random_round_digits.
func normalParams(r *rng) (mean, std float64, digits int) {
	u := r.Float64()
	switch {
	case u < 0.2:
		mean, std = r.uniform(0, 100), r.uniform(1, 5)
	case u < 0.4:
		mean, std = r.uniform(0, 100), r.uniform(1, 5)
		mean *= math.Exp(r.normal(0, 4))
		std *= math.Exp(r.normal(0, 3))
	case u < 0.6:
		mean, std = float64(r.poisson(10)), float64(r.poisson(20))
		if r.Float64() < 0.5 {
			mean = -mean
		}
		if r.Float64() < 0.5 && std != 0 {
			std = 1 / std
		}
	default:
		mean, std = r.uniform(0, 100), r.uniform(1, 5)
	}
	s := r.uniform(-10, 10)
	mean *= math.Exp(s)
	std *= math.Exp(s)
	return mean, std, int(r.poisson(3)) + 1
}

// normalDescriptions is the Normal class's 126-entry description list.
func normalDescriptions(mean, std float64, digits int) []string {
	type pair struct{ m, s string }
	params := []pair{
		{pyFixed(mean, 5), pyFixed(std, 5)},
		{pyFixed(mean, 4), pyFixed(std, 4)},
		{pyFixed(mean, 3), pyFixed(std, 3)},
		{pyFixed(mean, 2), pyFixed(std, 2)},
		{pyExp(mean, 4), pyExp(std, 4)},
		{pyExp(mean, 2), pyExp(std, 2)},
	}
	var starts []string
	for _, p := range params {
		starts = append(starts,
			fmt.Sprintf("Normal distribution with mean %s and std %s.", p.m, p.s),
			fmt.Sprintf("The following are draws from a normal distribution with mean %s and standard deviation %s.", p.m, p.s),
			fmt.Sprintf("x~N(%s, %s)", p.m, p.s),
			"Normal distribution",
			"Floating point numbers",
			"Decimal numbers",
			"Numbers",
		)
	}
	precs := []string{fmt.Sprintf("Precision: %d", digits), fmt.Sprintf("%d decimal places", digits), ""}
	out := make([]string, 0, len(starts)*len(precs))
	for _, s := range starts {
		for _, p := range precs {
			out = append(out, s+"\n"+p)
		}
	}
	return out
}

func normalRecipe(r *rng) iclRow {
	mean, std, digits := normalParams(r)
	n := r.gp(128)
	outs := make([]string, n)
	for i := range outs {
		outs[i] = pyFixed(r.normal(mean, std), digits)
	}
	return iclRow{normalDescriptions(mean, std, digits), outputsOnly(outs),
		[]extraKV{{"mean", mean}, {"std", std}, {"round_digits", digits}}}
}

// ---- cards -----------------------------------------------------------------

const cardsDescription = "Draw cards at random from a standard 52-card deck without replacement. The deck contains all standard playing cards (2-10, J, Q, K, A) in four suits (♣, ♦, ♥, ♠)."

func cardDeck() []string {
	var deck []string
	for _, s := range []string{"♣", "♦", "♥", "♠"} {
		for _, r := range []string{"2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K", "A"} {
			deck = append(deck, r+s)
		}
	}
	return deck
}

func cardsRecipe(r *rng) iclRow {
	deck := cardDeck()
	r.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
	return iclRow{[]string{cardsDescription}, outputsOnly(deck), nil}
}

// ---- discrete distributions ------------------------------------------------

func intDraws(n int, draw func() int64) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = itoa64(draw())
	}
	return outs
}

func poissonRecipe(r *rng) iclRow {
	lambda := r.gamma(0.5, 2000)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return r.poisson(lambda) })
	l := PyFloat(lambda)
	return iclRow{[]string{
		"Draws from a Poisson distribution with parameter " + l + ".",
		"Poisson distribution",
		"Poisson(" + l + ")",
	}, outputsOnly(outs), []extraKV{{"lambda", lambda}}}
}

func geometricRecipe(r *rng) iclRow {
	p := r.beta(1, 1)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return r.geometric(p) })
	ps := PyFloat(p)
	return iclRow{[]string{
		"Draws from a geometric distribution with parameter " + ps + ".",
		"Geometric distribution",
		"Geometric(" + ps + ")",
	}, outputsOnly(outs), []extraKV{{"p", p}}}
}

func geometricBetaRecipe(r *rng) iclRow {
	p := r.beta(1, 1)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return r.geometric(p) })
	return iclRow{[]string{
		"Draws from a geometric distribution with success probability p=" + pyFixed(p, 3) + ".",
		"Geometric distribution",
	}, outputsOnly(outs), []extraKV{{"p", p}, {"n_draws", n}}}
}

func binomialRecipe(r *rng) iclRow {
	p := r.beta(1, 1)
	trials := r.gp(1024)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return r.binomial(trials, p) })
	ns, ps := itoa64(trials), PyFloat(p)
	return iclRow{[]string{
		"Draws from a binomial distribution with parameters n=" + ns + " and p=" + ps + ".",
		"Binomial distribution",
		"Binomial(" + ns + ", " + ps + ")",
	}, outputsOnly(outs), []extraKV{{"p", p}, {"n_trials", trials}}}
}

func negativeBinomialRecipe(r *rng) iclRow {
	rr := r.beta(1, 1)
	p := r.uniform(0, 1)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return r.negativeBinomial(rr, p) })
	rs, ps := pyFixed(rr, 2), pyFixed(p, 2)
	return iclRow{[]string{
		"Draws from a negative binomial distribution with parameters r=" + rs + " and p=" + ps + ".",
		"Negative binomial distribution",
		"NegativeBinomial(" + rs + ", " + ps + ")",
	}, outputsOnly(outs), []extraKV{{"r", rr}, {"p", p}}}
}

// probVectorString is str({i: float(np.round(p_i, 4))}).
func probVectorString(p []float64) string {
	d := make(PyDict, len(p))
	for i, v := range p {
		d[i] = PyItem{i, npRound(v, 4)}
	}
	return PyStr(d)
}

func numCategories(r *rng) int {
	return int(max(r.gp(12), 2))
}

func categoricalRecipe(r *rng) iclRow {
	k := numCategories(r)
	p := r.dirichletOnes(k)
	cum := cumsum(p)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return int64(r.categorical(cum)) })
	pv := probVectorString(p)
	ks := strconv.Itoa(k)
	return iclRow{[]string{
		"Draws from a categorical distribution with " + ks + " categories and probability vector " + pv + ".",
		"Categorical distribution",
		"SingleVariableIID(" + ks + ", " + pv + ")",
	}, outputsOnly(outs), []extraKV{{"n_categories", k}, {"probs", p}}}
}

func multinomialRecipe(r *rng) iclRow {
	k := numCategories(r)
	p := r.dirichletOnes(k)
	n := capDraws(r.gp(1024))
	total := r.gp(32)
	asDict := r.Float64() < 0.5
	outs := make([]string, n)
	for i := range outs {
		counts := r.multinomial(total, p)
		if asDict {
			d := make(PyDict, k)
			for j, c := range counts {
				d[j] = PyItem{j, c} // plain ints, not NumPy 2's np.int64(…)
			}
			outs[i] = PyStr(d)
		} else {
			s := make([]string, k)
			for j, c := range counts {
				s[j] = itoa64(c)
			}
			outs[i] = PyStr(s)
		}
	}
	pv := probVectorString(p)
	ks, ms := strconv.Itoa(k), itoa64(total)
	return iclRow{[]string{
		"Draws from a multinomial distribution with " + ks + " categories, " + ms + " total draws, and probability vector " + pv + ".",
		"Multinomial distribution",
		"Multinomial(" + ks + ", " + ms + ", " + pv + ")",
	}, outputsOnly(outs), []extraKV{{"n_categories", k}, {"n_draws", n}, {"total_draws", total}, {"probs", p}, {"as_dict", asDict}}}
}

func hypergeometricRecipe(r *rng) iclRow {
	pop := int(r.gp(128))
	good := r.randint(1, pop)
	draws := r.randint(1, pop)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return int64(r.hypergeometric(good, pop-good, draws)) })
	return iclRow{[]string{
		fmt.Sprintf("Draws from a hypergeometric distribution with population size N=%d, number of positive draws K=%d, number of draws n=%d.", pop, good, draws),
		"Hypergeometric distribution",
	}, outputsOnly(outs), []extraKV{{"N", pop}, {"K", good}, {"n_draws", draws}}}
}

func zipfianRecipe(r *rng) iclRow {
	alpha := r.uniform(1+1e-6, 2.5)
	n := capDraws(r.gp(1024))
	outs := intDraws(n, func() int64 { return r.zipf(alpha) })
	return iclRow{[]string{
		"Draws from a Zipfian distribution with alpha=" + pyFixed(alpha, 3) + ".",
		"Zipfian distribution",
	}, outputsOnly(outs), []extraKV{{"alpha", alpha}, {"n_draws", n}}}
}

func init() {
	const dd = "icl_classes/icl_dataset_classes/discrete_dists.py"
	icl := func(name string, rows int, src, summary string, descs []string, recipe iclRecipe) *Task {
		return &Task{Name: name, Kind: KindICL, Offline: true, DefaultRows: rows, Source: src,
			Summary: summary, Descriptions: descs, gen: iclGen(recipe)}
	}
	register(icl("coinflip", 1000, "icl_classes/icl_dataset_classes/coinflip.py",
		"→ Heads/Tails with P(Heads)=p, p~U(0,1); n~GP(128)",
		[]string{"['Heads', 'Tails']", "{'Heads': {p:.3}, 'Tails': {1-p:.3}}", "Bernoulli({'Heads': {p:.3}, 'Tails': {1-p:.3}})",
			"{'Heads': '{100p}%', 'Tails': '{100(1-p)}%'}", "Bernoulli({'Heads': '{100p}%', 'Tails': '{100(1-p)}%'})",
			"Options: ['Heads', 'Tails']\n{more likely}", "Coin flip with Heads and Tails. It is potentially biased."},
		coinflipRecipe))
	nt := icl("normal", 1000, "icl_classes/icl_dataset_classes/normal.py",
		"→ decimal numbers from N(μ,σ) rounded to d places; n~GP(128)",
		[]string{"Normal distribution with mean {μ} and std {σ}.\n{prec}",
			"The following are draws from a normal distribution with mean {μ} and standard deviation {σ}.\n{prec}",
			"x~N({μ}, {σ})\n{prec}", "Normal distribution\n{prec}", "Floating point numbers\n{prec}",
			"Decimal numbers\n{prec}", "Numbers\n{prec}"},
		normalRecipe)
	nt.DescriptionProb = NormalDescriptionProb
	register(nt)
	register(icl("cards", 100, dd, "→ a shuffled 52-card deck (without replacement)",
		[]string{cardsDescription}, cardsRecipe))
	register(icl("poisson", 500, dd, "→ integers ~ Poisson(λ), λ~Gamma(0.5, 2000); n~GP(1024)",
		[]string{"Draws from a Poisson distribution with parameter {λ}.", "Poisson distribution", "Poisson({λ})"},
		poissonRecipe))
	register(icl("geometric", 500, dd, "→ integers ~ Geometric(p), p~Beta(1,1); n~GP(1024)",
		[]string{"Draws from a geometric distribution with parameter {p}.", "Geometric distribution", "Geometric({p})"},
		geometricRecipe))
	register(icl("geometric_beta", 500, dd, "→ integers ~ Geometric(p), p~Beta(1,1); n~GP(1024)",
		[]string{"Draws from a geometric distribution with success probability p={p:.3f}.", "Geometric distribution"},
		geometricBetaRecipe))
	register(icl("binomial", 500, dd, "→ integers ~ Binomial(N, p), N~GP(1024), p~Beta(1,1); n~GP(1024)",
		[]string{"Draws from a binomial distribution with parameters n={N} and p={p}.", "Binomial distribution", "Binomial({N}, {p})"},
		binomialRecipe))
	register(icl("negative_binomial", 500, dd, "→ integers ~ NegBin(r, p), r~Beta(1,1), p~U(0,1); n~GP(1024)",
		[]string{"Draws from a negative binomial distribution with parameters r={r:.2f} and p={p:.2f}.",
			"Negative binomial distribution", "NegativeBinomial({r:.2f}, {p:.2f})"},
		negativeBinomialRecipe))
	register(icl("categorical", 500, dd, "→ category index, K=max(GP(12),2), π~Dir(1); n~GP(1024)",
		[]string{"Draws from a categorical distribution with {K} categories and probability vector {pv}.",
			"Categorical distribution", "SingleVariableIID({K}, {pv})"},
		categoricalRecipe))
	register(icl("multinomial", 500, dd, "→ count vectors (dict or list), K=max(GP(12),2), M~GP(32); n~GP(1024)",
		[]string{"Draws from a multinomial distribution with {K} categories, {M} total draws, and probability vector {pv}.",
			"Multinomial distribution", "Multinomial({K}, {M}, {pv})"},
		multinomialRecipe))
	register(icl("hypergeometric", 500, dd, "→ integers ~ Hypergeometric(N, K, n), N~GP(128); n~GP(1024)",
		[]string{"Draws from a hypergeometric distribution with population size N={N}, number of positive draws K={K}, number of draws n={n}.",
			"Hypergeometric distribution"},
		hypergeometricRecipe))
	register(icl("zipfian", 500, dd, "→ integers ~ Zipf(α), α~U(1+1e-6, 2.5); n~GP(1024)",
		[]string{"Draws from a Zipfian distribution with alpha={α:.3f}.", "Zipfian distribution"},
		zipfianRecipe))
	register(icl("flight", 200, "icl_classes/icl_dataset_classes/synth_flight_prefs.py",
		"3 flight options → preferred flight number, one profile per individual; 20 examples",
		[]string{flightDescription}, flightRecipe))
}
