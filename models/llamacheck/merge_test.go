package llamacheck_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

// adapterSpec describes a test adapter: which base tensors it adapts.
type adapterSpec struct {
	arch    string
	alpha   float32
	rank    int
	targets []string
	std     float64
	seed    uint64
	extra   func(w *models.Writer) // more keys or tensors
}

// writeAdapter writes a random LoRA adapter for the targets of the base
// model at basePath, with llama.cpp's shapes (token_embd's transposed A).
func writeAdapter(t testing.TB, basePath, path string, s adapterSpec) {
	t.Helper()
	base := openGGUF(t, basePath)
	w := models.NewWriter()
	for _, kv := range []models.KV{{Key: "general.architecture", Value: s.arch}, {Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: s.alpha}} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(s.seed, 7))
	randn := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * s.std)
		}
		return out
	}
	r := uint64(s.rank)
	for _, name := range s.targets {
		bt, ok := base.Tensor(name)
		if !ok {
			t.Fatalf("base has no %s", name)
		}
		nIn, nOut := bt.Shape[0], bt.Shape[1]
		aShape, bShape := []uint64{nIn, r}, []uint64{r, nOut}
		if name == models.TensorTokenEmbd {
			aShape, bShape = []uint64{r, nOut}, []uint64{r, nIn}
		}
		if err := w.AddF32(name+".lora_a", aShape, randn(int(aShape[0]*aShape[1]))); err != nil {
			t.Fatal(err)
		}
		if err := w.AddF32(name+".lora_b", bShape, randn(int(bShape[0]*bShape[1]))); err != nil {
			t.Fatal(err)
		}
	}
	if s.extra != nil {
		s.extra(w)
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// allTargets lists every adaptable weight of a llama-architecture model: the
// attention and FFN projections of each block, the embedding and the output.
func allTargets(t testing.TB, path string) []string {
	t.Helper()
	var out []string
	for _, ti := range openGGUF(t, path).Tensors {
		if len(ti.Shape) == 2 && !strings.HasSuffix(ti.Name, "_norm.weight") {
			out = append(out, ti.Name)
		}
	}
	return out
}

// adapterLogits: logits of base with the adapters attached at the scales.
func adapterLogits(t testing.TB, basePath string, adapters []models.MergeAdapter, prompt string) []float32 {
	t.Helper()
	m, err := llama.LoadModel(basePath, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextParams{NCtx: 128, Threads: 1, KVType: "f32", LoRA: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, ma := range adapters {
		a, err := llama.LoadAdapter(m, ma.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetAdapter(a, ma.Scale); err != nil {
			t.Fatal(err)
		}
	}
	return decodeAll(t, m, c, prompt)
}

func decodeAll(t testing.TB, m *llama.Model, c *llama.Context, prompt string) []float32 {
	t.Helper()
	toks, err := m.Tokenize(prompt, true, true)
	if err != nil {
		t.Fatal(err)
	}
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

// relDiff is max|a-b| / max|b|.
func relDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / m
}

const storyPrompt = "Once upon a time, there was a little girl named Lily. She liked to play"

// TestMergeF32Stories: on stories260K (F32), the merged model's logits equal
// base + adapters within 1e-3 relative, for every kind of target (attention,
// FFN, embedding with its transposed A, output), two adapters, user scales,
// alpha scaling.
func TestMergeF32Stories(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(sharedModels, "stories260K.gguf")
	a1, a2 := filepath.Join(dir, "a1.gguf"), filepath.Join(dir, "a2.gguf")
	writeAdapter(t, basePath, a1, adapterSpec{arch: "llama", alpha: 16, rank: 8, targets: allTargets(t, basePath), std: 0.1, seed: 1})
	writeAdapter(t, basePath, a2, adapterSpec{arch: "llama", alpha: 0, rank: 2, std: 0.1, seed: 2,
		targets: []string{"blk.1.attn_q.weight", "blk.1.attn_v.weight", "token_embd.weight"}})
	ads := []models.MergeAdapter{{Path: a1, Scale: 0.7}, {Path: a2, Scale: 1}}

	want := adapterLogits(t, basePath, ads, storyPrompt)
	baseLogits := adapterLogits(t, basePath, nil, storyPrompt)
	if d := relDiff(baseLogits, want); d < 0.05 {
		t.Fatalf("adapters change logits by only %.3g: the test would not show anything", d)
	}
	for _, typ := range []models.GGMLType{models.TypeF32, models.TypeF16} {
		t.Run(typ.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged.gguf")
			res, err := models.Merge(basePath, out, models.MergeOptions{Adapters: ads, Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Adapters) != 2 || res.Adapters[0].Alpha != 16 || res.Adapters[0].Ranks[0] != 8 || len(res.Merged) != len(allTargets(t, basePath)) {
				t.Errorf("result %+v", res)
			}
			got := loadAndDecode(t, out, storyPrompt)
			tol := 1e-3
			if typ == models.TypeF16 {
				tol = 1e-2 // F16 weights
			}
			d := relDiff(got, want)
			t.Logf("%v merged vs base+adapters: %.3g relative", typ, d)
			if d > tol {
				t.Errorf("merged logits differ from base+adapters by %.3g relative (> %g)", d, tol)
			}
			of := openGGUF(t, out)
			if ft, _ := of.Uint("general.file_type"); typ == models.TypeF16 && ft != 1 || typ == models.TypeF32 && ft != 0 {
				t.Errorf("general.file_type = %d", ft)
			}
		})
	}
}

// TestMergeQuantizedBase: a Q8_0 base is decoded, merged and written in F32;
// its logits equal Q8_0-base + adapter within the error of llama.cpp's Q8_0
// matmuls (which quantize activations too).
func TestMergeQuantizedBase(t *testing.T) {
	dir := t.TempDir()
	f32 := writeSynth(t, dir, "base.gguf", synthConfig(4))
	q8 := quantize(t, f32, "q8_0")
	ad := filepath.Join(dir, "a.gguf")
	writeAdapter(t, f32, ad, adapterSpec{arch: "llama", alpha: 8, rank: 4, targets: allTargets(t, f32), std: 0.15, seed: 3})
	ads := []models.MergeAdapter{{Path: ad, Scale: 1}}
	out := filepath.Join(dir, "merged.gguf")
	if _, err := models.Merge(q8, out, models.MergeOptions{Adapters: ads, Dequantize: true}); err != nil {
		t.Fatal(err)
	}
	of := openGGUF(t, out)
	for _, ti := range of.Tensors {
		if ti.Type != models.TypeF32 {
			t.Errorf("%s is %v", ti.Name, ti.Type)
		}
	}
	want := adapterLogits(t, q8, ads, chatPrompt)
	base := adapterLogits(t, q8, nil, chatPrompt)
	got := loadAndDecode(t, out, chatPrompt)
	d, effect := relDiff(got, want), relDiff(base, want)
	// The quantization error of the base itself, for scale: F32 vs Q8_0 logits.
	qerr := relDiff(loadAndDecode(t, q8, chatPrompt), loadAndDecode(t, f32, chatPrompt))
	t.Logf("merged vs base+adapter: %.3g relative; adapter effect %.3g; Q8_0 vs F32 base %.3g", d, effect, qerr)
	if d > 0.02 || effect < 0.1 {
		t.Errorf("merged differs by %.3g relative (effect of the adapter %.3g)", d, effect)
	}
}

// TestMergeUntiesOutput: adapting the embedding of a tied model writes
// output.weight with the original embedding, since llama.cpp applies
// embedding adapters to the input only (and, this version, cannot even run a
// token_embd adapter on a tied model: the output matmul picks it up with the
// wrong shapes).
func TestMergeUntiesOutput(t *testing.T) {
	dir := t.TempDir()
	cfg := synthConfig(4)
	cfg.TiedOutput = true
	f32 := writeSynth(t, dir, "base.gguf", cfg)
	ad := filepath.Join(dir, "a.gguf")
	writeAdapter(t, f32, ad, adapterSpec{arch: "llama", alpha: 8, rank: 4, targets: []string{"token_embd.weight"}, std: 0.3, seed: 3})
	out := filepath.Join(dir, "merged.gguf")
	res, err := models.Merge(f32, out, models.MergeOptions{Adapters: []models.MergeAdapter{{Path: ad, Scale: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 {
		t.Errorf("notes %v", res.Notes)
	}
	of, bf := openGGUF(t, out), openGGUF(t, f32)
	if got, want := tensorData(t, of, models.TensorOutput), tensorData(t, bf, models.TensorTokenEmbd); string(got) != string(want) {
		t.Error("output.weight is not the original embedding")
	}
	if got, base := tensorData(t, of, models.TensorTokenEmbd), tensorData(t, bf, models.TensorTokenEmbd); string(got) == string(base) {
		t.Error("token_embd.weight unchanged")
	}
	loadAndDecode(t, out, chatPrompt)
}

func TestMergeErrors(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(sharedModels, "stories260K.gguf")
	good := filepath.Join(dir, "good.gguf")
	writeAdapter(t, basePath, good, adapterSpec{arch: "llama", alpha: 4, rank: 2, targets: []string{"blk.0.attn_q.weight"}, std: 0.1, seed: 1})
	other := filepath.Join(sharedModels, "llama-2-tiny-random.gguf")
	wrongShape := filepath.Join(dir, "shape.gguf")
	writeAdapter(t, other, wrongShape, adapterSpec{arch: "llama", alpha: 4, rank: 2, targets: []string{"blk.0.attn_q.weight"}, std: 0.1, seed: 1})
	write := func(name string, s adapterSpec) string {
		p := filepath.Join(dir, name)
		if s.targets == nil {
			s.targets = []string{"blk.0.attn_q.weight"}
		}
		s.alpha, s.rank, s.std = 4, 2, 0.1
		writeAdapter(t, basePath, p, s)
		return p
	}
	wrongArch := write("arch.gguf", adapterSpec{arch: "qwen2"})
	missing := write("missing.gguf", adapterSpec{arch: "llama", extra: func(w *models.Writer) {
		w.AddF32("blk.9.attn_q.weight.lora_a", []uint64{64, 2}, make([]float32, 128))
		w.AddF32("blk.9.attn_q.weight.lora_b", []uint64{2, 64}, make([]float32, 128))
	}})
	half := write("half.gguf", adapterSpec{arch: "llama", extra: func(w *models.Writer) {
		w.AddF32("blk.1.attn_q.weight.lora_a", []uint64{64, 2}, make([]float32, 128))
	}})
	stray := write("stray.gguf", adapterSpec{arch: "llama", extra: func(w *models.Writer) {
		w.AddF32("blk.1.attn_q.weight", []uint64{64, 2}, make([]float32, 128))
	}})
	alora := write("alora.gguf", adapterSpec{arch: "llama", extra: func(w *models.Writer) {
		w.Set("adapter.alora.invocation_tokens", []uint32{1, 2})
	}})
	notLoRA := write("notlora.gguf", adapterSpec{arch: "llama", extra: func(w *models.Writer) { w.Set("adapter.type", "control_vector") }})
	out := filepath.Join(dir, "out.gguf")
	for _, tc := range []struct {
		name, base, adapter, out, want string
	}{
		{"a model is not an adapter", basePath, other, out, "not a LoRA adapter"},
		{"adapter.type", basePath, notLoRA, out, `adapter.type is "control_vector"`},
		{"wrong architecture", basePath, wrongArch, out, `architecture "qwen2" does not match the base model's "llama"`},
		{"wrong shapes", basePath, wrongShape, out, "do not fit base"},
		{"missing base tensor", basePath, missing, out, "base tensor blk.9.attn_q.weight not found"},
		{"half a pair", basePath, half, out, "only one of .lora_a and .lora_b"},
		{"stray tensor", basePath, stray, out, "neither a .lora_a nor a .lora_b"},
		{"activated LoRA", basePath, alora, out, "cannot be merged"},
		{"output is the base", basePath, good, basePath, "is an input file"},
		{"output is the adapter", basePath, good, good, "is an input file"},
		{"missing base file", filepath.Join(dir, "nope.gguf"), good, out, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.Merge(tc.base, tc.out, models.MergeOptions{Adapters: []models.MergeAdapter{{Path: tc.adapter, Scale: 1}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := models.Merge(basePath, out, models.MergeOptions{}); err == nil {
		t.Error("no adapters: no error")
	}
	if _, err := models.Merge(basePath, out, models.MergeOptions{Adapters: []models.MergeAdapter{{Path: good, Scale: 1}}, Type: models.TypeQ8_0}); err == nil {
		t.Error("Type Q8_0: no error")
	}
}
