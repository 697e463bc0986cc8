package chat

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
)

func load(t *testing.T, path string) *llama.Model {
	t.Helper()
	m, err := llama.LoadModel(path, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestNoTemplate(t *testing.T) {
	m := load(t, filepath.Join("..", "..", "shared", "models", "stories260K.gguf"))
	if _, err := New(m, Options{}); !errors.Is(err, ErrNoTemplate) {
		t.Fatalf("a base model: %v, want ErrNoTemplate", err)
	}
}

// TestSession: the prompt is the template's rendering, a greedy reply is
// kept as the assistant's turn, Reset forgets it, and Sample counts draws.
func TestSession(t *testing.T) {
	m := load(t, testmodels.SmolLM2(t))
	s, err := New(m, Options{Threads: 1, MaxTokens: 16, System: "Be brief."})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Prompt("Hi")
	if err != nil || p != "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("prompt %q (%v)", p, err)
	}
	var streamed strings.Builder
	reply, err := s.Send(context.Background(), "What is the capital of France?", func(p string) { streamed.WriteString(p) })
	if err != nil || !strings.Contains(reply, "Paris") || strings.TrimSpace(streamed.String()) != reply || strings.Contains(reply, "<|im_end|>") {
		t.Fatalf("reply %q, streamed %q (%v)", reply, streamed.String(), err)
	}
	if turns := s.Turns(); len(turns) != 2 || turns[1].Content != reply {
		t.Errorf("turns %+v", turns)
	}
	s.Reset()
	if len(s.Turns()) != 0 {
		t.Error("Reset kept the turns")
	}
	if _, err := s.Sample(context.Background(), 4, 1, nil); err == nil {
		t.Error("Sample with no description or example: no error")
	}
	s.SetDescription("A US state")
	s.AddExample("Ohio")
	d, err := s.Sample(context.Background(), 5, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range d.Counts {
		total += c.N
	}
	if total != 5 || d.N != 5 || d.Format != "spectrum (chatml)" || d.Entropy < 0 {
		t.Errorf("distribution %+v", d)
	}
}
