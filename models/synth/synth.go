// Package synth writes synthetic GGUF models with random weights that
// llama.cpp loads: exactly the tensor names, shapes and metadata keys its
// model loader expects for the llama, qwen2, qwen3 and gemma3 architectures
// (src/llama-model.cpp, src/llama-arch.cpp). Tests and benchmarks use them to
// exercise real model shapes, vocabularies and chat tokens without shipping
// pretrained weights.
//
// Weights are N(0, 0.02²) so that logits stay small and sampling is not
// degenerate; norm weights are 1 and biases 0. Data is generated while the file
// is written, so even the 1B preset never sits in memory.
package synth

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/spectrumkit/spectrum/models"
)

// Config describes a synthetic model.
type Config struct {
	// Context, if set, stops Write between tensors when it ends.
	Context context.Context
	Arch    string // "llama", "qwen2", "qwen3" or "gemma3"
	Name    string // general.name; "" gives "synth-<arch>"
	NEmbd   int    // embedding length
	NFF     int    // feed-forward length
	NLayer  int
	NHead   int
	NHeadKV int // 0 means NHead
	HeadDim int // 0 means NEmbd/NHead; written as attention.key_length/value_length when it differs (always for gemma3)
	NCtx    int // context_length; 0 means 2048

	// VocabFrom is a GGUF file whose tokenizer.* metadata is copied (for
	// example ../shared/models/stories260K.gguf). Empty: a synthetic SPM
	// vocabulary of <unk>, <s>, </s>, the 256 byte tokens and printable ASCII.
	VocabFrom string
	// ExtraSpecialTokens are appended to the vocabulary as CONTROL tokens (a
	// token already present is just marked CONTROL), e.g. a family's TurnTokens.
	ExtraSpecialTokens []string
	// NVocab pads the vocabulary with unreachable "<synth_N>" tokens up to this
	// size; 0 keeps it as is. It is an error if it is smaller than the vocabulary.
	NVocab int
	// EOS, if set, is the text of the token to use as tokenizer.ggml.eos_token_id.
	EOS string
	// ChatTemplate, if set, is written as tokenizer.chat_template.
	ChatTemplate string

	Seed       uint64
	TiedOutput bool    // no output.weight: llama.cpp reuses token_embd
	Std        float32 // weight standard deviation; 0 means 0.02
	// F16 stores the 2-D weight matrices as F16 (norms and biases stay F32),
	// halving the size of large presets.
	F16 bool

	RopeFreqBase  float32 // 0: 10000 (llama), 1e6 (qwen2, qwen3, gemma3)
	NormEps       float32 // 0: 1e-5 (llama), 1e-6 (qwen2, qwen3, gemma3)
	SlidingWindow int     // gemma3 only; 0 means 512, -1 writes 0 (no sliding window)
}

// Presets are named model shapes; see Preset.
var Presets = []string{"tiny", "135M", "1B"}

// Preset returns a named configuration with a synthetic vocabulary:
//   - "tiny": llama, 2 layers, n_embd 64, 4/2 heads, FFN 128, vocab 512;
//   - "135M": SmolLM2-135M's shape: llama, 30 layers, n_embd 576, 9/3 heads,
//     FFN 1536, vocab 49152, tied output, rope base 100000;
//   - "1B": Llama-3.2-1B's shape: llama, 16 layers, n_embd 2048, 32/8 heads,
//     FFN 8192, vocab 128256, tied output, rope base 500000 (4.9 GB in F32; set F16).
//
// Callers may change any field (VocabFrom, ExtraSpecialTokens, ...) afterwards.
func Preset(name string) (Config, error) {
	switch name {
	case "tiny":
		return Config{Arch: "llama", NEmbd: 64, NFF: 128, NLayer: 2, NHead: 4, NHeadKV: 2, NCtx: 512, NVocab: 512}, nil
	case "135M":
		return Config{Arch: "llama", Name: "synth-135M", NEmbd: 576, NFF: 1536, NLayer: 30, NHead: 9, NHeadKV: 3,
			NCtx: 2048, NVocab: 49152, TiedOutput: true, RopeFreqBase: 100000}, nil
	case "1B":
		return Config{Arch: "llama", Name: "synth-1B", NEmbd: 2048, NFF: 8192, NLayer: 16, NHead: 32, NHeadKV: 8,
			NCtx: 2048, NVocab: 128256, TiedOutput: true, RopeFreqBase: 500000}, nil
	}
	return Config{}, fmt.Errorf("synth: unknown preset %q (known: %v)", name, Presets)
}

// tensor is one tensor to write: its name, shape and how to fill it.
type tensor struct {
	name  string
	shape []uint64
	fill  float32 // constant value when random is false
	rand  bool
}

// normalize applies defaults and validates the configuration.
func (c Config) normalize() (Config, error) {
	switch c.Arch {
	case "llama", "qwen2", "qwen3", "gemma3":
	default:
		return c, fmt.Errorf("synth: unsupported architecture %q (want llama, qwen2, qwen3 or gemma3)", c.Arch)
	}
	if c.NHeadKV == 0 {
		c.NHeadKV = c.NHead
	}
	if c.NCtx == 0 {
		c.NCtx = 2048
	}
	const maxDim = 1 << 20
	for _, f := range []struct {
		name string
		v    int
	}{{"NEmbd", c.NEmbd}, {"NFF", c.NFF}, {"NLayer", c.NLayer}, {"NHead", c.NHead}, {"NHeadKV", c.NHeadKV}, {"NCtx", c.NCtx}} {
		if f.v <= 0 || f.v > maxDim {
			return c, fmt.Errorf("synth: %s = %d, want 1 to %d", f.name, f.v, maxDim)
		}
	}
	if c.NLayer > 1024 {
		return c, fmt.Errorf("synth: NLayer = %d, want at most 1024", c.NLayer)
	}
	if c.NHead%c.NHeadKV != 0 {
		return c, fmt.Errorf("synth: NHead %d is not a multiple of NHeadKV %d", c.NHead, c.NHeadKV)
	}
	if c.HeadDim == 0 {
		if c.NEmbd%c.NHead != 0 {
			return c, fmt.Errorf("synth: NEmbd %d is not a multiple of NHead %d; set HeadDim", c.NEmbd, c.NHead)
		}
		c.HeadDim = c.NEmbd / c.NHead
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim > maxDim {
		return c, fmt.Errorf("synth: head dimension %d must be even and positive (RoPE rotates pairs)", c.HeadDim)
	}
	if c.Arch == "qwen2" && c.HeadDim*c.NHead != c.NEmbd {
		return c, fmt.Errorf("synth: qwen2 needs HeadDim*NHead = NEmbd (llama.cpp makes attn_q %d×%d), got %d*%d", c.NEmbd, c.NEmbd, c.HeadDim, c.NHead)
	}
	if c.Arch == "llama" && c.HeadDim*c.NHead != c.NEmbd {
		// llama.cpp derives the llama head size as n_embd/n_head and requires n_rot to match it.
		return c, fmt.Errorf("synth: llama needs HeadDim*NHead = NEmbd, got %d*%d != %d", c.HeadDim, c.NHead, c.NEmbd)
	}
	if c.Std == 0 {
		c.Std = 0.02
	}
	if c.Std < 0 || math.IsNaN(float64(c.Std)) || math.IsInf(float64(c.Std), 0) {
		return c, fmt.Errorf("synth: Std = %v, want a positive number", c.Std)
	}
	if c.Name == "" {
		c.Name = "synth-" + c.Arch
	}
	if c.RopeFreqBase == 0 {
		c.RopeFreqBase = 10000
		if c.Arch != "llama" {
			c.RopeFreqBase = 1e6
		}
	}
	if c.NormEps == 0 {
		c.NormEps = 1e-5
		if c.Arch != "llama" {
			c.NormEps = 1e-6
		}
	}
	if c.SlidingWindow == 0 {
		c.SlidingWindow = 512
	}
	if c.NVocab < 0 {
		return c, fmt.Errorf("synth: NVocab = %d, want ≥ 0", c.NVocab)
	}
	return c, nil
}

// tensors lists the model's tensors as llama.cpp's loader creates them for the arch.
func (c Config) tensors(nVocab int) []tensor {
	e, ff, v := uint64(c.NEmbd), uint64(c.NFF), uint64(nVocab)
	q, kv, hd := uint64(c.HeadDim*c.NHead), uint64(c.HeadDim*c.NHeadKV), uint64(c.HeadDim)
	w := func(name string, shape ...uint64) tensor { return tensor{name: name, shape: shape, rand: true} }
	one := func(name string, n uint64) tensor { return tensor{name: name, shape: []uint64{n}, fill: 1} }
	zero := func(name string, n uint64) tensor { return tensor{name: name, shape: []uint64{n}} }

	ts := []tensor{w("token_embd.weight", e, v)}
	for i := 0; i < c.NLayer; i++ {
		b := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			one(b+"attn_norm.weight", e),
			w(b+"attn_q.weight", e, q),
			w(b+"attn_k.weight", e, kv),
			w(b+"attn_v.weight", e, kv),
			w(b+"attn_output.weight", q, e),
		)
		switch c.Arch {
		case "qwen2":
			ts = append(ts, zero(b+"attn_q.bias", q), zero(b+"attn_k.bias", kv), zero(b+"attn_v.bias", kv))
		case "qwen3":
			ts = append(ts, one(b+"attn_q_norm.weight", hd), one(b+"attn_k_norm.weight", hd))
		case "gemma3":
			ts = append(ts, one(b+"attn_q_norm.weight", hd), one(b+"attn_k_norm.weight", hd), one(b+"post_attention_norm.weight", e))
		}
		ts = append(ts,
			one(b+"ffn_norm.weight", e),
			w(b+"ffn_gate.weight", e, ff),
			w(b+"ffn_up.weight", e, ff),
			w(b+"ffn_down.weight", ff, e),
		)
		if c.Arch == "gemma3" {
			ts = append(ts, one(b+"post_ffw_norm.weight", e))
		}
	}
	ts = append(ts, one("output_norm.weight", e))
	if !c.TiedOutput {
		ts = append(ts, w("output.weight", e, v))
	}
	return ts
}

// Write writes the synthetic model to path (atomically; never over VocabFrom).
func Write(path string, cfg Config) error {
	c, err := cfg.normalize()
	if err != nil {
		return err
	}
	w := models.NewWriter()
	arch := c.Arch
	set := func(key string, v any) {
		if err == nil {
			err = w.Set(key, v)
		}
	}
	fileType := uint32(0) // LLAMA_FTYPE_ALL_F32
	if c.F16 {
		fileType = 1 // LLAMA_FTYPE_MOSTLY_F16
	}
	set("general.architecture", arch)
	set("general.name", c.Name)
	set("general.file_type", fileType)
	set(arch+".context_length", uint32(c.NCtx))
	set(arch+".embedding_length", uint32(c.NEmbd))
	set(arch+".feed_forward_length", uint32(c.NFF))
	set(arch+".block_count", uint32(c.NLayer))
	set(arch+".attention.head_count", uint32(c.NHead))
	set(arch+".attention.head_count_kv", uint32(c.NHeadKV))
	set(arch+".attention.layer_norm_rms_epsilon", c.NormEps)
	set(arch+".rope.freq_base", c.RopeFreqBase)
	set(arch+".rope.dimension_count", uint32(c.HeadDim))
	if arch == "gemma3" || c.HeadDim*c.NHead != c.NEmbd {
		set(arch+".attention.key_length", uint32(c.HeadDim))
		set(arch+".attention.value_length", uint32(c.HeadDim))
	}
	if arch == "gemma3" {
		set(arch+".attention.sliding_window", uint32(max(c.SlidingWindow, 0)))
	}
	if err != nil {
		return err
	}
	nVocab, err := setVocab(w, c)
	if err != nil {
		return err
	}

	for i, t := range c.tensors(nVocab) {
		typ := models.TypeF32
		if c.F16 && t.rand && len(t.shape) == 2 {
			typ = models.TypeF16
		}
		t := t
		seed := tensorSeed(c.Seed, i, t.name)
		if err := w.AddFunc(t.name, typ, t.shape, func(dst io.Writer) error {
			if c.Context != nil && c.Context.Err() != nil {
				return c.Context.Err() // stopped between tensors; the partial file is removed
			}
			return fill(dst, t, typ, c.Std, seed)
		}); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	if c.VocabFrom != "" {
		w.Protect(c.VocabFrom)
	}
	return w.WriteFile(path)
}

// tensorSeed derives an independent stream per tensor from the model seed.
func tensorSeed(seed uint64, i int, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() ^ uint64(i)*0x9e3779b97f4a7c15 ^ seed
}

// fill writes a tensor's data in chunks: N(0, std²) for weights, else a constant.
func fill(dst io.Writer, t tensor, typ models.GGMLType, std float32, seed uint64) error {
	n := uint64(1)
	for _, d := range t.shape {
		n *= d
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	const chunk = 1 << 14
	buf := make([]byte, 4*chunk)
	for n > 0 {
		k := min(n, chunk)
		b := buf[:0]
		for j := uint64(0); j < k; j++ {
			v := t.fill
			if t.rand {
				v = float32(r.NormFloat64()) * std
			}
			if typ == models.TypeF16 {
				b = binary.LittleEndian.AppendUint16(b, models.F32ToF16(v))
			} else {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
			}
		}
		if _, err := dst.Write(b); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// setVocab writes the tokenizer metadata and returns the vocabulary size.
func setVocab(w *models.Writer, c Config) (int, error) {
	var (
		tokens []string
		scores []float32
		types  []int32
	)
	if c.VocabFrom != "" {
		src, err := models.Open(c.VocabFrom)
		if err != nil {
			return 0, fmt.Errorf("synth: vocabulary: %w", err)
		}
		defer src.Close()
		if err := w.CopyMetadata(src, "tokenizer."); err != nil {
			return 0, fmt.Errorf("synth: %w", err)
		}
		if tokens, err = src.Strings("tokenizer.ggml.tokens"); err != nil {
			return 0, fmt.Errorf("synth: vocabulary: %w", err)
		}
		tokens = slices.Clone(tokens)
		if v, ok := src.Value("tokenizer.ggml.scores"); ok {
			s, isF32 := v.([]float32)
			if !isF32 || len(s) != len(tokens) {
				return 0, fmt.Errorf("synth: %s: tokenizer.ggml.scores is not %d float32 values", c.VocabFrom, len(tokens))
			}
			scores = slices.Clone(s)
		}
		if v, ok := src.Value("tokenizer.ggml.token_type"); ok {
			s, isI32 := v.([]int32)
			if !isI32 || len(s) != len(tokens) {
				return 0, fmt.Errorf("synth: %s: tokenizer.ggml.token_type is not %d int32 values", c.VocabFrom, len(tokens))
			}
			types = slices.Clone(s)
		} else {
			types = slices.Repeat([]int32{models.TokenTypeNormal}, len(tokens))
		}
	} else {
		tokens, scores, types = baseVocab()
		for _, kv := range []models.KV{
			{Key: "tokenizer.ggml.model", Value: "llama"},
			{Key: "tokenizer.ggml.unknown_token_id", Value: uint32(0)},
			{Key: "tokenizer.ggml.bos_token_id", Value: uint32(1)},
			{Key: "tokenizer.ggml.eos_token_id", Value: uint32(2)},
			{Key: "tokenizer.ggml.add_bos_token", Value: true},
			{Key: "tokenizer.ggml.add_eos_token", Value: false},
		} {
			if err := w.Set(kv.Key, kv.Value); err != nil {
				return 0, fmt.Errorf("synth: %w", err)
			}
		}
	}

	index := make(map[string]int, len(tokens))
	for i := len(tokens) - 1; i >= 0; i-- {
		index[tokens[i]] = i
	}
	for _, s := range c.ExtraSpecialTokens {
		if s == "" {
			return 0, fmt.Errorf("synth: empty extra special token")
		}
		if id, ok := index[s]; ok {
			types[id] = models.TokenTypeControl
			continue
		}
		index[s] = len(tokens)
		tokens = append(tokens, s)
		types = append(types, models.TokenTypeControl)
		if scores != nil {
			scores = append(scores, 0)
		}
	}
	if c.NVocab > 0 {
		if c.NVocab < len(tokens) {
			return 0, fmt.Errorf("synth: NVocab %d is smaller than the vocabulary's %d tokens", c.NVocab, len(tokens))
		}
		for i := len(tokens); i < c.NVocab; i++ {
			// Unreachable by tokenization (no merge path spells them) but valid
			// ids with a printable text, so sampling them is harmless.
			tokens = append(tokens, fmt.Sprintf("<synth_%d>", i))
			types = append(types, models.TokenTypeNormal)
			if scores != nil {
				scores = append(scores, -1e4)
			}
		}
	}
	kvs := []models.KV{{Key: "tokenizer.ggml.tokens", Value: tokens}, {Key: "tokenizer.ggml.token_type", Value: types}}
	if scores != nil {
		kvs = append(kvs, models.KV{Key: "tokenizer.ggml.scores", Value: scores})
	}
	if c.EOS != "" {
		id, ok := index[c.EOS]
		if !ok {
			return 0, fmt.Errorf("synth: EOS token %q is not in the vocabulary", c.EOS)
		}
		kvs = append(kvs, models.KV{Key: "tokenizer.ggml.eos_token_id", Value: uint32(id)})
	}
	if c.ChatTemplate != "" {
		kvs = append(kvs, models.KV{Key: "tokenizer.chat_template", Value: c.ChatTemplate})
	}
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return 0, fmt.Errorf("synth: %w", err)
		}
	}
	return len(tokens), nil
}

// baseVocab is a minimal SentencePiece vocabulary llama.cpp loads: <unk>, <s>,
// </s>, the 256 byte-fallback tokens (it looks up "<0x0A>" for newlines) and
// one token per printable ASCII character, with "▁" for the space.
func baseVocab() ([]string, []float32, []int32) {
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{models.TokenTypeUnknown, models.TokenTypeControl, models.TokenTypeControl}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, models.TokenTypeByte)
	}
	tokens = append(tokens, "\u2581")
	types = append(types, models.TokenTypeNormal)
	for ch := byte('!'); ch <= '~'; ch++ {
		tokens = append(tokens, string(ch))
		types = append(types, models.TokenTypeNormal)
	}
	scores := make([]float32, len(tokens))
	for i := 259; i < len(tokens); i++ {
		scores[i] = -float32(i - 259)
	}
	return tokens, scores, types
}
