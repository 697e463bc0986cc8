package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

func tpSynth(t *testing.T, path string, seed uint64, turns []string) {
	t.Helper()
	if err := synth.Write(path, synth.Config{Arch: "gemma3", NEmbd: 64, NFF: 96, NLayer: 6, NHead: 2, NHeadKV: 1, HeadDim: 32,
		NCtx: 256, ExtraSpecialTokens: turns, Seed: seed, TiedOutput: true}); err != nil {
		t.Fatal(err)
	}
}

// TestTransplantCLI: Gemma 3 pair (tied output), Q8_0: the turn tokens' rows
// are the donor's, everything else the base's, and llama.cpp loads the result.
func TestTransplantCLI(t *testing.T) {
	dir := t.TempDir()
	turns := models.FamilyGemma3.TurnTokens()
	var q8 [2]string
	for i, seed := range []uint64{1, 2} {
		p := filepath.Join(dir, []string{"base.gguf", "donor.gguf"}[i])
		tpSynth(t, p, seed, turns)
		q8[i] = strings.TrimSuffix(p, ".gguf") + "-q8_0.gguf"
		if err := llama.Quantize(p, q8[i], "q8_0", llama.QuantizeParams{Threads: 1, Pure: true}); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.gguf")
	stdout, _, err := runCLI(t, "transplant", "--base", q8[0], "--donor", q8[1], "-o", out, "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, `"<start_of_turn>"`) || !strings.Contains(stdout, "2 tokens × 1 tensors") {
		t.Errorf("stdout %q", stdout)
	}
	base, _ := models.Open(q8[0])
	defer base.Close()
	donor, _ := models.Open(q8[1])
	defer donor.Close()
	of, err := models.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	in := models.InfoOf(base)
	ids := map[int]bool{}
	for _, tok := range turns {
		id, _ := in.TokenID(tok)
		ids[id] = true
	}
	for _, ti := range base.Tensors {
		b, _ := base.TensorData(ti.Name)
		o, _ := of.TensorData(ti.Name)
		if ti.Name != models.TensorTokenEmbd {
			if !bytes.Equal(b, o) {
				t.Errorf("%s differs from the base", ti.Name)
			}
			continue
		}
		d, _ := donor.TensorData(ti.Name)
		rb, _ := models.RowBytes(ti.Type, int(ti.Shape[0]))
		for r := 0; r < int(ti.Shape[1]); r++ {
			want := b
			if ids[r] {
				want = d
			}
			if !bytes.Equal(o[r*rb:(r+1)*rb], want[r*rb:(r+1)*rb]) {
				t.Errorf("token_embd row %d (turn token %v) is wrong", r, ids[r])
			}
		}
	}
	m, err := llama.LoadModel(out, llama.ModelParams{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func TestTransplantCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	base, other := filepath.Join(dir, "base.gguf"), filepath.Join(dir, "other.gguf")
	tpSynth(t, base, 1, models.FamilyGemma3.TurnTokens())
	tpSynth(t, other, 2, []string{"<end_of_turn>", "<start_of_turn>"})
	out := filepath.Join(dir, "out.gguf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"transplant", "--base", base, "--donor", other, "-o", out}, `token "<start_of_turn>" is id`},
		{[]string{"transplant", "--base", base, "--donor", other, "-o", out, "--tokens", "<start_of_turn>,,x"}, "empty token text"},
		{[]string{"transplant", "--base", base, "--donor", base, "-o", base}, "is also an input"},
		{[]string{"transplant", "--base", base, "-o", out}, `"donor" not set`},
	} {
		_, _, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
