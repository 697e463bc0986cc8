package llama_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/internal/benchmodels"
	. "github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/llama/cbench"
)

// goRun is the Go-binding twin of cbench.Run: the same prompt tokens, one
// batch, then greedy single-token steps through Batch, Decode and Sampler.
func goRun(tb testing.TB, path string, threads, nPrompt, nGen int) (prompt, gen time.Duration) {
	m, err := LoadModel(path, ModelParams{})
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	c, err := NewContext(m, ContextParams{NCtx: nPrompt + nGen, NBatch: nPrompt, NUbatch: nPrompt, Threads: threads})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	s, _ := NewSampler(m, SamplerParams{Temp: 0})
	defer s.Close()
	b, _ := NewBatch(nPrompt, 1)
	defer b.Close()
	nv := m.NVocab()
	seq := []SeqID{0}
	for i := 0; i < nPrompt; i++ {
		b.Add(Token(1+(i*7919)%(nv-1)), Pos(i), seq, i == nPrompt-1)
	}
	t0 := time.Now()
	if err := c.Decode(b); err != nil {
		tb.Fatal(err)
	}
	prompt = time.Since(t0)
	t0 = time.Now()
	idx := nPrompt - 1
	for i := 0; i < nGen; i++ {
		tok, err := s.Sample(c, idx)
		if err != nil {
			tb.Fatal(err)
		}
		b.Clear()
		idx, _ = b.Add(tok, Pos(nPrompt+i), seq, true)
		if err := c.Decode(b); err != nil {
			tb.Fatal(err)
		}
	}
	return prompt, time.Since(t0)
}

// benchModels are the models of the binding-overhead benchmark; the 135M
// one is written on first use (see bench135M).
func benchModels(b *testing.B) map[string]string {
	return map[string]string{
		"tiny-random": filepath.Join("..", "..", "shared", "models", "llama-2-tiny-random.gguf"),
		"135M-q8_0":   bench135M(b),
	}
}

// BenchmarkBindingVsC reports prompt (512 tokens) and generation tokens/s
// of the Go binding and of the same loop in C, and their ratio (go/c: 1.0
// means no overhead; the target is ≥ 0.97). Run it as the CLI runs decoding,
// with GOMAXPROCS=1 (see cmd/spectrum yieldCoresToGGML): with the Go default
// on 2 cores, the runtime's threads compete with ggml's spinning workers
// (generation measured at 0.96× C instead of 1.01×).
func BenchmarkBindingVsC(b *testing.B) {
	const nPrompt, nGen = 512, 128
	for name, path := range benchModels(b) {
		b.Run(name, func(b *testing.B) {
			threads := benchThreads()
			var gp, gg, cp, cg time.Duration
			for i := 0; i < b.N; i++ {
				// Alternate the order so that neither side always runs warm.
				if i%2 == 0 {
					p, g := goRun(b, path, threads, nPrompt, nGen)
					c1, c2, err := cbench.Run(path, threads, nPrompt, nGen)
					if err != nil {
						b.Fatal(err)
					}
					gp, gg, cp, cg = gp+p, gg+g, cp+c1, cg+c2
				} else {
					c1, c2, err := cbench.Run(path, threads, nPrompt, nGen)
					if err != nil {
						b.Fatal(err)
					}
					p, g := goRun(b, path, threads, nPrompt, nGen)
					gp, gg, cp, cg = gp+p, gg+g, cp+c1, cg+c2
				}
			}
			n := float64(b.N)
			b.ReportMetric(nPrompt*n/gp.Seconds(), "go_prompt_tok/s")
			b.ReportMetric(nPrompt*n/cp.Seconds(), "c_prompt_tok/s")
			b.ReportMetric(nGen*n/gg.Seconds(), "go_gen_tok/s")
			b.ReportMetric(nGen*n/cg.Seconds(), "c_gen_tok/s")
			b.ReportMetric(cp.Seconds()/gp.Seconds(), "prompt_go/c")
			b.ReportMetric(cg.Seconds()/gg.Seconds(), "gen_go/c")
		})
	}
}

// bench135M returns the SmolLM2-135M-shaped Q8_0 benchmark model.
func bench135M(b *testing.B) string {
	p, err := benchmodels.Path("135M", "q8_0")
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchThreads is $SPECTRUM_BENCH_THREADS or DefaultThreads.
func benchThreads() int {
	if v, err := strconv.Atoi(os.Getenv("SPECTRUM_BENCH_THREADS")); err == nil && v > 0 {
		return v
	}
	return DefaultThreads()
}
