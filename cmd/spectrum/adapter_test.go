package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
)

// TestAdapterCLI: `adapter export` and `adapter import` round-trip a
// llama-architecture adapter through a PEFT directory with the same effect
// in llama.cpp, and refuse what they cannot do with one clear error.
// (transformers and PEFT themselves load these files in
// internal/parity.TestAdapterParity.)
func TestAdapterCLI(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(sharedModels, "stories260K.gguf")
	ad := filepath.Join(dir, "a.gguf")
	var targets []string
	for _, n := range llamatest.AdaptableTensors(t, base) {
		if strings.HasPrefix(n, "blk.") {
			targets = append(targets, n)
		}
	}
	llamatest.WriteAdapter(t, base, ad, llamatest.AdapterSpec{Alpha: 8, Rank: 4, Targets: targets, Std: 0.1, Seed: [2]uint64{1, 1}})
	peft := filepath.Join(dir, "peft")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"adapter", "export", ad, peft}, "needs its base model (--base)"},
		{[]string{"adapter", "export", ad, peft, "--to", "onnx", "--base", base}, `--to "onnx"`},
		{[]string{"adapter", "export", filepath.Join(dir, "missing.gguf"), peft}, "missing.gguf"},
		{[]string{"adapter", "import", filepath.Join(dir, "nothing"), "--base", base, "-o", filepath.Join(dir, "x.gguf")}, "adapter_config.json"},
		{[]string{"adapter", "import", peft, "-o", filepath.Join(dir, "x.gguf")}, `"base" not set`},
	} {
		if _, _, err := runCLI(t, append(c.args, "-q")...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, _, err := runCLI(t, "adapter", "export", ad, peft, "--base", base, "-q"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(peft, f)); err != nil {
			t.Error(err)
		}
	}
	back := filepath.Join(dir, "back.gguf")
	if _, _, err := runCLI(t, "adapter", "import", peft, "--base", base, "-o", back, "-q"); err != nil {
		t.Fatal(err)
	}
	const prompt = "Once upon a time"
	want := llamatest.Logits(t, base, []llamatest.Adapter{{Path: ad, Scale: 1}}, prompt)
	got := llamatest.Logits(t, base, []llamatest.Adapter{{Path: back, Scale: 1}}, prompt)
	if d := llamatest.RelMaxDiff(got, want); d != 0 {
		t.Errorf("imported adapter: logits differ by %g (the factors should be bit-identical)", d)
	}
	if _, _, err := runCLI(t, "adapter", "import", peft, "--base", base, "-o", base, "-q"); err == nil {
		t.Error("import over the base model: no error")
	}
}
