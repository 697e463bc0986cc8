package remote

import (
	"context"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

// BenchmarkSteerRemoteVsLocal scores the same steerability rows of Gemma 3
// 270M with our local scorer (one thread) and through llama-cpp-python's
// server on this machine (one thread, one request at a time and four in
// flight), and reports remote throughput as a ratio of local. On one machine
// the server can only lose (HTTP, JSON, its Python sampling loop); the point
// of --server is a bigger machine, and this measures the price of the
// protocol.
func BenchmarkSteerRemoteVsLocal(b *testing.B) {
	gemma := testmodels.Gemma(b)
	url := testmodels.StartPeer(b, gemma)
	info, err := models.ReadInfo(gemma)
	if err != nil {
		b.Fatal(err)
	}
	m, err := llama.LoadModel(gemma, llama.ModelParams{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	f, err := format.ForModel(format.NameAuto, info.Family, m)
	if err != nil {
		b.Fatal(err)
	}
	task, _ := suite.Lookup("negative_binomial")
	rows, err := task.Generate(11, 8)
	if err != nil {
		b.Fatal(err)
	}
	st, err := eval.PrepareSteer(f, m, task.Name, rows, eval.SteerOptions{K: 4, SelectMaxLen: 512})
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]format.Tokens, len(st.Rows))
	n := 0
	for i, r := range st.Rows {
		toks[i] = r.Tokens
		n += len(r.Tokens.IDs)
	}
	c, err := New(url, "", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	local, err := eval.NewScorer(m, eval.ScorerOptions{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	timeIt := func(s eval.RowScorer) float64 {
		start := time.Now()
		if _, err := s.Score(ctx, toks, nil); err != nil {
			b.Fatal(err)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	b.ResetTimer()
	var lt, r1, r4 float64
	for range b.N {
		lt += timeIt(local)
		r1 += timeIt(&Scorer{Client: c, Tok: m, Method: Echo, Concurrency: 1})
		r4 += timeIt(&Scorer{Client: c, Tok: m, Method: Echo, Concurrency: 4})
	}
	b.ReportMetric(lt/float64(b.N), "local_tok/s")
	b.ReportMetric(r1/float64(b.N), "remote_tok/s")
	b.ReportMetric(r1/lt, "remote/local")
	b.ReportMetric(r4/lt, "remote4/local")
}

// BenchmarkSampleRemoteVsLocal draws 32 completions of 16 tokens of one
// prompt of Gemma 3 270M with our batched sampler and through
// llama-cpp-python's server on this machine, and reports remote
// completions per second as a ratio of local.
func BenchmarkSampleRemoteVsLocal(b *testing.B) {
	gemma := testmodels.Gemma(b)
	url := testmodels.StartPeer(b, gemma)
	m, err := llama.LoadModel(gemma, llama.ModelParams{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	prompt, err := m.Tokenize("Description: A US state\nOutput: Ohio\nOutput: Utah\nOutput:", true, true)
	if err != nil {
		b.Fatal(err)
	}
	const n, maxTok = 32, 16
	e, err := sample.NewEngine(m, sample.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, err := New(url, "", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	var lr, rr float64
	for range b.N {
		start := time.Now()
		req := &sample.Request{Prompt: prompt, N: n, MaxTokens: maxTok, Temp: 1, TopP: 1, Seed: 1}
		if err := e.Run(ctx, req, func(sample.Completion) error { return nil }); err != nil {
			b.Fatal(err)
		}
		lr += n / time.Since(start).Seconds()
		start = time.Now()
		s := &Sampler{Client: c, Tok: m, Params: SampleParams{Concurrency: 1}}
		if err := s.Run(ctx, req, func(sample.Completion) error { return nil }); err != nil {
			b.Fatal(err)
		}
		rr += n / time.Since(start).Seconds()
	}
	b.ReportMetric(lr/float64(b.N), "local_completions/s")
	b.ReportMetric(rr/float64(b.N), "remote_completions/s")
	b.ReportMetric(rr/lr, "remote/local")
}
