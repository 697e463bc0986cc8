package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/models"
)

const storiesGGUF = "../../../shared/models/stories260K.gguf"

// wantTensors spells out, independently of synth.go, the tensors llama.cpp's
// loader requires per architecture (name → shape in ggml order).
func wantTensors(arch string, e, ff, layers, q, kv, hd, vocab uint64, tied bool) map[string][]uint64 {
	m := map[string][]uint64{"token_embd.weight": {e, vocab}, "output_norm.weight": {e}}
	if !tied {
		m["output.weight"] = []uint64{e, vocab}
	}
	for i := uint64(0); i < layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		for k, v := range map[string][]uint64{
			"attn_norm.weight": {e}, "attn_q.weight": {e, q}, "attn_k.weight": {e, kv}, "attn_v.weight": {e, kv},
			"attn_output.weight": {q, e}, "ffn_norm.weight": {e}, "ffn_gate.weight": {e, ff}, "ffn_up.weight": {e, ff},
			"ffn_down.weight": {ff, e},
		} {
			m[p+k] = v
		}
		switch arch {
		case "qwen2":
			m[p+"attn_q.bias"], m[p+"attn_k.bias"], m[p+"attn_v.bias"] = []uint64{q}, []uint64{kv}, []uint64{kv}
		case "qwen3":
			m[p+"attn_q_norm.weight"], m[p+"attn_k_norm.weight"] = []uint64{hd}, []uint64{hd}
		case "gemma3":
			m[p+"attn_q_norm.weight"], m[p+"attn_k_norm.weight"] = []uint64{hd}, []uint64{hd}
			m[p+"post_attention_norm.weight"], m[p+"post_ffw_norm.weight"] = []uint64{e}, []uint64{e}
		}
	}
	return m
}

func TestWriteArchitectures(t *testing.T) {
	if _, err := os.Stat(storiesGGUF); err != nil {
		t.Skip("shared stories260K.gguf not available")
	}
	tests := []struct {
		cfg     Config
		hd      uint64
		keys    map[string]any
		absent  []string
		family  models.Family
		special []string
	}{
		{
			cfg: Config{Arch: "llama", NEmbd: 64, NFF: 96, NLayer: 2, NHead: 4, NHeadKV: 2, VocabFrom: storiesGGUF,
				ExtraSpecialTokens: models.FamilyLlama3.TurnTokens(), EOS: "<|eot_id|>"},
			hd:     16,
			keys:   map[string]any{"llama.rope.dimension_count": uint32(16), "llama.attention.layer_norm_rms_epsilon": float32(1e-5), "llama.context_length": uint32(2048)},
			absent: []string{"llama.attention.key_length"},
			family: models.FamilyLlama3,
		},
		{
			cfg: Config{Arch: "qwen2", NEmbd: 64, NFF: 96, NLayer: 2, NHead: 4, NHeadKV: 2, NCtx: 256, VocabFrom: storiesGGUF,
				ExtraSpecialTokens: models.FamilyChatML.TurnTokens(), EOS: "<|im_end|>", TiedOutput: true},
			hd:     16,
			keys:   map[string]any{"qwen2.rope.freq_base": float32(1e6), "qwen2.context_length": uint32(256)},
			family: models.FamilyChatML,
		},
		{
			cfg: Config{Arch: "qwen3", NEmbd: 64, NFF: 96, NLayer: 1, NHead: 4, NHeadKV: 1, HeadDim: 32, VocabFrom: storiesGGUF,
				ExtraSpecialTokens: models.FamilyChatML.TurnTokens()},
			hd:     32,
			keys:   map[string]any{"qwen3.attention.key_length": uint32(32), "qwen3.attention.value_length": uint32(32), "qwen3.attention.head_count_kv": uint32(1)},
			family: models.FamilyChatML,
		},
		{
			cfg: Config{Arch: "gemma3", NEmbd: 64, NFF: 96, NLayer: 2, NHead: 2, NHeadKV: 1, HeadDim: 32, VocabFrom: storiesGGUF,
				ExtraSpecialTokens: models.FamilyGemma3.TurnTokens(), EOS: "<end_of_turn>", TiedOutput: true,
				ChatTemplate: "{{ bos_token }}<start_of_turn>user\n"},
			hd:     32,
			keys:   map[string]any{"gemma3.attention.sliding_window": uint32(512), "gemma3.attention.key_length": uint32(32), "gemma3.attention.layer_norm_rms_epsilon": float32(1e-6)},
			family: models.FamilyGemma3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Arch, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.cfg.Arch+".gguf")
			if err := Write(path, tt.cfg); err != nil {
				t.Fatal(err)
			}
			f, err := models.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c := tt.cfg
			if c.NHeadKV == 0 {
				c.NHeadKV = c.NHead
			}
			vocab := uint64(512 + len(c.ExtraSpecialTokens))
			want := wantTensors(c.Arch, uint64(c.NEmbd), uint64(c.NFF), uint64(c.NLayer), tt.hd*uint64(c.NHead), tt.hd*uint64(c.NHeadKV), tt.hd, vocab, c.TiedOutput)
			got := map[string][]uint64{}
			for _, ti := range f.Tensors {
				got[ti.Name] = ti.Shape
				if ti.Type != models.TypeF32 {
					t.Errorf("%s is %s, want F32", ti.Name, ti.Type)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("tensors differ:\n got %v\nwant %v", sortedKeys(got), sortedKeys(want))
			}
			for k, v := range tt.keys {
				if gv, _ := f.Value(k); !reflect.DeepEqual(gv, v) {
					t.Errorf("%s = %v (%T), want %v (%T)", k, gv, gv, v, v)
				}
			}
			for _, k := range tt.absent {
				if f.Has(k) {
					t.Errorf("unexpected key %s", k)
				}
			}
			for _, k := range []string{"general.architecture", ".embedding_length", ".feed_forward_length", ".block_count", ".attention.head_count", ".attention.head_count_kv", ".rope.freq_base", ".attention.layer_norm_rms_epsilon"} {
				if strings.HasPrefix(k, ".") {
					k = c.Arch + k
				}
				if !f.Has(k) {
					t.Errorf("missing key %s", k)
				}
			}
			in := models.InfoOf(f)
			if in.Family != tt.family {
				t.Errorf("family %q, want %q", in.Family, tt.family)
			}
			if in.VocabSize != int(vocab) || in.BOS != 1 || in.Architecture != c.Arch {
				t.Errorf("info: vocab %d bos %d arch %s", in.VocabSize, in.BOS, in.Architecture)
			}
			if c.EOS != "" {
				if id, _ := in.TokenID(c.EOS); in.EOS != id {
					t.Errorf("EOS %d, want %d (%s)", in.EOS, id, c.EOS)
				}
			} else if in.EOS != 2 {
				t.Errorf("EOS %d, want 2 from the source vocabulary", in.EOS)
			}
			checkWeights(t, f)
		})
	}
}

// checkWeights checks norms are 1, biases 0 and weights have std ≈ 0.02.
func checkWeights(t *testing.T, f *models.File) {
	t.Helper()
	for _, ti := range f.Tensors {
		data, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		var sum, sq float64
		n := len(data) / 4
		for i := 0; i < n; i++ {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
			sum += v
			sq += v * v
		}
		mean, std := sum/float64(n), math.Sqrt(sq/float64(n)-(sum/float64(n))*(sum/float64(n)))
		switch {
		case strings.HasSuffix(ti.Name, "norm.weight"):
			if mean != 1 || std != 0 {
				t.Errorf("%s: mean %v std %v, want all ones", ti.Name, mean, std)
			}
		case strings.HasSuffix(ti.Name, ".bias"):
			if sq != 0 {
				t.Errorf("%s is not zero", ti.Name)
			}
		case n >= 1000:
			if math.Abs(mean) > 0.005 || math.Abs(std-0.02) > 0.004 {
				t.Errorf("%s: mean %v std %v, want ≈ N(0, 0.02²)", ti.Name, mean, std)
			}
		}
	}
}

func sortedKeys(m map[string][]uint64) []string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprint(k, v))
	}
	sort.Strings(ks)
	return ks
}

func TestSyntheticVocabAndDeterminism(t *testing.T) {
	cfg, err := Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExtraSpecialTokens = models.FamilyChatML.TurnTokens()
	cfg.Seed = 7
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf"), filepath.Join(dir, "c.gguf")
	if err := Write(a, cfg); err != nil {
		t.Fatal(err)
	}
	if err := Write(b, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Seed = 8
	if err := Write(c, cfg); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	dc, _ := os.ReadFile(c)
	if !bytes.Equal(da, db) {
		t.Error("same seed gave different files")
	}
	if bytes.Equal(da, dc) {
		t.Error("different seeds gave the same file")
	}
	in, err := models.ReadInfo(a)
	if err != nil {
		t.Fatal(err)
	}
	if in.VocabSize != 512 || in.TokenizerModel != "llama" || in.BOS != 1 || in.EOS != 2 || in.UNK != 0 || !in.AddBOS {
		t.Errorf("synthetic vocab info %+v", in)
	}
	for text, typ := range map[string]int32{"<0x0A>": models.TokenTypeByte, "\u2581": models.TokenTypeNormal, "a": models.TokenTypeNormal,
		"<|im_start|>": models.TokenTypeControl, "<synth_511>": models.TokenTypeNormal} {
		id, ok := in.TokenID(text)
		if !ok || in.TokenTypes[id] != typ {
			t.Errorf("token %q: id %d found %v type %v, want type %d", text, id, ok, in.TokenTypes, typ)
		}
	}
	if in.Family != models.FamilyChatML {
		t.Errorf("family %q", in.Family)
	}
}

func TestPresets(t *testing.T) {
	tests := []struct {
		name                             string
		layers, embd, heads, kv, ff, voc int
		params                           uint64
	}{
		{"135M", 30, 576, 9, 3, 1536, 49152, 134515008},
		{"1B", 16, 2048, 32, 8, 8192, 128256, 1235814400},
	}
	for _, tt := range tests {
		c, err := Preset(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if c.NLayer != tt.layers || c.NEmbd != tt.embd || c.NHead != tt.heads || c.NHeadKV != tt.kv || c.NFF != tt.ff || c.NVocab != tt.voc || !c.TiedOutput {
			t.Errorf("%s: %+v", tt.name, c)
		}
		n, err := c.normalize()
		if err != nil {
			t.Fatal(err)
		}
		var params uint64
		for _, ts := range n.tensors(c.NVocab) {
			p := uint64(1)
			for _, d := range ts.shape {
				p *= d
			}
			params += p
		}
		if params != tt.params {
			t.Errorf("%s: %d parameters, want %d", tt.name, params, tt.params)
		}
	}
	if _, err := Preset("7B"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	ok := Config{Arch: "llama", NEmbd: 32, NFF: 64, NLayer: 1, NHead: 2}
	tests := []struct {
		name string
		mod  func(*Config)
		msg  string
	}{
		{"arch", func(c *Config) { c.Arch = "mamba" }, `unsupported architecture "mamba"`},
		{"embd", func(c *Config) { c.NEmbd = 0 }, "NEmbd = 0"},
		{"heads", func(c *Config) { c.NHeadKV = 3 }, "not a multiple of NHeadKV 3"},
		{"head dim", func(c *Config) { c.NEmbd = 33 }, "not a multiple of NHead"},
		{"odd head dim", func(c *Config) { c.Arch, c.HeadDim = "qwen3", 15 }, "must be even"},
		{"llama head dim", func(c *Config) { c.HeadDim = 8 }, "llama needs HeadDim*NHead = NEmbd"},
		{"vocab", func(c *Config) { c.NVocab = 10 }, "smaller than the vocabulary"},
		{"eos", func(c *Config) { c.EOS = "<nope>" }, `EOS token "<nope>" is not in the vocabulary`},
		{"vocab file", func(c *Config) { c.VocabFrom = filepath.Join(dir, "missing.gguf") }, "missing.gguf"},
		{"overwrite vocab", func(c *Config) { c.VocabFrom = storiesGGUF }, "also an input"},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		out := filepath.Join(dir, "out.gguf")
		if tt.name == "overwrite vocab" {
			if _, err := os.Stat(storiesGGUF); err != nil {
				continue
			}
			out = storiesGGUF
		}
		err := Write(out, c)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.msg)
		}
	}
}

func TestF16Weights(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f16.gguf")
	cfg := Config{Arch: "qwen2", NEmbd: 32, NFF: 64, NLayer: 1, NHead: 2, F16: true}
	if err := Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ti := range f.Tensors {
		want := models.TypeF32
		if len(ti.Shape) == 2 {
			want = models.TypeF16
		}
		if ti.Type != want {
			t.Errorf("%s is %s, want %s", ti.Name, ti.Type, want)
		}
	}
	if ft, _ := f.Uint("general.file_type"); ft != 1 {
		t.Errorf("file_type %d, want 1 (MOSTLY_F16)", ft)
	}
}
