package lora

import (
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/internal/benchmodels"
	"github.com/spectrumkit/spectrum/internal/testmodels"
)

// BenchmarkTrainStep: a synthetic SmolLM2-135M-shaped llama quantized to
// Q8_0, one 256-token row per step (all positions but the first labelled),
// LoRA r=16 on all seven targets, 2 threads. Reports training tokens/s, the
// ratio of one training step to one forward pass (Eval of the same row) in
// the same run, and the peak RSS of the process.
//
// Sub-benchmarks: default (one graph per micro-batch, backward through the
// Q8_0 weights with out_prod), checkpointing (layer by layer), dequant (one
// graph, in-graph F32 copies of the frozen matrices) and
// dequant+checkpointing (the GPU configuration).
func BenchmarkTrainStep(b *testing.B) {
	path, err := benchmodels.Path("135M", "q8_0")
	if err != nil {
		b.Fatal(err)
	}
	benchModes(b, path, 256)
}

// BenchmarkTrainStepGemma: the same on the real Gemma 3 270M (Q4_K_M, a
// 262,144-token vocabulary whose tied output matrix dominates the loss head),
// 128-token rows.
func BenchmarkTrainStepGemma(b *testing.B) {
	benchModes(b, testmodels.Gemma(b), 128)
}

// benchModes runs benchTrain in each configuration.
func benchModes(b *testing.B, path string, n int) {
	for _, mode := range []string{"default", "checkpointing", "dequant", "dequant+checkpointing"} {
		b.Run(mode, func(b *testing.B) {
			c := DefaultConfig()
			c.Threads = 2
			c.MaxSeqLen = n
			c.Checkpointing = strings.Contains(mode, "checkpointing")
			c.DequantBackward = strings.Contains(mode, "dequant")
			benchTrain(b, path, c, n)
		})
	}
}

func benchTrain(b *testing.B, path string, c Config, n int) {
	tr, err := NewTrainer(path, c)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	row := func() []Row {
		r := Row{Tokens: make([]int32, n), Loss: make([]bool, n)}
		for i := range r.Tokens {
			r.Tokens[i] = int32(3 + rng.IntN(tr.VocabSize()-3))
			r.Loss[i] = i > 0
		}
		return []Row{r}
	}
	// Warm up (first graph allocation).
	if _, err := tr.Step(row()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var train, fwd time.Duration
	for i := 0; i < b.N; i++ {
		rows := row()
		s := time.Now()
		if _, err := tr.Step(rows); err != nil {
			b.Fatal(err)
		}
		train += time.Since(s)
		s = time.Now()
		if _, err := tr.Eval(rows); err != nil {
			b.Fatal(err)
		}
		fwd += time.Since(s)
	}
	b.StopTimer()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	steps := float64(b.N)
	b.ReportMetric(float64(n)*steps/train.Seconds(), "train_tok/s")
	b.ReportMetric(train.Seconds()/steps, "s/step")
	b.ReportMetric(fwd.Seconds()/steps, "s/forward")
	b.ReportMetric(train.Seconds()/fwd.Seconds(), "step/forward")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS_MiB")
	b.Logf("%d trainable values", tr.NumParams())
}
