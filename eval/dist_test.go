package eval

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

// separateLogProb scores tokens[from:] of one sequence on its own: a fresh
// context, every position's logits, the full log-softmax.
func separateLogProb(t *testing.T, m *llama.Model, toks []llama.Token, from int) float64 {
	t.Helper()
	ctx, err := llama.NewContext(m, llama.ContextParams{NCtx: 512, NBatch: 512, Threads: 1, KVType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	b, err := llama.NewBatch(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, tk := range toks {
		if _, err := b.Add(tk, llama.Pos(i), []llama.SeqID{0}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := ctx.Decode(b); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for p := from; p < len(toks); p++ {
		lsm, err := ctx.LogSoftmax(p-1, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum += float64(lsm[toks[p]])
	}
	return sum
}

func TestCandidatesSharedPrefixEqualsSeparate(t *testing.T) {
	m := stories(t)
	s := newScorer(t, m, ScorerOptions{NSeqMax: 4}) // 3 candidate slots: forces several rounds
	prompt := "Once upon a time, there was a little girl named"
	cands := []string{" Lily", " Tim", " Sue", " Lily and her mom", " a", " Ben", ""}
	got, err := s.CandidateLogProbs(context.Background(), prompt, "", cands, "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Tokenize(prompt, true, true)
	for i, c := range cands {
		toks, _ := m.Tokenize(prompt+c, true, true)
		want := separateLogProb(t, m, toks, len(p))
		if math.Abs(got[i]-want) > 1e-4 {
			t.Errorf("candidate %q: shared prefix %.6f, separately %.6f", c, got[i], want)
		}
	}
	if got[len(cands)-1] != 0 {
		t.Errorf("empty candidate: log q̃ = %g, want 0", got[len(cands)-1])
	}
}

func TestCandidatesSharingFirstToken(t *testing.T) {
	m := stories(t)
	s := newScorer(t, m, ScorerOptions{})
	prompt := "Once upon a time, there was a"
	a, b := " little", " little girl"
	ta, _ := m.Tokenize(prompt+a, true, true)
	tb, _ := m.Tokenize(prompt+b, true, true)
	p, _ := m.Tokenize(prompt, true, true)
	if len(ta) <= len(p) || tb[len(p)] != ta[len(p)] {
		t.Fatalf("the candidates do not share their first token: %v %v", ta[len(p):], tb[len(p):])
	}
	lp, err := s.CandidateLogProbs(context.Background(), prompt, "", []string{a, b}, "")
	if err != nil {
		t.Fatal(err)
	}
	la, lb := separateLogProb(t, m, ta, len(p)), separateLogProb(t, m, tb, len(p))
	q, cov := NormalizeLogProbs(lp)
	wantQa := math.Exp(la) / (math.Exp(la) + math.Exp(lb))
	near(t, "q(little)", q[0], wantQa, 1e-5)
	near(t, "coverage", cov, math.Exp(la)+math.Exp(lb), 1e-5*cov)
	if q[0] <= q[1] {
		t.Errorf("a string's prefix must be more likely than the string: %v", q)
	}
}

func TestEvalDistStories(t *testing.T) {
	m := stories(t)
	task, _ := suite.Lookup("urn")
	rows, err := task.Generate(3, 6)
	if err != nil {
		t.Fatal(err)
	}
	s := newScorer(t, m, ScorerOptions{})
	res, drows, err := EvalDist(context.Background(), s, format.NewColon(), "urn", rows, DistOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.NRows != 6 || len(drows) != 6 {
		t.Fatalf("rows: %d %d", res.NRows, len(drows))
	}
	var js []float64
	for _, r := range drows {
		var sum float64
		for _, q := range r.Probs {
			sum += q
		}
		near(t, "Σq", sum, 1, 1e-9)
		if r.Coverage <= 0 || r.Coverage > 1 {
			t.Errorf("coverage %g", r.Coverage)
		}
		dm, _ := CompareDistributions(r.TargetProbs, r.Probs, Epsilon)
		if dm != r.DistMetrics {
			t.Errorf("row metrics %+v, recomputed %+v", r.DistMetrics, dm)
		}
		js = append(js, r.JS)
	}
	near(t, "mean JS", float64(res.JS.Mean), Summarize(js).Mean.f(), 1e-12)
	// The colon prompt of an urn row names the output "Response (color)".
	p, pre, err := DistPrompt(format.NewColon(), &rows[0], task.OutputName)
	if err != nil || pre != " " || p[len(p)-len("\nResponse (color):"):] != "\nResponse (color):" {
		t.Errorf("colon prompt %q prefix %q %v", p, pre, err)
	}
	// --complete scores the end string too: every candidate gets less likely.
	c, _, err := EvalDist(context.Background(), s, format.NewColon(), "urn", rows[:1], DistOptions{Complete: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Complete || float64(c.Coverage.Mean) >= drows[0].Coverage {
		t.Errorf("complete coverage %v vs prefix %v", c.Coverage.Mean, drows[0].Coverage)
	}
}

func (n Num) f() float64 { return float64(n) }

func TestCoverageStories(t *testing.T) {
	m := stories(t)
	task, _ := suite.Lookup("rng_1_10")
	e, err := sample.NewEngine(m, sample.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o := CoverageOptions{N: 24, Seed: 5, Variants: []string{VariantExamples, VariantBoth}}
	res, gens, err := EvalCoverage(context.Background(), e, m, format.NewColon(), task, 0, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 48 || len(res) != 2 {
		t.Fatalf("%d generations, %d variants", len(gens), len(res))
	}
	for _, v := range o.Variants {
		var texts []string
		var valid []bool
		for _, g := range gens {
			if g.Variant != v {
				continue
			}
			if g.Valid != task.Validate(g.Text) {
				t.Errorf("validity of %q", g.Text)
			}
			texts = append(texts, g.Text)
			valid = append(valid, g.Valid)
		}
		want := Coverage(texts, valid, len(task.ValidSet))
		got := res[v]
		if got.N != 24 || got.UniqueValidCount != want.UniqueValidCount || got.RawUniquePct != want.RawUniquePct || got.PercentValid != want.PercentValid || *got.CoveragePct != *want.CoveragePct {
			t.Errorf("%s: %+v, recomputed %+v", v, got, want)
		}
	}
	// Same seed, same generations.
	_, again, err := EvalCoverage(context.Background(), e, m, format.NewColon(), task, 0, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gens {
		if gens[i] != again[i] {
			t.Fatalf("generation %d differs between runs: %+v vs %+v", i, gens[i], again[i])
		}
	}
	agg := AggregateCoverage(map[string]map[string]CoverageMetrics{"rng_1_10": res, "other": {VariantBoth: {N: 1, PercentValid: 1, UniqueGensPct: 1, UniqueValidCount: 1}}})
	near(t, "aggregate percent_valid", float64(agg[VariantBoth]["percent_valid"].Mean), (float64(res[VariantBoth].PercentValid)+1)/2, 1e-12)
	if _, _, err := EvalCoverage(context.Background(), e, m, format.NewColon(), &suite.Task{Name: "x", Kind: suite.KindICL}, 0, o, nil); err == nil {
		t.Error("an ICL task accepted for coverage")
	}
}

func TestBadInputs(t *testing.T) {
	m := stories(t)
	// A row with no scored output: a description-less row with one output
	// in a format that leaves the first output unscored is not possible
	// with colon; use rows whose only messages are inputs.
	rows := []suite.Row{{Task: "t", Messages: []suite.Message{{Role: "input", Content: "x"}}}}
	_, err := PrepareSteer(format.NewColon(), m, "t", rows, SteerOptions{})
	if !errors.Is(err, ErrNoScoredOutputs) {
		t.Errorf("rows without outputs: %v", err)
	}
	// Too few examples for any k.
	few := []suite.Row{{Task: "t", Messages: []suite.Message{{Role: "output", Content: "a"}, {Role: "output", Content: "b"}}}}
	if _, err := PrepareSteer(format.NewColon(), m, "t", few, SteerOptions{}); !errors.Is(err, ErrNoK) {
		t.Errorf("rows with two outputs: %v", err)
	}
	// A format the model cannot render.
	if _, err := format.ForModel("spectrum", format.FamilyGemma3, m); err == nil {
		t.Error("stories260K rendered the gemma3 spectrum format")
	}
	// A distributional row without targets.
	s := newScorer(t, m, ScorerOptions{})
	if _, _, err := EvalDist(context.Background(), s, format.NewColon(), "t", few, DistOptions{}, nil); err == nil {
		t.Error("a row without targets accepted for dist")
	}
	if _, err := s.Score(context.Background(), []format.Tokens{{IDs: []int32{1, 2}, Loss: []bool{false}}}, nil); err == nil {
		t.Error("mismatched loss mask accepted")
	}
	if _, err := NewScorer(m, ScorerOptions{NBatch: -1}); err == nil {
		t.Error("negative batch accepted")
	}
}
