package llama

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/models/synth"
)

// TestBadModelFiles: every malformed input is an error naming the problem,
// never an abort.
func TestBadModelFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(modelPath(t, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i/13)
	}
	// Tensor offsets past the end: keep the header and metadata, drop data.
	pastEnd := good[:len(good)-4096]

	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.gguf"), "no such file"},
		{"directory", dir, "directory"},
		{"empty", write("empty.gguf", nil), "empty"},
		{"random bytes", write("random.gguf", random), "not a gguf"},
		{"cut at 50%", write("half.gguf", good[:len(good)/2]), "truncated"},
		{"offsets past end", write("short.gguf", pastEnd), "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := LoadModel(c.path, ModelParams{})
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(strings.ToLower(err.Error()), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}

	t.Run("gemma3 without a global layer", func(t *testing.T) {
		p := filepath.Join(dir, "g1.gguf")
		if err := synth.Write(p, synth.Config{Arch: "gemma3", NEmbd: 64, NFF: 128, NLayer: 1, NHead: 2, HeadDim: 32, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := LoadModel(p, ModelParams{})
		if err == nil || !strings.Contains(err.Error(), "every one of its 1 Gemma 3 layers is a sliding-window layer") {
			t.Errorf("LoadModel: %v", err)
		}
	})

	t.Run("vocab-only model used for generation", func(t *testing.T) {
		m := loadModel(t, "vocab/ggml-vocab-llama-spm.gguf", ModelParams{VocabOnly: true})
		if _, err := NewContext(m, ContextParams{}); err == nil || !strings.Contains(err.Error(), "vocab-only") {
			t.Errorf("NewContext on vocab-only model: %v", err)
		}
	})
	t.Run("vocab file without weights", func(t *testing.T) {
		m, err := LoadModel(modelPath(t, "vocab/ggml-vocab-llama-spm.gguf"), ModelParams{})
		if err == nil {
			m.Close()
			t.Fatal("a GGUF with no tensors loaded as a full model")
		}
		if !strings.Contains(err.Error(), "vocabulary-only") {
			t.Errorf("error %q does not say the file is vocabulary-only", err)
		}
	})
}

func TestBadParameters(t *testing.T) {
	m := loadModel(t, "stories260K.gguf", ModelParams{})
	c := newContext(t, m, ContextParams{NCtx: 64})
	s, _ := NewSampler(m, SamplerParams{})
	defer s.Close()
	if _, err := c.Generate(t.Context(), []Token{1}, GenerateParams{MaxTokens: -1, Sampler: s}, nil); err == nil {
		t.Error("MaxTokens -1: no error")
	}
	if _, err := c.Generate(t.Context(), []Token{1}, GenerateParams{MaxTokens: 10000, Sampler: s}, nil); err == nil {
		t.Error("prompt + tokens beyond the context: no error")
	}
	if _, err := NewSampler(m, SamplerParams{TopP: 2}); err == nil {
		t.Error("top-p 2: no error")
	}
	if _, err := NewContext(m, ContextParams{Threads: -1}); err == nil {
		t.Error("threads -1: no error")
	}
	if _, err := NewBatch(0, 1); err == nil {
		t.Error("batch capacity 0: no error")
	}
	b, _ := NewBatch(4, 1)
	defer b.Close()
	b.Add(600, 0, []SeqID{0}, true) // token outside the 512-token vocabulary
	if err := c.Decode(b); err == nil {
		t.Error("decode of an out-of-vocabulary token: no error")
	}
	if err := c.SeqCp(0, 5, -1, -1); err == nil {
		t.Error("SeqCp to a sequence id beyond n_seq_max: no error")
	}
	if c.SeqRm(7, 0, -1) {
		t.Error("SeqRm of a sequence id beyond n_seq_max: true")
	}
	c2 := newContext(t, m, ContextParams{NCtx: 512, NSeqMax: 2})
	if err := c2.SeqCp(0, 1, 0, 5); err == nil {
		t.Error("partial SeqCp across KV streams: no error")
	}
	if _, err := c.Logits(3); err == nil {
		t.Error("logits of a row never computed: no error")
	}
	if err := Quantize(modelPath(t, "stories260K.gguf"), filepath.Join(t.TempDir(), "x.gguf"), "q9_9", QuantizeParams{}); err == nil {
		t.Error("unknown quantization type: no error")
	}
}

// TestKVTypeFlashAttention: KV cache types that llama.cpp would silently
// round (f32 under flash attention) or abort on (q8_0 with 8-wide heads) are
// refused up front; f32 with "auto" flash attention runs with it off, so its
// logits equal those of flash attention off and differ from an f16 cache.
func TestKVTypeFlashAttention(t *testing.T) {
	m := loadModel(t, "stories260K.gguf", ModelParams{})
	for _, c := range []struct {
		kv, flash, want string
	}{
		{"f32", "on", "f32 KV cache under flash attention"},
		{"q8_0", "off", "q8_0 KV cache needs flash attention on"},
		{"q4_0", "", "q4_0 KV cache needs flash attention on"},
		{"q8_0", "on", "multiples of 32 (its block); " + m.Path() + " has 8 (K) and 8 (V)"},
	} {
		_, err := NewContext(m, ContextParams{NCtx: 64, Threads: 1, KVType: c.kv, FlashAttention: c.flash})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kv %s, flash %q: error %v, want %q", c.kv, c.flash, err, c.want)
		}
	}
	logits := func(kv, flash string) []float32 {
		c := newContext(t, m, ContextParams{NCtx: 64, KVType: kv, FlashAttention: flash})
		b, _ := NewBatch(8, 1)
		defer b.Close()
		if err := b.AddSeq([]Token{1, 403, 407, 261, 378, 289}, 0, 0, true); err != nil {
			t.Fatal(err)
		}
		if err := c.Decode(b); err != nil {
			t.Fatal(err)
		}
		lg, err := c.Logits(5)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), lg...)
	}
	f32auto, f32off, f16on := logits("f32", "auto"), logits("f32", "off"), logits("f16", "on")
	if !slices.Equal(f32auto, f32off) {
		t.Error("f32 cache with auto flash attention: logits differ from flash attention off")
	}
	if slices.Equal(f32auto, f16on) {
		t.Error("f32 and f16 caches give identical logits: the f32 cache is not in use")
	}
}
