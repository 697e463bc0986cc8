package lora

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/spectrumkit/spectrum/internal/benchmodels"
)

// TestMemory measures one training step's peak RSS and ggml compute buffer
// on a synthetic benchmark model. It writes the model on first use (the 1B
// preset takes minutes and ~4 GB of disk), so it only runs when asked:
//
//	SPECTRUM_LORA_MEM=135M:256 go test ./lora -run TestMemory -v
//
// (preset:tokens[:checkpoint|dequant|dequant+checkpoint]), one
// configuration per process because peak RSS is per process.
func TestMemory(t *testing.T) {
	spec := os.Getenv("SPECTRUM_LORA_MEM")
	if spec == "" {
		t.Skip("set SPECTRUM_LORA_MEM=preset:tokens[:checkpoint|dequant|dequant+checkpoint]")
	}
	parts := strings.Split(spec, ":")
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	path, err := benchmodels.Path(parts[0], "q8_0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Threads = 2
	cfg.MaxSeqLen = n
	if len(parts) > 2 {
		cfg.Checkpointing = strings.Contains(parts[2], "checkpoint")
		cfg.DequantBackward = strings.Contains(parts[2], "dequant")
	}
	tr, err := NewTrainer(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	loaded := maxRSS()
	rng := rand.New(rand.NewPCG(1, 1))
	r := Row{Tokens: make([]int32, n), Loss: make([]bool, n)}
	for i := range r.Tokens {
		r.Tokens[i] = int32(3 + rng.IntN(tr.VocabSize()-3))
		r.Loss[i] = i > 0
	}
	res, err := tr.Step([]Row{r})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s, %d tokens, checkpointing %v, dequant %v, loss %.4f; peak RSS after load %.0f MiB, after a step %.0f MiB; largest ggml compute buffer %.0f MiB",
		parts[0], n, cfg.Checkpointing, cfg.DequantBackward, res.Loss, loaded, maxRSS(), float64(tr.be.peakCompute)/(1<<20))
}

func maxRSS() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}
