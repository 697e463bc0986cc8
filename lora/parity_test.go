package lora

import (
	"path/filepath"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
)

const modelsDir = "../../shared/models"

func sharedModel(name string) string { return filepath.Join(modelsDir, name) }

func testIDs(n, vocab int, seed int) []int32 {
	ids := make([]int32, n)
	ids[0] = 1
	x := uint32(seed*2654435761 + 12345)
	for i := 1; i < n; i++ {
		x = x*1664525 + 1013904223
		ids[i] = int32(3 + int(x>>8)%(vocab-3))
	}
	return ids
}

func newTestTrainer(t testing.TB, path string, mod func(*Config)) *Trainer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Threads = 1
	cfg.MaxSeqLen = 128
	if mod != nil {
		mod(&cfg)
	}
	tr, err := NewTrainer(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestForwardParity(t *testing.T) {
	for _, name := range []string{"stories260K.gguf", "llama-2-tiny-random.gguf"} {
		t.Run(name, func(t *testing.T) {
			path := sharedModel(name)
			tr := newTestTrainer(t, path, nil)
			ids := testIDs(40, tr.VocabSize(), 1)
			got, err := tr.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			want := llamatest.TokenLogits(t, path, nil, ids)
			if len(got) != len(want) {
				t.Fatalf("got %d logits, want %d", len(got), len(want))
			}
			rel, scale := llamatest.RelMaxDiff(got, want), llamatest.MaxAbs(want)
			t.Logf("%s: max |Δlogit| / max|logit| = %.3g (scale %.3g)", name, rel, scale)
			if rel > 1e-3 {
				t.Errorf("logits differ from llama.cpp by %.3g relative", rel)
			}
		})
	}
}
