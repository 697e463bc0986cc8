package sample_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/internal/benchmodels"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/llama/cbench"
	"github.com/spectrumkit/spectrum/sample"
)

// BenchmarkSample: N = 64 completions × 64 tokens from one 64-token prompt,
// with the batched engine (P = 32), the same engine with P = 1, and a raw C
// loop doing the same batched decode (split KV, as the engine's default)
// without sampling; contexts are created before the clocks start. The engine
// samples at temperature 1 from the whole vocabulary (~14 % of its time on
// the 135M model); the C loop runs twice, feeding fixed tokens and drawing
// them at temperature 1 over the whole vocabulary (llama.cpp's dist sampler
// per sequence). Reported as completions/s and generated tokens/s, and the
// ratios batched/P1 (target ≥ 3), batched/C (no sampling in C) and
// batched/C_sampling (target ≥ 0.95). Gemma 3 270M (262,144-token
// vocabulary) is included when `make models` installed it.
func BenchmarkSample(b *testing.B) {
	const n, maxTok, promptLen = 64, 64, 64
	models := map[string]string{"stories260K": filepath.Join("..", "..", "shared", "models", "stories260K.gguf")}
	p135, err := benchmodels.Path("135M", "q8_0")
	if err != nil {
		b.Fatal(err)
	}
	models["135M-q8_0"] = p135
	if g, err := testmodels.GemmaPath(); err == nil {
		models["gemma3-270m-q4_k_m"] = g
	} else {
		b.Logf("Gemma left out: %v", err)
	}
	for name, path := range models {
		b.Run(name, func(b *testing.B) {
			m, err := llama.LoadModel(path, llama.ModelParams{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			threads := llama.DefaultThreads()
			if m.NParams() < 20_000_000 {
				threads = 1
			}
			prompt := make([]llama.Token, promptLen)
			for i := range prompt {
				prompt[i] = llama.Token(1 + (i*7919)%(m.NVocab()-1))
			}
			timeEngine := func(p int) (time.Duration, int) {
				e, err := sample.NewEngine(m, sample.Options{Parallel: p, Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				// Generation never stops early: no EOG (bias it away), no stop strings.
				req := &sample.Request{Prompt: prompt, N: n, MaxTokens: maxTok, Temp: 1, Seed: 1,
					LogitBias: map[llama.Token]float32{m.EOS(): -1e9}}
				// A first, short run creates the context (KV buffers, graph
				// reservation), which the C loop does before its clock starts.
				warm := *req
				warm.N, warm.MaxTokens = p, 1
				if err := e.Run(context.Background(), &warm, func(sample.Completion) error { return nil }); err != nil {
					b.Fatal(err)
				}
				toks := 0
				t0 := time.Now()
				if err := e.Run(context.Background(), req, func(c sample.Completion) error { toks += c.Tokens; return nil }); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0), toks
			}
			var tBatched, tSerial, tC, tCS time.Duration
			var toks int
			for i := 0; i < b.N; i++ {
				d, k := timeEngine(32)
				tBatched += d
				toks += k
				d, _ = timeEngine(1)
				tSerial += d
				// The C loop decodes 32 sequences for 64 steps, twice (= 64 × 64).
				for r := 0; r < 2; r++ {
					d, err := cbench.RunBatched(path, threads, promptLen, 32, maxTok, false, false)
					if err != nil {
						b.Fatal(err)
					}
					tC += d
					d, err = cbench.RunBatched(path, threads, promptLen, 32, maxTok, false, true)
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
		})
	}
}
