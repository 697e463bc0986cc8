package llamacheck_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/models"
)

const storyPrompt = "Once upon a time, there was a little girl named Lily. She liked to play"

// TestMergeF32Stories: on stories260K (F32), the merged model's logits equal
// base + adapters within 1e-3 relative, for every kind of target (attention,
// FFN, embedding with its transposed A, output), two adapters, user scales,
// alpha scaling.
func TestMergeF32Stories(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(sharedModels, "stories260K.gguf")
	a1, a2 := filepath.Join(dir, "a1.gguf"), filepath.Join(dir, "a2.gguf")
	llamatest.WriteAdapter(t, basePath, a1, llamatest.AdapterSpec{Arch: "llama", Alpha: 16, Rank: 8, Targets: llamatest.AdaptableTensors(t, basePath), Std: 0.1, Seed: [2]uint64{1, 7}})
	llamatest.WriteAdapter(t, basePath, a2, llamatest.AdapterSpec{Arch: "llama", Alpha: 0, Rank: 2, Std: 0.1, Seed: [2]uint64{2, 7},
		Targets: []string{"blk.1.attn_q.weight", "blk.1.attn_v.weight", "token_embd.weight"}})
	ads := []llamatest.Adapter{{Path: a1, Scale: 0.7}, {Path: a2, Scale: 1}}

	want := llamatest.Logits(t, basePath, ads, storyPrompt)
	baseLogits := llamatest.Logits(t, basePath, nil, storyPrompt)
	if d := llamatest.RelMaxDiff(baseLogits, want); d < 0.05 {
		t.Fatalf("adapters change logits by only %.3g: the test would not show anything", d)
	}
	for _, typ := range []models.GGMLType{models.TypeF32, models.TypeF16} {
		t.Run(typ.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged.gguf")
			res, err := models.Merge(basePath, out, models.MergeOptions{Adapters: ads, Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Adapters) != 2 || res.Adapters[0].Alpha != 16 || res.Adapters[0].Ranks[0] != 8 || len(res.Merged) != len(llamatest.AdaptableTensors(t, basePath)) {
				t.Errorf("result %+v", res)
			}
			got := llamatest.Logits(t, out, nil, storyPrompt)
			tol := 1e-3
			if typ == models.TypeF16 {
				tol = 1e-2 // F16 weights
			}
			d := llamatest.RelMaxDiff(got, want)
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
	llamatest.WriteAdapter(t, f32, ad, llamatest.AdapterSpec{Arch: "llama", Alpha: 8, Rank: 4, Targets: llamatest.AdaptableTensors(t, f32), Std: 0.15, Seed: [2]uint64{3, 7}})
	ads := []llamatest.Adapter{{Path: ad, Scale: 1}}
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
	want := llamatest.Logits(t, q8, ads, chatPrompt)
	base := llamatest.Logits(t, q8, nil, chatPrompt)
	got := llamatest.Logits(t, out, nil, chatPrompt)
	d, effect := llamatest.RelMaxDiff(got, want), llamatest.RelMaxDiff(base, want)
	// The quantization error of the base itself, for scale: F32 vs Q8_0 logits.
	qerr := llamatest.RelMaxDiff(llamatest.Logits(t, q8, nil, chatPrompt), llamatest.Logits(t, f32, nil, chatPrompt))
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
	llamatest.WriteAdapter(t, f32, ad, llamatest.AdapterSpec{Arch: "llama", Alpha: 8, Rank: 4, Targets: []string{"token_embd.weight"}, Std: 0.3, Seed: [2]uint64{3, 7}})
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
	llamatest.Logits(t, out, nil, chatPrompt) // llama.cpp loads and decodes it
}

func TestMergeErrors(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(sharedModels, "stories260K.gguf")
	good := filepath.Join(dir, "good.gguf")
	llamatest.WriteAdapter(t, basePath, good, llamatest.AdapterSpec{Arch: "llama", Alpha: 4, Rank: 2, Targets: []string{"blk.0.attn_q.weight"}, Std: 0.1, Seed: [2]uint64{1, 7}})
	other := filepath.Join(sharedModels, "llama-2-tiny-random.gguf")
	wrongShape := filepath.Join(dir, "shape.gguf")
	llamatest.WriteAdapter(t, other, wrongShape, llamatest.AdapterSpec{Arch: "llama", Alpha: 4, Rank: 2, Targets: []string{"blk.0.attn_q.weight"}, Std: 0.1, Seed: [2]uint64{1, 7}})
	write := func(name string, s llamatest.AdapterSpec) string {
		p := filepath.Join(dir, name)
		if s.Targets == nil {
			s.Targets = []string{"blk.0.attn_q.weight"}
		}
		s.Alpha, s.Rank, s.Std, s.Seed = 4, 2, 0.1, [2]uint64{0, 7}
		llamatest.WriteAdapter(t, basePath, p, s)
		return p
	}
	wrongArch := write("arch.gguf", llamatest.AdapterSpec{Arch: "qwen2"})
	missing := write("missing.gguf", llamatest.AdapterSpec{Arch: "llama", Extra: func(w *models.Writer) {
		w.AddF32("blk.9.attn_q.weight.lora_a", []uint64{64, 2}, make([]float32, 128))
		w.AddF32("blk.9.attn_q.weight.lora_b", []uint64{2, 64}, make([]float32, 128))
	}})
	half := write("half.gguf", llamatest.AdapterSpec{Arch: "llama", Extra: func(w *models.Writer) {
		w.AddF32("blk.1.attn_q.weight.lora_a", []uint64{64, 2}, make([]float32, 128))
	}})
	stray := write("stray.gguf", llamatest.AdapterSpec{Arch: "llama", Extra: func(w *models.Writer) {
		w.AddF32("blk.1.attn_q.weight", []uint64{64, 2}, make([]float32, 128))
	}})
	alora := write("alora.gguf", llamatest.AdapterSpec{Arch: "llama", Extra: func(w *models.Writer) {
		w.Set("adapter.alora.invocation_tokens", []uint32{1, 2})
	}})
	notLoRA := write("notlora.gguf", llamatest.AdapterSpec{Arch: "llama", Extra: func(w *models.Writer) { w.Set("adapter.type", "control_vector") }})
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
