package sample_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/internal/benchmodels"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/llama/cbench"
	"github.com/spectrumkit/spectrum/sample"
)

// benchModels are the models the sampling benchmarks run on: stories260K,
// the synthetic 135M shape (Q8_0) and, when `make models` installed it,
// Gemma 3 270M (Q4_K_M, 262,144-token vocabulary).
func benchModels(b *testing.B) [][2]string {
	ms := [][2]string{{"stories260K", filepath.Join("..", "..", "shared", "models", "stories260K.gguf")}}
	p135, err := benchmodels.Path("135M", "q8_0")
	if err != nil {
		b.Fatal(err)
	}
	ms = append(ms, [2]string{"135M-q8_0", p135})
	if g, err := testmodels.GemmaPath(); err == nil {
		ms = append(ms, [2]string{"gemma3-270m-q4_k_m", g})
	} else {
		b.Logf("Gemma left out: %v", err)
	}
	return ms
}

// rssKiB is the process's resident set size.
func rssKiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / 1024
}

// benchPrompt is a fixed promptLen-token prompt.
func benchPrompt(m *llama.Model, promptLen int) []llama.Token {
	prompt := make([]llama.Token, promptLen)
	for i := range prompt {
		prompt[i] = llama.Token(1 + (i*7919)%(m.NVocab()-1))
	}
	return prompt
}

// timeEngine times n completions of maxTok tokens (EOG biased away, no stop
// strings, so none ends early) with the given options, after a short run
// that creates the context (KV buffers, graph reservation), which the C loop
// also does before its clock starts. It returns the duration, the tokens
// generated and the resident memory the context added.
func timeEngine(b *testing.B, m *llama.Model, opts sample.Options, prompt []llama.Token, n, maxTok int) (time.Duration, int, float64) {
	rss0 := rssKiB()
	e, err := sample.NewEngine(m, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	req := &sample.Request{Prompt: prompt, N: n, MaxTokens: maxTok, Temp: 1, Seed: 1,
		LogitBias: map[llama.Token]float32{m.EOS(): -1e9}}
	warm := *req
	warm.N, warm.MaxTokens = max(opts.Parallel, 1), 1
	if err := e.Run(context.Background(), &warm, func(sample.Completion) error { return nil }); err != nil {
		b.Fatal(err)
	}
	rss := rssKiB() - rss0
	toks := 0
	t0 := time.Now()
	if err := e.Run(context.Background(), req, func(c sample.Completion) error { toks += c.Tokens; return nil }); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0), toks, rss
}

// BenchmarkSample: N = 64 completions × 64 tokens from one 64-token prompt,
// with the engine's defaults for the model (P = 32), the same engine with
// P = 1, and a raw C loop doing the same batched decode (split KV, 32
// sequences, the engine's flash-attention choice) twice: feeding fixed
// tokens, and drawing them at temperature 1 over the whole vocabulary with
// llama.cpp's dist sampler per sequence (what the engine does). Contexts
// are created before the clocks start. Reported: completions/s, generated
// tokens/s, the ratios batched/P1 (targets: ≥ 3 on 135M, ≥ 2 on
// stories260K), batched/C and batched/C_sampling (target ≥ 0.95), and the
// KV memory per slot (resident memory the batched context added, per slot).
func BenchmarkSample(b *testing.B) {
	const n, maxTok, promptLen = 64, 64, 64
	for _, mp := range benchModels(b) {
		name, path := mp[0], mp[1]
		b.Run(name, func(b *testing.B) {
			m, err := llama.LoadModel(path, llama.ModelParams{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			threads := sample.DefaultThreads(m)
			fa := sample.DefaultFlashAttention(m, "")
			prompt := benchPrompt(m, promptLen)
			var tBatched, tSerial, tC, tCS time.Duration
			var toks int
			var kib float64
			for i := 0; i < b.N; i++ {
				d, k, r := timeEngine(b, m, sample.Options{Parallel: 32, Threads: threads}, prompt, n, maxTok)
				tBatched += d
				toks += k
				kib = r / 33
				d, _, _ = timeEngine(b, m, sample.Options{Parallel: 1, Threads: threads}, prompt, n, maxTok)
				tSerial += d
				// The C loop decodes 32 sequences for 64 steps, twice (= 64 × 64).
				for r := 0; r < 2; r++ {
					d, err := cbench.RunBatched(path, threads, promptLen, 32, maxTok, false, false, fa)
					if err != nil {
						b.Fatal(err)
					}
					tC += d
					d, err = cbench.RunBatched(path, threads, promptLen, 32, maxTok, false, true, fa)
					if err != nil {
						b.Fatal(err)
					}
					tCS += d
				}
			}
			nb := float64(b.N)
			b.ReportMetric(n*nb/tBatched.Seconds(), "compl/s")
			b.ReportMetric(float64(toks)/tBatched.Seconds(), "gen_tok/s")
			b.ReportMetric(n*nb/tSerial.Seconds(), "P1_compl/s")
			b.ReportMetric(tSerial.Seconds()/tBatched.Seconds(), "batched/P1")
			b.ReportMetric(tC.Seconds()/tBatched.Seconds(), "batched/C")
			b.ReportMetric(tCS.Seconds()/tBatched.Seconds(), "batched/C_sampling")
			b.ReportMetric(kib, "KiB/slot")
			b.Logf("%s: %d threads, flash attention %v", name, threads, fa)
		})
	}
}

// BenchmarkSampleSweep measures the engine over parallel widths P = 1, 8,
// 32, 64, flash attention off/on and per-slot/unified KV (N = 64
// completions × 32 tokens from a 64-token prompt): the measurements behind
// the engine's defaults (README, benchmark table). Not part of make bench.
func BenchmarkSampleSweep(b *testing.B) {
	const n, maxTok, promptLen = 64, 32, 64
	for _, mp := range benchModels(b) {
		name, path := mp[0], mp[1]
		m, err := llama.LoadModel(path, llama.ModelParams{})
		if err != nil {
			b.Fatal(err)
		}
		threads := sample.DefaultThreads(m)
		prompt := benchPrompt(m, promptLen)
		for _, fa := range []string{"off", "on"} {
			for _, unified := range []bool{false, true} {
				for _, p := range []int{1, 8, 32, 64} {
					if p == 1 && unified {
						continue
					}
					kv := "split"
					if unified {
						kv = "unified"
					}
					b.Run(fmt.Sprintf("%s/fa=%s/%s/P=%d", name, fa, kv, p), func(b *testing.B) {
						var t time.Duration
						var kib float64
						for i := 0; i < b.N; i++ {
							d, _, r := timeEngine(b, m, sample.Options{Parallel: p, Threads: threads, FlashAttention: fa, UnifiedKV: unified}, prompt, n, maxTok)
							t += d
							kib = r / float64(p+1)
						}
						b.ReportMetric(n*float64(b.N)/t.Seconds(), "compl/s")
						b.ReportMetric(kib, "KiB/slot")
					})
				}
			}
		}
		m.Close()
	}
}
