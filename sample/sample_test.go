package sample

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
)

var sharedModels = filepath.Join("..", "..", "shared", "models")

func stories(t testing.TB) *llama.Model {
	t.Helper()
	m, err := llama.LoadModel(filepath.Join(sharedModels, "stories260K.gguf"), llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// run collects a request's completions ordered by index.
func run(t testing.TB, e *Engine, r *Request) []Completion {
	t.Helper()
	var out []Completion
	if err := e.Run(context.Background(), r, func(c Completion) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	if len(out) != r.N {
		t.Fatalf("%d completions, want %d", len(out), r.N)
	}
	return out
}

func engine(t testing.TB, m *llama.Model, p int) *Engine {
	return engineKV(t, m, p, false)
}

func engineKV(t testing.TB, m *llama.Model, p int, unified bool) *Engine {
	t.Helper()
	e, err := NewEngine(m, Options{Parallel: p, Threads: 1, UnifiedKV: unified})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestGreedyCompletionsEqualGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(sharedModels, "stories260K.greedy200.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := stories(t)
	for _, unified := range []bool{false, true} {
		for _, p := range []int{1, 3, 8} {
			out := run(t, engineKV(t, m, p, unified), &Request{Prompt: []llama.Token{m.BOS()}, N: 8, MaxTokens: 200, Temp: 0})
			for _, c := range out {
				if c.Text != " "+string(want) || c.Tokens != 200 || c.Finish != FinishLength {
					t.Fatalf("unified=%v P=%d completion %d: %d tokens, finish %s, text %q", unified, p, c.Index, c.Tokens, c.Finish, c.Text)
				}
			}
		}
	}
	// A longer prompt, shared by copying (split) or by metadata (unified).
	prompt, _ := m.Tokenize("Once upon a time, there was a little girl named Lily.", true, false)
	var texts [2]string
	for k, unified := range []bool{false, true} {
		out := run(t, engineKV(t, m, 4, unified), &Request{Prompt: prompt, N: 6, MaxTokens: 40, Temp: 0})
		for _, c := range out {
			if c.Text != out[0].Text {
				t.Fatalf("unified=%v: greedy completions differ: %q vs %q", unified, c.Text, out[0].Text)
			}
		}
		texts[k] = out[0].Text
	}
	if texts[0] != texts[1] {
		t.Errorf("split and unified KV give different greedy text:\n%q\n%q", texts[0], texts[1])
	}
}

func TestSeededReproducible(t *testing.T) {
	m := stories(t)
	prompt, _ := m.Tokenize("Once upon a time", true, false)
	req := func(seed uint64) *Request {
		return &Request{Prompt: prompt, N: 12, MaxTokens: 24, Temp: 1, Seed: seed, LogProbs: true}
	}
	a := run(t, engine(t, m, 4), req(7))
	b := run(t, engine(t, m, 4), req(7))
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, same parallelism: different completions")
	}
	c := run(t, engine(t, m, 4), req(8))
	same := 0
	for i := range a {
		if a[i].Text == c[i].Text {
			same++
		}
	}
	if same > 2 {
		t.Errorf("seeds 7 and 8 agree on %d of 12 completions", same)
	}
	distinct := map[string]bool{}
	for _, x := range a {
		distinct[x.Text] = true
		if x.LogProb == nil || *x.LogProb >= 0 {
			t.Errorf("completion %d: log-prob %v", x.Index, x.LogProb)
		}
	}
	if len(distinct) < 6 {
		t.Errorf("only %d distinct completions of 12 at temperature 1", len(distinct))
	}
}

// TestParallelMatchesSequential: completions produced 16 at a time match
// the same completions produced alone, token for token.
func TestParallelMatchesSequential(t *testing.T) {
	m := stories(t)
	prompt, _ := m.Tokenize("Lily and Tom", true, false)
	for _, temp := range []float32{0, 1} {
		r := &Request{Row: 3, Prompt: prompt, N: 16, MaxTokens: 40, Temp: temp, Seed: 42}
		par := run(t, engine(t, m, 16), r)
		seq := run(t, engine(t, m, 1), r)
		diff := 0
		for i := range par {
			if par[i].Text != seq[i].Text {
				diff++
			}
		}
		// Batch composition changes float rounding (~1e-5 on logits), which
		// can flip a draw that lands on a boundary: allow one in 16.
		if (temp == 0 && diff > 0) || diff > 1 {
			t.Errorf("temp %g: %d of 16 completions differ between P=16 and P=1", temp, diff)
		}
	}
}

func TestStops(t *testing.T) {
	m := stories(t)
	bos := []llama.Token{m.BOS()}
	e := engine(t, m, 2)
	// " named" spans two tokens: " n" + "amed" or similar; the cut is exact.
	out := run(t, e, &Request{Prompt: bos, N: 2, MaxTokens: 100, Temp: 0, Stop: []string{"girl nam", "zzz"}})
	if out[0].Text != " Once upon a time, there was a little " || out[0].Finish != FinishStop {
		t.Errorf("stop string: %+v", out[0])
	}
	// Max tokens.
	out = run(t, e, &Request{Prompt: bos, N: 1, MaxTokens: 3, Temp: 0})
	if out[0].Text != " Once upon a" || out[0].Finish != FinishLength || out[0].Tokens != 3 {
		t.Errorf("max tokens: %+v", out[0])
	}
	// End of generation: bias the EOS token so that it is drawn first.
	out = run(t, e, &Request{Prompt: bos, N: 2, MaxTokens: 10, Temp: 1, LogitBias: map[llama.Token]float32{m.EOS(): 100}})
	if out[0].Text != "" || out[0].Finish != FinishEOG || out[0].Tokens != 0 {
		t.Errorf("eog: %+v", out[0])
	}
	// First line: long samples contain newlines; first-line ones never do
	// and are trimmed.
	// One slot, so both runs decode each completion in the same batches.
	e1 := engine(t, m, 1)
	r := &Request{Prompt: bos, N: 24, MaxTokens: 120, Temp: 1, Seed: 5}
	long := run(t, e1, r)
	withNL := 0
	for _, c := range long {
		if strings.Contains(c.Text, "\n") {
			withNL++
		}
	}
	if withNL == 0 {
		t.Fatal("no sample contains a newline: the first-line test would prove nothing")
	}
	r.FirstLine = true
	for _, c := range run(t, e1, r) {
		if strings.Contains(c.Text, "\n") || c.Text != strings.TrimSpace(c.Text) {
			t.Errorf("first-line completion %d: %q", c.Index, c.Text)
		}
		if !strings.HasPrefix(strings.TrimSpace(long[c.Index].Text), c.Text) {
			t.Errorf("first line %q is not a prefix of the full sample %q", c.Text, long[c.Index].Text)
		}
	}
}

// TestCleanBetweenPrompts: a prompt's completions do not depend on what the
// engine ran before.
func TestCleanBetweenPrompts(t *testing.T) {
	m := stories(t)
	pa, _ := m.Tokenize("The dog ran to the park and saw a big red ball", true, false)
	pb, _ := m.Tokenize("Tom", true, false)
	r := func(p []llama.Token) *Request {
		return &Request{Prompt: p, N: 6, MaxTokens: 20, Temp: 0.8, Seed: 1}
	}
	e := engine(t, m, 3)
	run(t, e, r(pa))
	after := run(t, e, r(pb))
	fresh := run(t, engine(t, m, 3), r(pb))
	if !reflect.DeepEqual(after, fresh) {
		t.Errorf("completions of prompt B depend on the earlier prompt A:\n%v\n%v", after, fresh)
	}
}

func TestBadRequests(t *testing.T) {
	m := stories(t)
	e := engine(t, m, 2)
	bos := []llama.Token{m.BOS()}
	long := make([]llama.Token, 3000)
	for i := range long {
		long[i] = 300
	}
	cases := []struct {
		name string
		r    Request
		want string
	}{
		{"n=0", Request{Prompt: bos, N: 0, MaxTokens: 4}, "completions must be ≥ 1"},
		{"n<0", Request{Prompt: bos, N: -3, MaxTokens: 4}, "completions must be ≥ 1"},
		{"max tokens 0", Request{Prompt: bos, N: 1}, "max tokens"},
		{"empty stop", Request{Prompt: bos, N: 1, MaxTokens: 4, Stop: []string{""}}, "empty stop"},
		{"prompt too long", Request{Prompt: long, N: 1, MaxTokens: 4}, "exceed the model's context"},
		{"empty prompt", Request{N: 1, MaxTokens: 4}, "empty prompt"},
		{"top-p", Request{Prompt: bos, N: 1, MaxTokens: 4, TopP: 1.5}, "top-p"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.Run(context.Background(), &c.r, func(Completion) error { return nil })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := NewEngine(m, Options{Parallel: -1}); err == nil {
		t.Error("parallel -1: no error")
	}
	// A LoRA adapter made for another architecture's shapes.
	tiny, err := llama.LoadModel(filepath.Join(sharedModels, "llama-2-tiny-random.gguf"), llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer tiny.Close()
	if _, err := NewEngine(tiny, Options{Adapters: []AdapterSpec{{Path: filepath.Join(sharedModels, "stories260K.gguf"), Scale: 1}}}); err == nil {
		t.Error("a model file used as a LoRA adapter: no error")
	}
}

func TestCanceled(t *testing.T) {
	m := stories(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := engine(t, m, 2).Run(ctx, &Request{Prompt: []llama.Token{m.BOS()}, N: 100, MaxTokens: 10, Temp: 1}, func(Completion) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled || n > 7 {
		t.Errorf("after cancel: err %v, %d completions", err, n)
	}
}

var _ = fmt.Sprint
