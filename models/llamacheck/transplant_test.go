package llamacheck_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

const sharedModels = "../../../shared/models"

// synthConfig is a small llama-architecture model whose widths are multiples
// of 32 (Q8_0, Q4_0 blocks), with the ChatML turn tokens in its vocabulary.
func synthConfig(seed uint64) synth.Config {
	return synth.Config{Arch: "llama", NEmbd: 64, NFF: 128, NLayer: 2, NHead: 4, NHeadKV: 2, NCtx: 256,
		ExtraSpecialTokens: models.FamilyChatML.TurnTokens(), EOS: "<|im_end|>", Seed: seed}
}

func writeSynth(t testing.TB, dir, name string, cfg synth.Config) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := synth.Write(p, cfg); err != nil {
		t.Fatal(err)
	}
	return p
}

func quantize(t testing.TB, in, typ string) string {
	t.Helper()
	out := strings.TrimSuffix(in, ".gguf") + "-" + typ + ".gguf"
	if err := llama.Quantize(in, out, typ, llama.QuantizeParams{Threads: 1, Pure: true}); err != nil {
		t.Fatal(err)
	}
	return out
}

func openGGUF(t testing.TB, path string) *models.File {
	t.Helper()
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tensorData(t testing.TB, f *models.File, name string) []byte {
	t.Helper()
	b, err := f.TensorData(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTransplant compares out with base and donor tensor by tensor and row by
// row: the rows of ids in the patched tensors must equal want(name, id) and
// every other byte must be the base's.
func checkTransplant(t *testing.T, out, base *models.File, patched map[string]bool, ids []int, want func(name string, id int) []byte) {
	t.Helper()
	if len(out.Tensors) != len(base.Tensors) {
		t.Fatalf("output has %d tensors, base %d", len(out.Tensors), len(base.Tensors))
	}
	isID := map[int]bool{}
	for _, id := range ids {
		isID[id] = true
	}
	for i, bt := range base.Tensors {
		ot := out.Tensors[i]
		if ot.Name != bt.Name || ot.Type != bt.Type || !reflect.DeepEqual(ot.Shape, bt.Shape) {
			t.Fatalf("tensor %d: output %s %v %v, base %s %v %v", i, ot.Name, ot.Type, ot.Shape, bt.Name, bt.Type, bt.Shape)
		}
		ob, bb := tensorData(t, out, bt.Name), tensorData(t, base, bt.Name)
		if !patched[bt.Name] {
			if !bytes.Equal(ob, bb) {
				t.Errorf("%s: differs from the base", bt.Name)
			}
			continue
		}
		rb, _ := models.RowBytes(bt.Type, int(bt.Shape[0]))
		for r := 0; r < int(bt.Shape[1]); r++ {
			o := ob[r*rb : (r+1)*rb]
			switch {
			case isID[r]:
				if w := want(bt.Name, r); !bytes.Equal(o, w) {
					t.Errorf("%s row %d: not the donor's row", bt.Name, r)
				}
			case !bytes.Equal(o, bb[r*rb:(r+1)*rb]):
				t.Errorf("%s row %d: differs from the base", bt.Name, r)
			}
		}
	}
	// Metadata: the base's, plus the transplant's own keys.
	for _, kv := range base.Metadata {
		if kv.Key == models.KeyAlignment {
			continue
		}
		if v, ok := out.Value(kv.Key); !ok || !reflect.DeepEqual(v, kv.Value) {
			t.Errorf("metadata %s: %v, base %v", kv.Key, v, kv.Value)
		}
	}
}

func rowOf(t testing.TB, f *models.File, name string, id int) []byte {
	t.Helper()
	ti, _ := f.Tensor(name)
	rb, _ := models.RowBytes(ti.Type, int(ti.Shape[0]))
	return tensorData(t, f, name)[id*rb : (id+1)*rb]
}

const chatPrompt = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"

func TestTransplantF32AndQ8_0(t *testing.T) {
	dir := t.TempDir()
	basePath := writeSynth(t, dir, "base.gguf", synthConfig(1))
	donorPath := writeSynth(t, dir, "donor.gguf", synthConfig(2))
	baseQ, donorQ := quantize(t, basePath, "q8_0"), quantize(t, donorPath, "q8_0")
	patched := map[string]bool{models.TensorTokenEmbd: true, models.TensorOutput: true}

	for _, tc := range []struct{ name, base, donor string }{
		{"f32", basePath, donorPath},
		{"q8_0", baseQ, donorQ},
		{"q8_0 base, f32 donor", baseQ, donorPath},
		{"f32 base, q8_0 donor", basePath, donorQ},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			res, err := models.Transplant(tc.base, tc.donor, out, models.TransplantOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Family != models.FamilyChatML || !reflect.DeepEqual(res.Tokens, models.FamilyChatML.TurnTokens()) || len(res.Tensors) != 2 {
				t.Fatalf("result %+v", res)
			}
			base, donor, of := openGGUF(t, tc.base), openGGUF(t, tc.donor), openGGUF(t, out)
			checkTransplant(t, of, base, patched, res.IDs, func(name string, id int) []byte {
				bt, _ := base.Tensor(name)
				dt, _ := donor.Tensor(name)
				row := rowOf(t, donor, name, id)
				if bt.Type == dt.Type {
					return row
				}
				// Across types: the donor row decoded and re-encoded in the base type.
				fl := make([]float32, bt.Shape[0])
				if err := models.DequantizeRow(dt.Type, row, fl); err != nil {
					t.Fatal(err)
				}
				enc := make([]byte, len(rowOf(t, base, name, id)))
				if err := models.QuantizeRow(bt.Type, fl, enc); err != nil {
					t.Fatal(err)
				}
				return enc
			})
			if v, _ := of.Value("spectrum.transplant.tokens"); !reflect.DeepEqual(v, res.Tokens) {
				t.Errorf("spectrum.transplant.tokens = %v", v)
			}
			// llama.cpp loads it, and the turn tokens' logits now follow the donor.
			lo := llamatest.Logits(t, out, nil, chatPrompt)
			lb := llamatest.Logits(t, tc.base, nil, chatPrompt)
			if reflect.DeepEqual(lo, lb) {
				t.Error("transplanted model's logits equal the base's")
			}
		})
	}
}

// TestTransplantTied: a tied donor gives its embedding rows to an untied base
// output; a tied base gets only embedding rows.
func TestTransplantTied(t *testing.T) {
	dir := t.TempDir()
	tiedCfg := synthConfig(3)
	tiedCfg.TiedOutput = true
	basePath := writeSynth(t, dir, "base.gguf", synthConfig(1))
	tied := writeSynth(t, dir, "tied.gguf", tiedCfg)

	out := filepath.Join(dir, "out1.gguf")
	res, err := models.Transplant(basePath, tied, out, models.TransplantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tensors) != 2 || res.Tensors[1].Source != models.TensorTokenEmbd || len(res.Notes) != 1 {
		t.Fatalf("result %+v", res)
	}
	donor, of := openGGUF(t, tied), openGGUF(t, out)
	checkTransplant(t, of, openGGUF(t, basePath), map[string]bool{models.TensorTokenEmbd: true, models.TensorOutput: true}, res.IDs,
		func(name string, id int) []byte { return rowOf(t, donor, models.TensorTokenEmbd, id) })

	out2 := filepath.Join(dir, "out2.gguf")
	res, err = models.Transplant(tied, basePath, out2, models.TransplantOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tensors) != 1 || len(res.Notes) != 1 {
		t.Fatalf("result %+v", res)
	}
	donor = openGGUF(t, basePath)
	checkTransplant(t, openGGUF(t, out2), openGGUF(t, tied), map[string]bool{models.TensorTokenEmbd: true}, res.IDs,
		func(name string, id int) []byte { return rowOf(t, donor, name, id) })
	llamatest.Logits(t, out2, nil, chatPrompt) // llama.cpp loads it and decodes the turn tokens
}

func TestTransplantErrors(t *testing.T) {
	dir := t.TempDir()
	basePath := writeSynth(t, dir, "base.gguf", synthConfig(1))
	// The same tokens in the other order: other ids.
	swapped := synthConfig(2)
	swapped.ExtraSpecialTokens = []string{"<|im_end|>", "<|im_start|>"}
	swappedPath := writeSynth(t, dir, "swapped.gguf", swapped)
	// No turn tokens at all.
	plain := synthConfig(2)
	plain.ExtraSpecialTokens, plain.EOS = nil, ""
	plainPath := writeSynth(t, dir, "plain.gguf", plain)
	wide := synthConfig(2)
	wide.NEmbd, wide.NFF = 96, 192
	widePath := writeSynth(t, dir, "wide.gguf", wide)
	qwen := synthConfig(2)
	qwen.Arch = "qwen2"
	qwenPath := writeSynth(t, dir, "qwen.gguf", qwen)
	out := filepath.Join(dir, "out.gguf")

	for _, tc := range []struct {
		name, base, donor, out string
		tokens                 []string
		want                   string
	}{
		{"mismatched vocabularies", basePath, swappedPath, out, nil, `token "<|im_start|>" is id`},
		{"token missing in base", plainPath, basePath, out, nil, `token "<|im_start|>" is not in the base's vocabulary`},
		{"no family in donor", basePath, plainPath, out, nil, "no known chat family"},
		{"explicit token missing in donor", basePath, plainPath, out, []string{"<|im_end|>"}, `token "<|im_end|>" is not in the donor's vocabulary`},
		{"shape mismatch", basePath, widePath, out, nil, "shape mismatch"},
		{"architecture mismatch", basePath, qwenPath, out, nil, "same architecture"},
		{"output is the base", basePath, swappedPath, basePath, nil, "is an input file"},
		{"output is the donor", basePath, swappedPath, swappedPath, nil, "is an input file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.Transplant(tc.base, tc.donor, tc.out, models.TransplantOptions{Tokens: tc.tokens})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Explicit tokens present in both: a plain text token works too.
	res, err := models.Transplant(basePath, swappedPath, out, models.TransplantOptions{Tokens: []string{"a", "b", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Tokens, []string{"a", "b"}) {
		t.Errorf("tokens %v", res.Tokens)
	}
}
