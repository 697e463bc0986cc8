package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/testmodels"
)

type steerRowOut struct {
	Task    string `json:"task"`
	Row     int    `json:"row"`
	Outputs []struct {
		ExampleIndex int     `json:"example_index"`
		Tokens       int     `json:"tokens"`
		Loss         float64 `json:"loss"`
		AllAcc       float64 `json:"all_acc"`
	} `json:"outputs"`
}

func readSteerRows(t *testing.T, path string) map[string]steerRowOut {
	t.Helper()
	out := map[string]steerRowOut{}
	for _, m := range readJSONL(t, path) {
		b, _ := json.Marshal(m)
		var r steerRowOut
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprint(r.Task, r.Row)] = r
	}
	return out
}

// compareRemote runs eval steer and eval dist on model locally and through
// llama-cpp-python's server with the same model, and returns the largest
// per-token difference of the outputs' losses and of the candidates'
// log-probabilities (in nats), after checking both sides scored the same
// outputs with the same numbers of tokens.
func compareRemote(t *testing.T, model string, rowsPerTask int) (steerDiff, distDiff float64) {
	t.Helper()
	// Both sides keep the KV cache in F32 (ggml type 0), so only the order
	// of floating-point sums differs.
	url := testmodels.StartPeer(t, model, "--type_k", "0", "--type_v", "0")
	dir := t.TempDir()
	rows := filepath.Join(dir, "rows.jsonl")
	if _, _, err := runCLI(t, "suite", "generate", "coinflip", "negative_binomial", "--rows", fmt.Sprint(rowsPerTask), "--seed", "5", "-o", rows); err != nil {
		t.Fatal(err)
	}
	run := func(name string, extra ...string) string {
		out := filepath.Join(dir, name+".jsonl")
		args := append([]string{"eval", "steer", model, "--rows", rows, "--k", "2", "--kv-type", "f32", "--rows-out", out, "-o", filepath.Join(dir, name+".json"), "-q"}, extra...)
		if _, stderr, err := runCLI(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		return out
	}
	local := readSteerRows(t, run("local"))
	remote := readSteerRows(t, run("remote", "--server", url, "--concurrency", "2"))
	if len(local) != 2*rowsPerTask || len(remote) != len(local) {
		t.Fatalf("%d local rows, %d remote rows", len(local), len(remote))
	}
	n := 0
	for i, l := range local {
		r := remote[i]
		if len(r.Outputs) != len(l.Outputs) {
			t.Fatalf("row %s: %d outputs remote, %d local", i, len(r.Outputs), len(l.Outputs))
		}
		for k := range l.Outputs {
			lo, ro := l.Outputs[k], r.Outputs[k]
			if lo.Tokens != ro.Tokens {
				t.Errorf("row %s output %d: %d tokens remote, %d local", i, k, ro.Tokens, lo.Tokens)
			}
			steerDiff = max(steerDiff, math.Abs(lo.Loss-ro.Loss)/float64(lo.Tokens))
			n++
		}
	}
	if n < 4*rowsPerTask {
		t.Errorf("only %d outputs compared", n)
	}
	dist := func(name string, extra ...string) []map[string]any {
		out := filepath.Join(dir, name+"-dist.jsonl")
		args := append([]string{"eval", "dist", model, "--tasks", "urn", "--n-rows", "1", "--kv-type", "f32", "--rows-out", out, "-o", filepath.Join(dir, name+"-dist.json"), "-q"}, extra...)
		if _, stderr, err := runCLI(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		return readJSONL(t, out)
	}
	ld, rd := dist("local"), dist("remote", "--server", url)
	if len(ld) != 1 || len(rd) != 1 {
		t.Fatalf("%d local, %d remote dist rows", len(ld), len(rd))
	}
	lp, rp := ld[0]["logprobs"].([]any), rd[0]["logprobs"].([]any)
	if len(lp) != len(rp) || len(lp) < 2 {
		t.Fatalf("%d local, %d remote candidates", len(lp), len(rp))
	}
	for k := range lp {
		distDiff = max(distDiff, math.Abs(lp[k].(float64)-rp[k].(float64)))
	}
	return steerDiff, distDiff
}

// TestRemoteMatchesLocal: on stories260K (F32 weights) the server's scores
// equal ours within 1e-3 nats per token, for steerability outputs and for
// candidate log-probabilities.
func TestRemoteMatchesLocal(t *testing.T) {
	steer, dist := compareRemote(t, filepath.Join(sharedModels, "stories260K.gguf"), 2)
	t.Logf("largest difference: steer %.2g nats/token, dist %.2g nats", steer, dist)
	if steer > 1e-3 || dist > 1e-3 {
		t.Errorf("remote and local differ by %.3g nats/token (steer) and %.3g nats (dist), want ≤ 1e-3", steer, dist)
	}
}

// TestRemoteMatchesLocalGemma: on Gemma 3 270M the same outputs are scored
// with the same tokens, but the numbers agree only to about 0.1 nats per
// token (0.17 here): the server's llama.cpp (llama-cpp-python's own version,
// built for AVX2) and ours (-march=native) round Q4_K products differently,
// and Gemma's large activations amplify that (our own f16 and f32 KV caches
// differ by as much). The check is that both score the same tokens and stay
// close.
func TestRemoteMatchesLocalGemma(t *testing.T) {
	steer, dist := compareRemote(t, testmodels.Gemma(t), 1)
	t.Logf("largest difference: steer %.2g nats/token, dist %.2g nats", steer, dist)
	if steer > 0.5 || dist > 1 {
		t.Errorf("remote and local differ by %.3g nats/token (steer) and %.3g nats (dist)", steer, dist)
	}
}

// TestRemoteSampleResume samples on the server into a file, cuts the file
// as a killed run would leave it, and resumes: the completions already there
// stay, the missing ones are drawn, none twice.
func TestRemoteSampleResume(t *testing.T) {
	gemma := testmodels.Gemma(t)
	url := testmodels.StartPeer(t, gemma)
	out := filepath.Join(t.TempDir(), "samples.jsonl")
	args := []string{"sample", gemma, "--server", url, "--format", "colon", "--description", "A US state", "-e", "Ohio", "-e", "Utah",
		"-n", "10", "--first-line", "--max-tokens", "8", "--seed", "3", "-o", out, "-q"}
	if _, stderr, err := runCLI(t, args...); err != nil {
		t.Fatal(err, stderr)
	}
	first := readJSONL(t, out)
	if len(first) != 10 {
		t.Fatalf("%d records, want 10", len(first))
	}
	for _, r := range first {
		// llama-cpp-python answers one choice per request, with its usage.
		if n, _ := r["tokens"].(float64); n < 1 || n > 8 {
			t.Errorf("record %v: tokens %v, want the server's count in 1…8", r["index"], r["tokens"])
		}
	}
	// Keep 4 records and half of the fifth.
	b, _ := os.ReadFile(out)
	lines := strings.SplitAfter(string(b), "\n")
	cut := strings.Join(lines[:4], "") + lines[4][:len(lines[4])/2]
	os.WriteFile(out, []byte(cut), 0o644)
	_, stderr, err := runCLI(t, append(args[:len(args)-1], "--log-level", "info")...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "resuming") || !strings.Contains(stderr, "4 of 10 completions drawn already") {
		t.Errorf("stderr does not report the resume:\n%s", stderr)
	}
	again := readJSONL(t, out)
	seen := map[float64]bool{}
	for i, r := range again {
		idx := r["index"].(float64)
		if seen[idx] {
			t.Errorf("index %v twice", idx)
		}
		seen[idx] = true
		if i < 4 && r["text"] != first[i]["text"] {
			t.Errorf("record %d changed: %v → %v", i, first[i]["text"], r["text"])
		}
	}
	if len(again) != 10 || len(seen) != 10 {
		t.Errorf("%d records, %d distinct indices after resuming, want 10", len(again), len(seen))
	}
	// The file holds only whole JSON lines.
	f, _ := os.Open(out)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Errorf("bad line %q", sc.Text())
		}
	}
}

// TestRemoteSampleOtherModel: a server serving another model than the GGUF
// is refused before sampling (its tokenizer reads the prompt differently).
func TestRemoteSampleOtherModel(t *testing.T) {
	url := testmodels.StartPeer(t, filepath.Join(sharedModels, "stories260K.gguf"))
	_, _, err := runCLI(t, "sample", filepath.Join(sharedModels, "llama-2-tiny-random.gguf"), "--server", url,
		"-p", "Once upon a time there was a fox", "-n", "2", "--max-tokens", "4", "-q")
	if err == nil || !strings.Contains(err.Error(), "reads the first prompt as") || !strings.Contains(err.Error(), "serving the same model as the GGUF") {
		t.Errorf("sampling another model's server: %v", err)
	}
}

// TestRemoteCoverage draws the coverage generations on the server.
func TestRemoteCoverage(t *testing.T) {
	gemma := testmodels.Gemma(t)
	url := testmodels.StartPeer(t, gemma)
	out, stderr, err := runCLI(t, "eval", "coverage", gemma, "--server", url, "--format", "colon", "--tasks", "rng_1_10", "-n", "6", "--variants", "examples", "-q")
	if err != nil {
		t.Fatal(err, stderr)
	}
	var rep struct {
		Server   map[string]string                    `json:"server"`
		Coverage map[string]map[string]map[string]any `json:"coverage"`
	}
	if err := json.Unmarshal(oneReport(t, []byte(out)), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c := rep.Coverage["rng_1_10"]["examples"]
	if rep.Server["url"] != url+"/v1" || c == nil || c["n"].(float64) != 6 {
		t.Errorf("report %s", out)
	}
}
