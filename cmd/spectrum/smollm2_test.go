package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/internal/testmodels"
)

// TestSmolLM2Tune is TestGemmaTune's counterpart for the llama family with
// a real ChatML vocabulary (SmolLM2-135M-Instruct, Q4_1): a short `tune`
// in its automatic format (spectrum, ChatML turns) lowers the training
// loss; the adapter attaches in llama.cpp and changes the logits; `adapter
// export` writes it for PEFT with the q/k rows permuted back (the PEFT side
// is checked in internal/parity), and `adapter import` brings back the same
// logits.
func TestSmolLM2Tune(t *testing.T) {
	smol := testmodels.SmolLM2(t)
	dir := t.TempDir()
	ad := filepath.Join(dir, "a.gguf")
	sum, out := shortTune(t, smol, dir, ad, "12", "2e-3", "256", "4")
	if sum.Steps != 4 || !(sum.LastLoss < sum.FirstLoss) {
		t.Errorf("training summary %s", out)
	}
	const prompt = "<|im_start|>description\nA number between 1 and 10<|im_end|>\n<|im_start|>output\n3<|im_end|>\n<|im_start|>output\n"
	base := llamatest.Logits(t, smol, nil, prompt)
	tuned := llamatest.Logits(t, smol, []llamatest.Adapter{{Path: ad, Scale: 1}}, prompt)
	effect := llamatest.RelMaxDiff(tuned, base)
	if effect < 1e-3 {
		t.Errorf("the adapter moves the logits by only %.3g", effect)
	}
	peft := filepath.Join(dir, "peft")
	if _, _, err := runCLI(t, "adapter", "export", ad, peft, "--base", smol, "-q"); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(peft, "adapter_config.json"))
	if err != nil || !strings.Contains(string(cfg), `"r": 8`) || !strings.Contains(string(cfg), `"lora_alpha": 32`) {
		t.Errorf("adapter_config.json: %v\n%s", err, cfg)
	}
	back := filepath.Join(dir, "back.gguf")
	if _, _, err := runCLI(t, "adapter", "import", peft, "--base", smol, "-o", back, "-q"); err != nil {
		t.Fatal(err)
	}
	if d := llamatest.RelMaxDiff(llamatest.Logits(t, smol, []llamatest.Adapter{{Path: back, Scale: 1}}, prompt), tuned); d != 0 {
		t.Errorf("re-imported adapter: logits differ by %g", d)
	}
	t.Logf("adapter effect on the logits: %.3g of the largest", effect)
}
