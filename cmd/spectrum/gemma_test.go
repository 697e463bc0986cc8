package main

// Tests on the project's real model, Gemma 3 270M (the pretrained base,
// Q4_K_M, 262,144-token vocabulary), installed by `make models`. Without it
// they skip with a message naming `make models`; in CI they fail instead.

import (
	"encoding/json"
	"flag"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/suite"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the Gemma tests")

func TestGemmaInfo(t *testing.T) {
	g := testmodels.Gemma(t)
	out, _, err := runCLI(t, "info", "--json", g)
	if err != nil {
		t.Fatal(err)
	}
	var got modelInfoJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	wantTurns := []turnToken{{"<start_of_turn>", 105}, {"<end_of_turn>", 106}}
	if got.Architecture != "gemma3" || got.Family != "gemma3" || got.FileType != "Q4_K_M" || got.VocabSize != 262144 ||
		got.BlockCount != 18 || got.EmbeddingLength != 640 || !got.AddBOS || got.Params != 268098176 ||
		!slices.Equal(got.TurnTokens, wantTurns) ||
		*got.SpecialTokens["bos"] != 2 || *got.SpecialTokens["eos"] != 1 || *got.SpecialTokens["eot"] != 106 {
		t.Errorf("info --json = %+v", got)
	}
	out, _, err = runCLI(t, "info", g)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chat family       gemma3\n", "file type         Q4_K_M\n",
		"turn tokens       <start_of_turn>=105 <end_of_turn>=106\n", "vocabulary        262144 (llama)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
}

// TestGemmaGenerateGolden: greedy decoding of a fixed prompt equals the text
// recorded once (testdata/gemma-greedy48.golden; -update rewrites it).
func TestGemmaGenerateGolden(t *testing.T) {
	g := testmodels.Gemma(t)
	out, _, err := runCLI(t, "generate", g, "-p", "Once upon a time, in a small village,", "-n", "48", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "gemma-greedy48.golden")
	if *updateGolden {
		os.WriteFile(golden, []byte(out), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("greedy 48 tokens:\n got %q\nwant %q", out, want)
	}
}

// TestGemmaFormat: the spectrum format renders Gemma's turn markers as single
// special tokens (<start_of_turn> 105, <end_of_turn> 106), BOS once at the
// start, the final EOS unlabelled, and loss exactly on each scored output and
// its <end_of_turn> (reference §2.1, §3); without a description the first
// output is context, not a target.
func TestGemmaFormat(t *testing.T) {
	g := testmodels.Gemma(t)
	rows := filepath.Join(t.TempDir(), "rows.jsonl")
	os.WriteFile(rows, []byte(`{"task":"states","messages":[{"role":"description","content":"A US state"},{"role":"output","content":"Ohio"},{"role":"output","content":"New York"}]}
{"task":"add","messages":[{"role":"input","content":"2+2"},{"role":"output","content":"4"},{"role":"input","content":"3+5"},{"role":"output","content":"8"}]}
`), 0o644)
	out, _, err := runCLI(t, "format", "--tokens", "--json", g, rows)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	type tok struct {
		id   int32
		loss bool
		ex   int
	}
	// <bos> <start_of_turn> description \n A ␣US ␣state <end_of_turn> \n
	// <start_of_turn> output \n [Ohio <end_of_turn>] \n <start_of_turn> output \n
	// [New ␣York <end_of_turn>] \n <eos>
	want := [][]tok{{
		{2, false, -1}, {105, false, -1}, {7777, false, -1}, {107, false, -1}, {236776, false, -1}, {2590, false, -1},
		{1883, false, -1}, {106, false, -1}, {107, false, -1},
		{105, false, -1}, {4606, false, -1}, {107, false, -1}, {65674, true, 0}, {106, true, 0}, {107, false, -1},
		{105, false, -1}, {4606, false, -1}, {107, false, -1}, {4199, true, 1}, {3773, true, 1}, {106, true, 1}, {107, false, -1},
		{1, false, -1},
	}, {
		{2, false, -1}, {105, false, -1}, {2427, false, -1}, {107, false, -1}, {236778, false, -1}, {236862, false, -1},
		{236778, false, -1}, {106, false, -1}, {107, false, -1},
		{105, false, -1}, {4606, false, -1}, {107, false, -1}, {236812, false, -1}, {106, false, -1}, {107, false, -1},
		{105, false, -1}, {2427, false, -1}, {107, false, -1}, {236800, false, -1}, {236862, false, -1}, {236810, false, -1},
		{106, false, -1}, {107, false, -1},
		{105, false, -1}, {4606, false, -1}, {107, false, -1}, {236828, true, 0}, {106, true, 0}, {107, false, -1},
		{1, false, -1},
	}}
	wantText := []string{
		"<start_of_turn>description\nA US state<end_of_turn>\n<start_of_turn>output\nOhio<end_of_turn>\n<start_of_turn>output\nNew York<end_of_turn>\n",
		"<start_of_turn>input\n2+2<end_of_turn>\n<start_of_turn>output\n4<end_of_turn>\n<start_of_turn>input\n3+5<end_of_turn>\n<start_of_turn>output\n8<end_of_turn>\n",
	}
	for i := range want {
		var r formatJSON
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if r.Format != "spectrum" || r.Family != "gemma3" || r.Text != wantText[i] {
			t.Errorf("row %d: format %s/%s text %q", i, r.Format, r.Family, r.Text)
		}
		var got []tok
		for j := range r.Tokens {
			got = append(got, tok{r.Tokens[j], r.Loss[j], r.ExampleIndex[j]})
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("row %d tokens:\n got %v\nwant %v", i, got, want[i])
		}
	}
}

// TestGemmaSample: at temperature 1 the base model continues a list of US
// states in the colon format with valid state names (measured: 163 of 200;
// floor 70 %), each completion cut at its first line.
func TestGemmaSample(t *testing.T) {
	g := testmodels.Gemma(t)
	out, _, err := runCLI(t, "sample", g, "--format", "colon", "--description", "A US state", "-e", "Ohio", "-e", "Utah", "-e", "Texas",
		"-n", "200", "--max-tokens", "8", "--first-line", "--seed", "1", "--jsonl", "-q")
	if err != nil {
		t.Fatal(err)
	}
	valid, n := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var c struct{ Text, Finish string }
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		n++
		if slices.Contains(suite.USStates(), strings.TrimSpace(c.Text)) {
			valid++
		}
	}
	t.Logf("%d of %d valid state names", valid, n)
	if n != 200 || valid < 140 {
		t.Errorf("%d of %d completions are valid US states, want ≥ 140 of 200", valid, n)
	}
}

// gemmaMetrics picks the headline numbers out of an eval report.
func gemmaMetrics(t *testing.T, prefix string, b []byte) map[string]float64 {
	t.Helper()
	var rep struct {
		Steer    map[string]map[string]any            `json:"steer"`
		Coverage map[string]map[string]map[string]any `json:"coverage"`
		Dist     map[string]map[string]any            `json:"dist"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", prefix, err)
	}
	m := map[string]float64{}
	num := func(key string, v any) {
		switch x := v.(type) {
		case float64:
			m[prefix+key] = x
		case map[string]any:
			if f, ok := x["mean"].(float64); ok {
				m[prefix+key] = f
			}
		}
	}
	for task, r := range rep.Steer {
		for _, k := range []string{"loss_geq_1", "all_acc_geq_1", "k"} {
			num("steer/"+task+"/"+k, r[k])
		}
	}
	for task, vs := range rep.Coverage {
		for v, r := range vs {
			for _, k := range []string{"percent_valid", "unique_gens_pct"} {
				num("coverage/"+task+"/"+v+"/"+k, r[k])
			}
		}
	}
	for task, r := range rep.Dist {
		for _, k := range []string{"js_divergence", "mode_match"} {
			num("dist/"+task+"/"+k, r[k])
		}
	}
	return m
}

// TestGemmaEval runs eval steer, coverage and dist on Gemma in the spectrum
// and the colon format (a pretrained model: the reference evaluates those in
// colon) and compares the headline numbers with the ones recorded in
// testdata/gemma-eval.json, with BLAS, or gemma-eval-noblas.json, without
// (-update rewrites the one in use; the README quotes the first).
// Scoring is deterministic, so steer and dist must agree to 1e-3; coverage
// samples with fixed seeds and must agree to 0.05.
func TestGemmaEval(t *testing.T) {
	g := testmodels.Gemma(t)
	dir := t.TempDir()
	got := map[string]float64{}
	for _, f := range []string{"spectrum", "colon"} {
		for _, args := range [][]string{
			{"steer", "--tasks", "negative_binomial,geometric_beta", "--n-rows", "8", "--select-max-len", "256"},
			{"coverage", "--tasks", "us_states_full_names,rng_1_10", "-n", "24", "--variants", "examples,both"},
			{"dist", "--tasks", "urn,states", "--n-rows", "12"},
		} {
			out := filepath.Join(dir, f+args[0]+".json")
			cmd := append([]string{"eval", args[0], g, "--format", f, "--seed", "3", "-o", out, "-q"}, args[1:]...)
			if _, _, err := runCLI(t, cmd...); err != nil {
				t.Fatalf("%v: %v", cmd, err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range gemmaMetrics(t, f+"/", oneReport(t, b)) {
				got[k] = v
			}
		}
	}
	// k is chosen once, in the spectrum format, and shared by the colon run
	// (the reference's get_example_k).
	for _, task := range []string{"negative_binomial", "geometric_beta"} {
		if c, sp := got["colon/steer/"+task+"/k"], got["spectrum/steer/"+task+"/k"]; c != sp || c == 0 {
			t.Errorf("%s: k %v in colon, %v in spectrum: not shared", task, c, sp)
		}
	}
	// Prompt batches run on BLAS where the machine has it (CI installs
	// OpenBLAS), and BLAS multiplies by dequantized weights where ggml's
	// kernels quantize activations: the numbers differ by ~1e-3 relative
	// (JS up to 5%), so each setting has its own record.
	golden := filepath.Join("testdata", "gemma-eval.json")
	if lib, _ := llama.BLAS(); lib == "" {
		golden = filepath.Join("testdata", "gemma-eval-noblas.json")
	}
	if *updateGolden {
		b, _ := json.MarshalIndent(got, "", "  ")
		os.WriteFile(golden, append(b, '\n'), 0o644)
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]float64
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w := want[k]
		v, ok := got[k]
		tol := 1e-3 * math.Max(1, math.Abs(w))
		if strings.Contains(k, "/coverage/") {
			tol = 0.05
		}
		if !ok || math.Abs(v-w) > tol {
			t.Errorf("%s = %v, recorded %v", k, v, w)
		}
	}
	if len(got) != len(want) || len(want) < 20 {
		t.Errorf("%d metrics, %d recorded", len(got), len(want))
	}
}

// tuneSummary is the part of tune's JSON summary the tests check.
type tuneSummary struct {
	Steps     int     `json:"steps"`
	FirstLoss float64 `json:"first_loss"`
	LastLoss  float64 `json:"last_loss"`
}

// shortTune runs a short `tune` of model (coinflip, poisson, cards; rows cut
// at 96 tokens; rank 8; constant lr without warmup; no evaluation) writing
// the adapter ad, and returns its summary and output.
func shortTune(t *testing.T, model, dir, ad, rowsPerTask, lr, batchTokens, steps string) (tuneSummary, string) {
	t.Helper()
	out, _, err := runCLI(t, "tune", model, "--tasks", "coinflip,poisson,cards", "--rows-per-task", rowsPerTask, "--max-length", "96",
		"--rank", "8", "--lr", lr, "--schedule", "constant", "--warmup", "0", "--batch-tokens", batchTokens, "--max-steps", steps,
		"--eval-tasks", "none", "--checkpoint-dir", dir, "-o", ad, "-q")
	if err != nil {
		t.Fatal(err)
	}
	var sum tuneSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("training: %+v", sum)
	return sum, out
}

// TestGemmaTune: a short Spectrum Tuning run on Gemma (spectrum format, three
// train tasks) lowers loss_geq_1 on a held-out task family it never saw; the
// adapter loads in llama.cpp (the scorer and the sampler attach it), makes
// the model end outputs with <end_of_turn>, and `merge` folds it into a
// Q4_K_M model whose logits equal base+adapter within the 4-bit error.
func TestGemmaTune(t *testing.T) {
	g := testmodels.Gemma(t)
	dir := t.TempDir()
	ad := filepath.Join(dir, "a.gguf")
	sum, out := shortTune(t, g, dir, ad, "16", "1e-3", "384", "6")
	if sum.Steps != 6 || !(sum.LastLoss < sum.FirstLoss) {
		t.Errorf("training summary %s", out)
	}

	// Held-out steerability, base vs tuned (negative_binomial is a test-split
	// family: no row of it was trained on).
	res := filepath.Join(dir, "steer.json")
	if _, _, err := runCLI(t, "eval", "steer", g, "--tasks", "negative_binomial", "--n-rows", "8", "--select-max-len", "256",
		"--seed", "5", "--compare", g+"+"+ad, "-o", res, "-q"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	reps := reportsOf(t, b)
	if len(reps) != 2 {
		t.Fatalf("compare report: %d reports", len(reps))
	}
	base, tuned := gemmaMetrics(t, "", reps[0]), gemmaMetrics(t, "", reps[1])
	const key = "steer/negative_binomial/loss_geq_1"
	t.Logf("held-out negative_binomial loss_geq_1: base %.3f, tuned %.3f", base[key], tuned[key])
	if !(tuned[key] < base[key]) {
		t.Errorf("held-out loss_geq_1: base %.3f, tuned %.3f (want lower)", base[key], tuned[key])
	}

	// The tuned model ends outputs with <end_of_turn>; the base never does.
	ends := func(lora ...string) int {
		args := []string{"sample", g, "--description", "A number between 1 and 10", "-e", "3", "-e", "7", "-n", "32",
			"--max-tokens", "12", "--seed", "2", "--jsonl", "-q"}
		for _, l := range lora {
			args = append(args, "--lora", l)
		}
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var c struct{ Finish string }
			json.Unmarshal([]byte(l), &c)
			if c.Finish == "stop" || c.Finish == "eog" {
				n++
			}
		}
		return n
	}
	eb, et := ends(), ends(ad)
	t.Logf("completions ended by <end_of_turn>: base %d of 32, tuned %d of 32", eb, et)
	// Measured: base 0, tuned 10 of 32 after these 6 steps (the base model
	// never ends an output: its turn tokens are untrained).
	if et < 6 || et <= eb {
		t.Errorf("completions ended by <end_of_turn>: base %d, tuned %d of 32 (want ≥ 6 and more than base)", eb, et)
	}

	// merge folds the adapter in. At 8 bits the merged model reproduces
	// base+adapter within the requantization error (measured by merging
	// the adapter at scale 0: 0.072 of the logit scale; with it 0.046). At
	// --type same (Q4_K_M) it keeps the k-quant mix, but 4- and 5-bit
	// rounding is coarser than a short run's weight changes: measured 0.37
	// from base+adapter against the adapter's own effect of 0.60 (README).
	const prompt = "<start_of_turn>description\nA number between 1 and 10<end_of_turn>\n<start_of_turn>output\n3<end_of_turn>\n<start_of_turn>output\n"
	want := llamatest.Logits(t, g, []llamatest.Adapter{{Path: ad, Scale: 1}}, prompt)
	baseLogits := llamatest.Logits(t, g, nil, prompt)
	effect := llamatest.RelMaxDiff(baseLogits, want)
	merge := func(name, spec, typ string) []float32 {
		out := filepath.Join(dir, name)
		if _, _, err := runCLI(t, "merge", g, "--lora", spec, "--type", typ, "-o", out, "-q"); err != nil {
			t.Fatal(err)
		}
		return llamatest.Logits(t, out, nil, prompt)
	}
	qerr := llamatest.RelMaxDiff(merge("zero-q8.gguf", ad+":0", "q8_0"), baseLogits)
	d8 := llamatest.RelMaxDiff(merge("merged-q8.gguf", ad, "q8_0"), want)
	dq4 := llamatest.RelMaxDiff(merge("merged-q4km.gguf", ad, "same"), want)
	t.Logf("merged Q8_0 vs base+adapter %.3g (requantization error %.3g); Q4_K_M %.3g; adapter effect %.3g", d8, qerr, dq4, effect)
	if d8 > 2*qerr || d8 > effect/4 || dq4 >= effect {
		t.Errorf("merged Q8_0 vs base+adapter %.3g (requantization error %.3g); Q4_K_M %.3g; adapter effect %.3g", d8, qerr, dq4, effect)
	}
	if in, err := models.ReadInfo(filepath.Join(dir, "merged-q4km.gguf")); err != nil || in.FileTypeName != "Q4_K_M" {
		t.Errorf("merge --type same: %v, file type %v", err, in)
	}
}
