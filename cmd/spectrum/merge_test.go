package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

// mgWriteAdapter writes a random rank-r LoRA adapter (alpha 2r) for every
// 2-D weight of the base model but the norms, in llama.cpp's shapes.
func mgWriteAdapter(t *testing.T, basePath, path string, r int, std float64) {
	t.Helper()
	llamatest.WriteAdapter(t, basePath, path, llamatest.AdapterSpec{Alpha: float32(2 * r), Rank: r,
		Targets: llamatest.AdaptableTensors(t, basePath), Std: std, Seed: [2]uint64{9, 9}})
}

// TestMergeCLIF32: stories260K (F32) + an adapter on every weight at scale
// 0.5: the merged model's logits equal base+adapter within 1e-3 relative.
func TestMergeCLIF32(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(sharedModels, "stories260K.gguf")
	ad := filepath.Join(dir, "adapter.gguf")
	mgWriteAdapter(t, base, ad, 4, 0.1)
	out := filepath.Join(dir, "merged.gguf")
	stdout, _, err := runCLI(t, "merge", base, "--lora", ad+":0.5", "-o", out, "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "1 adapter(s) folded into 37 tensors, type f32") {
		t.Errorf("stdout %q", stdout)
	}
	const prompt = "Once upon a time, there was a little girl named Lily."
	want := llamatest.Logits(t, base, []llamatest.Adapter{{Path: ad, Scale: 0.5}}, prompt)
	effect := llamatest.RelMaxDiff(llamatest.Logits(t, base, nil, prompt), want)
	d := llamatest.RelMaxDiff(llamatest.Logits(t, out, nil, prompt), want)
	t.Logf("F32: merged vs base+adapter %.3g relative (adapter effect %.3g)", d, effect)
	if d > 1e-3 || effect < 0.05 {
		t.Errorf("merged vs base+adapter %.3g relative (adapter effect %.3g)", d, effect)
	}
}

// TestMergeCLIQ8_0: a Q8_0 base (synthetic, widths multiples of 32) merged
// and re-quantized to Q8_0 (--type q8_0 and --type same): the merged model's
// logits equal the Q8_0 base + adapter within the Q8_0 error, measured as the
// F32-vs-Q8_0 difference of the base model itself.
func TestMergeCLIQ8_0(t *testing.T) {
	dir := t.TempDir()
	f32 := filepath.Join(dir, "base.gguf")
	if err := synth.Write(f32, synth.Config{Arch: "llama", NEmbd: 64, NFF: 128, NLayer: 2, NHead: 4, NHeadKV: 2, NCtx: 256,
		VocabFrom: filepath.Join(sharedModels, "stories260K.gguf"), Seed: 11}); err != nil {
		t.Fatal(err)
	}
	q8 := filepath.Join(dir, "base-q8_0.gguf")
	if err := llama.Quantize(f32, q8, "q8_0", llama.QuantizeParams{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	ad := filepath.Join(dir, "adapter.gguf")
	mgWriteAdapter(t, f32, ad, 4, 0.15)
	const prompt = "Once upon a time, there was a little girl named Lily."
	want := llamatest.Logits(t, q8, []llamatest.Adapter{{Path: ad, Scale: 1}}, prompt)
	effect := llamatest.RelMaxDiff(llamatest.Logits(t, q8, nil, prompt), want)
	qerr := llamatest.RelMaxDiff(llamatest.Logits(t, q8, nil, prompt), llamatest.Logits(t, f32, nil, prompt))
	for _, typ := range []string{"q8_0", "same"} {
		out := filepath.Join(dir, "merged-"+typ+".gguf")
		stdout, _, err := runCLI(t, "merge", q8, "--lora", ad, "-o", out, "--type", typ, "-q")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, "type q8_0") {
			t.Errorf("stdout %q", stdout)
		}
		in, err := models.ReadInfo(out)
		if err != nil {
			t.Fatal(err)
		}
		if in.FileTypeName != "Q8_0" {
			t.Errorf("--type %s: file type %q", typ, in.FileTypeName)
		}
		d := llamatest.RelMaxDiff(llamatest.Logits(t, out, nil, prompt), want)
		t.Logf("--type %s: merged vs base+adapter %.3g relative; Q8_0 vs F32 base %.3g; adapter effect %.3g", typ, d, qerr, effect)
		if d > 2*qerr+0.005 || effect < 0.05 {
			t.Errorf("--type %s: merged vs base+adapter %.3g relative (Q8_0 error %.3g, adapter effect %.3g)", typ, d, qerr, effect)
		}
	}
}

func TestMergeCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(sharedModels, "stories260K.gguf")
	ad := filepath.Join(dir, "adapter.gguf")
	mgWriteAdapter(t, base, ad, 2, 0.1)
	other := filepath.Join(sharedModels, "llama-2-tiny-random.gguf")
	copyBase := filepath.Join(dir, "base.gguf")
	data, _ := os.ReadFile(base)
	os.WriteFile(copyBase, data, 0o644)
	out := filepath.Join(dir, "out.gguf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"merge", base, "--lora", other, "-o", out}, "not a LoRA adapter"},
		{[]string{"merge", other, "--lora", ad, "-o", out}, "do not fit base"},
		{[]string{"merge", copyBase, "--lora", ad, "-o", copyBase}, "is also an input"},
		{[]string{"merge", base, "--lora", ad + ":2", "-o", ad, "--type", "q8_0"}, "is also an input"},
		{[]string{"merge", base, "--lora", ad, "-o", out, "--type", "q9"}, `--type "q9"`},
		{[]string{"merge", base, "--lora", ":0.5", "-o", out}, "no adapter path"},
		{[]string{"merge", base, "-o", out}, `"lora" not set`},
		{[]string{"merge", base, "--lora", filepath.Join(dir, "nope.gguf"), "-o", out}, "no such file"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed merge left %s", out)
	}
	if got, _ := os.ReadFile(copyBase); string(got) != string(data) {
		t.Error("the input was modified")
	}
	// No temporary files are left beside the output.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestParseLoRASpec(t *testing.T) {
	for in, want := range map[string]models.MergeAdapter{
		"a.gguf":        {Path: "a.gguf", Scale: 1},
		"a.gguf:0.5":    {Path: "a.gguf", Scale: 0.5},
		"a.gguf:-1":     {Path: "a.gguf", Scale: -1},
		"C:/x/a.gguf":   {Path: "C:/x/a.gguf", Scale: 1},
		"dir:v2/a.gguf": {Path: "dir:v2/a.gguf", Scale: 1},
	} {
		got, err := parseLoRASpec(in)
		if err != nil || got != want {
			t.Errorf("parseLoRASpec(%q) = %+v, %v", in, got, err)
		}
	}
	if _, err := parseLoRASpec("a.gguf:NaN"); err == nil {
		t.Error("NaN scale: no error")
	}
}

func TestTransplantMergeHelp(t *testing.T) {
	for _, c := range []string{"transplant", "merge"} {
		out, _, err := runCLI(t, c, "--help")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "spectrum "+c+" ") {
			t.Errorf("%s --help:\n%s", c, out)
		}
	}
}

// TestMergeCLISameQ4_K_M: --type same on a Q4_K_M base (k-quant mix of Q4_K
// and Q6_K) keeps that mix; the logits stay within the 4-bit error.
func TestMergeCLISameQ4_K_M(t *testing.T) {
	dir := t.TempDir()
	f32 := filepath.Join(dir, "base.gguf")
	if err := synth.Write(f32, synth.Config{Arch: "llama", NEmbd: 256, NFF: 512, NLayer: 1, NHead: 4, NHeadKV: 2, NCtx: 256,
		VocabFrom: filepath.Join(sharedModels, "stories260K.gguf"), Seed: 12}); err != nil {
		t.Fatal(err)
	}
	q4 := filepath.Join(dir, "base-q4_k_m.gguf")
	if err := llama.Quantize(f32, q4, "q4_k_m", llama.QuantizeParams{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	ad := filepath.Join(dir, "adapter.gguf")
	mgWriteAdapter(t, f32, ad, 4, 0.03)
	out := filepath.Join(dir, "merged.gguf")
	if _, _, err := runCLI(t, "merge", q4, "--lora", ad, "-o", out, "-q"); err != nil {
		t.Fatal(err)
	}
	bi, _ := models.ReadInfo(q4)
	oi, err := models.ReadInfo(out)
	if err != nil {
		t.Fatal(err)
	}
	if oi.FileTypeName != "Q4_K_M" || len(oi.TensorTypes) != len(bi.TensorTypes) {
		t.Errorf("merged: %s %+v, base %s %+v", oi.FileTypeName, oi.TensorTypes, bi.FileTypeName, bi.TensorTypes)
	}
	const prompt = "Once upon a time, there was a little girl named Lily."
	want := llamatest.Logits(t, q4, []llamatest.Adapter{{Path: ad, Scale: 1}}, prompt)
	effect := llamatest.RelMaxDiff(llamatest.Logits(t, q4, nil, prompt), want)
	qerr := llamatest.RelMaxDiff(llamatest.Logits(t, q4, nil, prompt), llamatest.Logits(t, f32, nil, prompt))
	d := llamatest.RelMaxDiff(llamatest.Logits(t, out, nil, prompt), want)
	t.Logf("Q4_K_M: merged vs base+adapter %.3g relative; Q4_K_M vs F32 base %.3g; adapter effect %.3g", d, qerr, effect)
	if d > 2*qerr+0.01 || effect < 0.05 {
		t.Errorf("merged vs base+adapter %.3g relative (Q4_K_M error %.3g, adapter effect %.3g)", d, qerr, effect)
	}
}
