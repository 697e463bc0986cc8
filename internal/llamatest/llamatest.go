// Package llamatest holds helpers for tests that check numbers against
// llama.cpp: the logits llama.cpp computes for a model (with LoRA adapters
// attached), the relative difference of two logit vectors, and random test
// adapters in llama.cpp's GGUF layout.
//
// It is meant for _test.go files only. The llama package's own tests cannot
// use it, since it imports llama.
package llamatest

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

// Adapter is a LoRA adapter file attached at a scale. It is
// models.MergeAdapter, so that a merge test hands one list to models.Merge
// and to Logits.
type Adapter = models.MergeAdapter

// nCtx is the size of the contexts Logits and TokenLogits decode in, and the
// most tokens they take.
const nCtx = 256

// Logits loads the model at modelPath, attaches the adapters at their
// scales, decodes prompt (BOS added, special tokens parsed) in one batch and
// returns the logits of every position, position after position. The context
// (256 cells) has an F32 KV cache and one thread, so that results are
// reproducible.
func Logits(t testing.TB, modelPath string, adapters []Adapter, prompt string) []float32 {
	t.Helper()
	return decode(t, modelPath, adapters, func(m *llama.Model) []llama.Token {
		toks, err := m.Tokenize(prompt, true, true)
		if err != nil {
			t.Fatal(err)
		}
		return toks
	})
}

// TokenLogits is Logits for a prompt given as token ids.
func TokenLogits(t testing.TB, modelPath string, adapters []Adapter, ids []llama.Token) []float32 {
	t.Helper()
	return decode(t, modelPath, adapters, func(*llama.Model) []llama.Token { return ids })
}

func decode(t testing.TB, modelPath string, adapters []Adapter, tokens func(*llama.Model) []llama.Token) []float32 {
	t.Helper()
	m, err := llama.LoadModel(modelPath, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: nCtx, NBatch: nCtx, Threads: 1, KVType: "f32", LoRA: len(adapters) > 0})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ad := range adapters {
		a, err := llama.LoadAdapter(m, ad.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := c.SetAdapter(a, ad.Scale); err != nil {
			t.Fatal(err)
		}
	}
	if len(adapters) > 0 {
		defer c.ClearAdapters()
	}
	toks := tokens(m)
	b, err := llama.NewBatch(len(toks), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, tok := range toks {
		if _, err := b.Add(tok, llama.Pos(i), []llama.SeqID{0}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Decode(b); err != nil {
		t.Fatal(err)
	}
	var out []float32
	for i := range toks {
		lg, err := c.Logits(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lg...)
	}
	return out
}

// RelMaxDiff is max|a-b| / max|b|: the largest difference of two logit
// vectors relative to the largest magnitude of the reference b (which is at
// least as long as a).
func RelMaxDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / m
}

// MaxAbs is max|v|.
func MaxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

// AdapterSpec describes a random test LoRA adapter.
type AdapterSpec struct {
	Arch    string  // general.architecture ("": the base model's)
	Alpha   float32 // adapter.lora.alpha
	Rank    int
	Targets []string // the base tensors adapted, in this order
	Std     float64  // standard deviation of the entries of A and B
	Seed    [2]uint64
	Extra   func(w *models.Writer) // more keys or tensors
}

// WriteAdapter writes to path a LoRA adapter for the base model at basePath
// with normal random A and B (drawn from PCG(Seed[0], Seed[1]), each target's
// A then B, in the order of s.Targets), in llama.cpp's shapes: A is
// [n_in, rank] and B [rank, n_out], except for token_embd, whose A is
// transposed, [rank, n_embd], and B [rank, n_vocab].
func WriteAdapter(t testing.TB, basePath, path string, s AdapterSpec) {
	t.Helper()
	base, err := models.Open(basePath)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	arch := s.Arch
	if arch == "" {
		arch, _ = base.String("general.architecture")
	}
	w := models.NewWriter()
	for _, kv := range []models.KV{{Key: "general.architecture", Value: arch}, {Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: s.Alpha}} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(s.Seed[0], s.Seed[1]))
	randn := func(shape []uint64) []float32 {
		out := make([]float32, shape[0]*shape[1])
		for i := range out {
			out[i] = float32(rng.NormFloat64() * s.Std)
		}
		return out
	}
	r := uint64(s.Rank)
	for _, name := range s.Targets {
		bt, ok := base.Tensor(name)
		if !ok {
			t.Fatalf("base has no %s", name)
		}
		nIn, nOut := bt.Shape[0], bt.Shape[1]
		aShape, bShape := []uint64{nIn, r}, []uint64{r, nOut}
		if name == models.TensorTokenEmbd {
			aShape, bShape = []uint64{r, nOut}, []uint64{r, nIn}
		}
		if err := w.AddF32(name+".lora_a", aShape, randn(aShape)); err != nil {
			t.Fatal(err)
		}
		if err := w.AddF32(name+".lora_b", bShape, randn(bShape)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Extra != nil {
		s.Extra(w)
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// AdaptableTensors lists the weights of the model at path that a LoRA
// adapter can target, in file order: every 2-D tensor but the norms (the
// attention and FFN projections, the embedding and the output).
func AdaptableTensors(t testing.TB, path string) []string {
	t.Helper()
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	for _, ti := range f.Tensors {
		if len(ti.Shape) == 2 && !strings.HasSuffix(ti.Name, "_norm.weight") {
			out = append(out, ti.Name)
		}
	}
	return out
}
