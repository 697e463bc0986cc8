package models

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Llama2cConfig is the header of a legacy llama2.c checkpoint (7 int32 values).
type Llama2cConfig struct {
	Dim       int // embedding length
	HiddenDim int // feed-forward length
	NLayers   int
	NHeads    int
	NKVHeads  int
	VocabSize int  // absolute value of the header field
	SeqLen    int  // training context (llama.cpp's converter writes its own context length instead)
	Shared    bool // the header's vocab size was positive: the classifier is the embedding
}

// HeadSize is Dim/NHeads.
func (c Llama2cConfig) HeadSize() int { return c.Dim / c.NHeads }

// KVDim is the width of the K and V projections.
func (c Llama2cConfig) KVDim() int { return c.Dim * c.NKVHeads / c.NHeads }

// Llama2cOptions tune ConvertLlama2c; the zero value gives llama.cpp's output.
type Llama2cOptions struct {
	// ContextLength written as llama.context_length; 0 means 2048, which is what
	// llama.cpp's convert-llama2c-to-ggml writes whatever the checkpoint's seq_len.
	ContextLength uint32
	// Name written as general.name; "" means "llama", as llama.cpp writes.
	Name string
}

// llama2c header limits: far above any llama2.c model, low enough that sizes
// computed from them cannot overflow.
const llama2cMaxDim = 1 << 20

// llama2cTensor is one weight array of the checkpoint, in file order.
type llama2cTensor struct {
	name   string // GGUF name; "" for the unused RoPE tables
	shape  []uint64
	offset int64 // byte offset in the checkpoint
}

// layout returns the checkpoint's arrays in file order and the exact file size.
func (c Llama2cConfig) layout() ([]llama2cTensor, int64) {
	d, h, kv, v := uint64(c.Dim), uint64(c.HiddenDim), uint64(c.KVDim()), uint64(c.VocabSize)
	var out []llama2cTensor
	off := int64(28)
	add := func(name string, shape ...uint64) {
		out = append(out, llama2cTensor{name: name, shape: shape, offset: off})
		n := int64(4)
		for _, s := range shape {
			n *= int64(s)
		}
		off += n
	}
	perLayer := func(name string, shape ...uint64) {
		for l := 0; l < c.NLayers; l++ {
			add(fmt.Sprintf("blk.%d.%s.weight", l, name), shape...)
		}
	}
	add("token_embd.weight", d, v)
	perLayer("attn_norm", d)
	perLayer("attn_q", d, d)
	perLayer("attn_k", d, kv)
	perLayer("attn_v", d, kv)
	perLayer("attn_output", d, d)
	perLayer("ffn_norm", d)
	perLayer("ffn_gate", d, h) // w1
	perLayer("ffn_down", h, d) // w2
	perLayer("ffn_up", d, h)   // w3
	add("output_norm.weight", d)
	add("", uint64(c.SeqLen), uint64(c.HeadSize()/2)) // freq_cis_real
	add("", uint64(c.SeqLen), uint64(c.HeadSize()/2)) // freq_cis_imag
	if !c.Shared {
		add("output.weight", d, v)
	}
	return out, off
}

// ReadLlama2cConfig reads and validates a legacy llama2.c checkpoint header and
// checks that the file has exactly the size the header implies.
func ReadLlama2cConfig(r io.ReaderAt, size int64, path string) (Llama2cConfig, error) {
	var c Llama2cConfig
	var hdr [28]byte
	if size < int64(len(hdr)) {
		return c, fmt.Errorf("models: %s: truncated llama2.c checkpoint: %d bytes, the header alone needs 28", path, size)
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return c, fmt.Errorf("models: %s: reading the llama2.c header: %w", path, err)
	}
	var f [7]int32
	for i := range f {
		f[i] = int32(binary.LittleEndian.Uint32(hdr[4*i:]))
	}
	names := [7]string{"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"}
	for i, v := range f {
		if v == 0 || v == math.MinInt32 || (v < 0 && i != 5) || abs32(v) > llama2cMaxDim {
			return c, fmt.Errorf("models: %s: not a llama2.c checkpoint: header field %s = %d", path, names[i], v)
		}
	}
	c = Llama2cConfig{Dim: int(f[0]), HiddenDim: int(f[1]), NLayers: int(f[2]), NHeads: int(f[3]), NKVHeads: int(f[4]),
		VocabSize: int(abs32(f[5])), SeqLen: int(f[6]), Shared: f[5] > 0}
	switch {
	case c.NLayers > 4096:
		return c, fmt.Errorf("models: %s: not a llama2.c checkpoint: n_layers = %d", path, c.NLayers)
	case c.Dim%c.NHeads != 0 || c.HeadSize()%2 != 0:
		return c, fmt.Errorf("models: %s: llama2.c header: dim %d is not n_heads %d times an even head size", path, c.Dim, c.NHeads)
	case c.NHeads%c.NKVHeads != 0:
		return c, fmt.Errorf("models: %s: llama2.c header: n_heads %d is not a multiple of n_kv_heads %d", path, c.NHeads, c.NKVHeads)
	}
	_, want := c.layout()
	if size != want {
		what := "truncated"
		if size > want {
			what = "oversized"
		}
		return c, fmt.Errorf("models: %s: %s llama2.c checkpoint: the header (dim %d, hidden %d, %d layers, %d/%d heads, vocab %d, seq_len %d, shared classifier %v) implies %d bytes but the file has %d",
			path, what, c.Dim, c.HiddenDim, c.NLayers, c.NHeads, c.NKVHeads, c.VocabSize, c.SeqLen, c.Shared, want, size)
	}
	return c, nil
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// Llama2cVocab is a llama2.c tokenizer converted to llama.cpp's SPM conventions.
type Llama2cVocab struct {
	Tokens []string
	Scores []float32
	Types  []int32
}

// Token types of tokenizer.ggml.token_type (llama_token_type).
const (
	TokenTypeNormal      = 1
	TokenTypeUnknown     = 2
	TokenTypeControl     = 3
	TokenTypeUserDefined = 4
	TokenTypeUnused      = 5
	TokenTypeByte        = 6
)

// ReadLlama2cTokenizer reads n entries of a llama2.c tokenizer.bin and maps them
// as llama.cpp's converter does: id 0 is "<unk>", 1 "<s>", 2 "</s>", "<0xNN>"
// pieces are byte tokens, and spaces become "▁".
func ReadLlama2cTokenizer(r io.Reader, n int, path string) (*Llama2cVocab, error) {
	br := bufio.NewReader(r)
	var buf [8]byte
	if _, err := io.ReadFull(br, buf[:4]); err != nil {
		return nil, fmt.Errorf("models: %s: truncated llama2.c tokenizer: no max_token_length header", path)
	}
	maxLen := int32(binary.LittleEndian.Uint32(buf[:4]))
	if maxLen <= 0 || maxLen > 1<<16 {
		return nil, fmt.Errorf("models: %s: not a llama2.c tokenizer: max_token_length = %d", path, maxLen)
	}
	v := &Llama2cVocab{Tokens: make([]string, n), Scores: make([]float32, n), Types: make([]int32, n)}
	piece := make([]byte, maxLen)
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(br, buf[:8]); err != nil {
			return nil, fmt.Errorf("models: %s: truncated llama2.c tokenizer: it ends at token %d but the checkpoint has %d", path, i, n)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(buf[:4]))
		l := int32(binary.LittleEndian.Uint32(buf[4:8]))
		if l < 0 || l > maxLen {
			return nil, fmt.Errorf("models: %s: llama2.c tokenizer token %d has length %d, outside 0..max_token_length %d", path, i, l, maxLen)
		}
		if _, err := io.ReadFull(br, piece[:l]); err != nil {
			return nil, fmt.Errorf("models: %s: truncated llama2.c tokenizer: token %d text cut short", path, i)
		}
		text, typ := string(piece[:l]), int32(TokenTypeNormal)
		switch {
		case i == 0:
			text, typ = "<unk>", TokenTypeUnknown
		case i == 1:
			text, typ = "<s>", TokenTypeControl
		case i == 2:
			text, typ = "</s>", TokenTypeControl
		case isByteToken(text):
			typ = TokenTypeByte
		}
		v.Tokens[i] = strings.ReplaceAll(text, " ", "\u2581")
		v.Scores[i] = score
		v.Types[i] = typ
	}
	return v, nil
}

// isByteToken matches "<0xNN>", as the converter's sscanf("<0x%02hhX>") does.
func isByteToken(s string) bool {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return false
	}
	_, err := strconv.ParseUint(s[3:5], 16, 8)
	return err == nil
}

// Llama2cWriter builds the GGUF writer for a checkpoint: the KVs and tensors
// of llama.cpp's convert-llama2c-to-ggml, in its order. Tensor data is streamed
// from ckpt, which must stay readable until the Writer has written.
func Llama2cWriter(ckpt io.ReaderAt, c Llama2cConfig, v *Llama2cVocab, opts Llama2cOptions) (*Writer, error) {
	if len(v.Tokens) != c.VocabSize {
		return nil, fmt.Errorf("models: the tokenizer has %d tokens but the checkpoint's vocabulary has %d", len(v.Tokens), c.VocabSize)
	}
	if opts.ContextLength == 0 {
		opts.ContextLength = 2048
	}
	if opts.Name == "" {
		opts.Name = "llama"
	}
	w := NewWriter()
	const none = uint32(math.MaxUint32)
	kvs := []KV{
		{"tokenizer.ggml.tokens", v.Tokens},
		{"tokenizer.ggml.scores", v.Scores},
		{"tokenizer.ggml.token_type", v.Types},
		{"tokenizer.ggml.model", "llama"},
		{"general.architecture", "llama"},
		{"general.name", opts.Name},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.seperator_token_id", none}, // sic: llama.cpp's key spelling
		{"tokenizer.ggml.padding_token_id", none},
		{"llama.context_length", opts.ContextLength},
		{"llama.embedding_length", uint32(c.Dim)},
		{"llama.feed_forward_length", uint32(c.HiddenDim)},
		{"llama.attention.head_count", uint32(c.NHeads)},
		{"llama.attention.head_count_kv", uint32(c.NKVHeads)},
		{"llama.block_count", uint32(c.NLayers)},
		{"llama.rope.dimension_count", uint32(c.HeadSize())},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
	}
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}

	arrays, _ := c.layout()
	byName := map[string]llama2cTensor{}
	for _, a := range arrays {
		if a.name != "" {
			byName[a.name] = a
		}
	}
	if c.Shared {
		out := byName["token_embd.weight"]
		out.name = "output.weight"
		byName[out.name] = out
	}
	order := []string{"token_embd.weight", "output_norm.weight", "output.weight"}
	for l := 0; l < c.NLayers; l++ {
		for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "attn_norm", "ffn_gate", "ffn_down", "ffn_up", "ffn_norm"} {
			order = append(order, fmt.Sprintf("blk.%d.%s.weight", l, n))
		}
	}
	for _, name := range order {
		a := byName[name]
		size, _ := tensorBytes(TypeF32, a.shape)
		sec := io.NewSectionReader(ckpt, a.offset, int64(size))
		err := w.AddFunc(name, TypeF32, a.shape, func(dst io.Writer) error {
			_, err := io.Copy(dst, io.NewSectionReader(sec, 0, sec.Size()))
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// ConvertLlama2c converts a legacy llama2.c checkpoint and its tokenizer.bin
// into a GGUF file at outPath, matching llama.cpp's convert-llama2c-to-ggml
// (same keys, values, tensor names, shapes and F32 bytes). The output is written
// atomically and may not be one of the inputs.
func ConvertLlama2c(checkpointPath, tokenizerPath, outPath string, opts Llama2cOptions) (Llama2cConfig, error) {
	var c Llama2cConfig
	ck, err := os.Open(checkpointPath)
	if err != nil {
		return c, fmt.Errorf("models: %w", err)
	}
	defer ck.Close()
	st, err := ck.Stat()
	if err != nil {
		return c, fmt.Errorf("models: %w", err)
	}
	if c, err = ReadLlama2cConfig(ck, st.Size(), checkpointPath); err != nil {
		return c, err
	}
	tf, err := os.Open(tokenizerPath)
	if err != nil {
		return c, fmt.Errorf("models: %w", err)
	}
	vocab, err := ReadLlama2cTokenizer(tf, c.VocabSize, tokenizerPath)
	tf.Close()
	if err != nil {
		return c, err
	}
	w, err := Llama2cWriter(ck, c, vocab, opts)
	if err != nil {
		return c, err
	}
	w.Protect(checkpointPath, tokenizerPath)
	if err := w.WriteFile(outPath); err != nil {
		return c, err
	}
	return c, nil
}
