package llama

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
