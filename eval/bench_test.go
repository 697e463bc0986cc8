package eval

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/benchmodels"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
)

func benchThreads(m *llama.Model) int {
	if s := os.Getenv("SPECTRUM_BENCH_THREADS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if m.NParams() < 20_000_000 {
		return 1
	}
	return llama.DefaultThreads()
}

// plainPrefill decodes each row's tokens as a plain prompt (one sequence,
// logits of the last token only), the baseline the scorer is compared with.
func plainPrefill(b *testing.B, m *llama.Model, rows []format.Tokens, threads, nbatch int) (time.Duration, int) {
	longest := 0
	for _, r := range rows {
		longest = max(longest, len(r.IDs))
	}
	ctx, err := llama.NewContext(m, llama.ContextParams{NCtx: (longest + 255) / 256 * 256, NBatch: nbatch, NUbatch: min(nbatch, 512), Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer ctx.Close()
	bt, err := llama.NewBatch(nbatch, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close()
	start := time.Now()
	n := 0
	for _, r := range rows {
		ctx.MemoryClear()
		for s := 0; s < len(r.IDs); s += nbatch {
			e := min(s+nbatch, len(r.IDs))
			bt.Clear()
			if err := bt.AddSeq(r.IDs[s:e], llama.Pos(s), 0, e == len(r.IDs)); err != nil {
				b.Fatal(err)
			}
			if err := ctx.Decode(bt); err != nil {
				b.Fatal(err)
			}
			n += e - s
		}
	}
	return time.Since(start), n
}

// BenchmarkSteer compares, in one run, steerability scoring (labelled-only
// logits, rows packed) with plain prompt processing of the same tokens, and
// with scoring that requests logits at every position. Metrics:
// steer_tok/s, plain_tok/s, all_logits_tok/s, steer/plain (target ≥ 0.8)
// and all_logits/steer time (the saving from labelled-only logits).
func BenchmarkSteer(b *testing.B) {
	q8, err := benchmodels.Path("135M", "q8_0")
	if err != nil {
		b.Fatal(err)
	}
	benches := []struct {
		name, path string
		rows, k    int
	}{
		{"stories260K", filepath.Join(sharedModels, "stories260K.gguf"), 12, 2},
		{"135M-q8_0", q8, 4, 2},
	}
	if g, err := testmodels.GemmaPath(); err == nil {
		benches = append(benches, struct {
			name, path string
			rows, k    int
		}{"gemma3-270m-q4_k_m", g, 4, 2})
	} else {
		b.Logf("Gemma left out: %v", err)
	}
	for _, bm := range benches {
		b.Run(bm.name, func(b *testing.B) {
			m, err := llama.LoadModel(bm.path, llama.ModelParams{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			threads := benchThreads(m)
			st := flightTaskK(b, m, bm.rows, bm.k)
			rows := rowTokens(st)
			const nbatch = 2048
			// Warm up once (allocations, graph).
			plainPrefill(b, m, rows[:1], threads, nbatch)
			var plainT, steerT, allT time.Duration
			var ntok int
			for i := 0; i < b.N; i++ {
				d, n := plainPrefill(b, m, rows, threads, nbatch)
				plainT += d
				ntok += n
				for _, all := range []bool{false, true} {
					s, err := NewScorer(m, ScorerOptions{Threads: threads, NBatch: nbatch, AllLogits: all})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.Score(context.Background(), rows[:1], nil); err != nil { // warm-up
						b.Fatal(err)
					}
					t0 := time.Now()
					if _, err := s.Score(context.Background(), rows, nil); err != nil {
						b.Fatal(err)
					}
					if all {
						allT += time.Since(t0)
					} else {
						steerT += time.Since(t0)
					}
					s.Close()
				}
			}
			tok := float64(ntok)
			b.ReportMetric(tok/plainT.Seconds(), "plain_tok/s")
			b.ReportMetric(tok/steerT.Seconds(), "steer_tok/s")
			b.ReportMetric(tok/allT.Seconds(), "all_logits_tok/s")
			b.ReportMetric(plainT.Seconds()/steerT.Seconds(), "steer/plain")
			b.ReportMetric(allT.Seconds()/steerT.Seconds(), "all_logits/steer_time")
			b.ReportMetric(float64(ntok)/float64(b.N*len(rows)), "tok/row")
		})
	}
}
