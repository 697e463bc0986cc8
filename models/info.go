package models

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Family is a chat-format family, named by the special tokens its turns use.
// It tells callers which prompt format a model's vocabulary can express.
type Family string

// Chat-format families.
const (
	FamilyNone   Family = ""
	FamilyGemma3 Family = "gemma3" // <start_of_turn>user ... <end_of_turn>
	FamilyChatML Family = "chatml" // <|im_start|>user ... <|im_end|> (Qwen2, Qwen3, SmolLM)
	FamilyLlama3 Family = "llama3" // <|start_header_id|>user<|end_header_id|> ... <|eot_id|>
	FamilyPhi3   Family = "phi3"   // <|user|> ... <|end|><|assistant|>
)

// Families lists the known families in detection order.
var Families = []Family{FamilyGemma3, FamilyChatML, FamilyLlama3, FamilyPhi3}

// TurnTokens lists the special tokens the family's chat format needs as single
// tokens; nil for FamilyNone or an unknown family.
func (f Family) TurnTokens() []string {
	switch f {
	case FamilyGemma3:
		return []string{"<start_of_turn>", "<end_of_turn>"}
	case FamilyChatML:
		return []string{"<|im_start|>", "<|im_end|>"}
	case FamilyLlama3:
		return []string{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
	case FamilyPhi3:
		return []string{"<|user|>", "<|assistant|>", "<|system|>", "<|end|>"}
	}
	return nil
}

// ParseFamily returns the family with the given name ("" is FamilyNone).
func ParseFamily(s string) (Family, error) {
	if s == "" {
		return FamilyNone, nil
	}
	for _, f := range Families {
		if string(f) == s {
			return f, nil
		}
	}
	return FamilyNone, fmt.Errorf("models: unknown chat family %q (known: gemma3, chatml, llama3, phi3)", s)
}

// TypeStat totals the tensors of one ggml type.
type TypeStat struct {
	Type     GGMLType
	Tensors  int
	Elements uint64
	Bytes    uint64
}

// NoToken marks an absent special token id in Info.
const NoToken = -1

// Info summarizes a model from its metadata and tensor infos, without reading
// any weights. Fields whose keys are absent are zero (token ids: NoToken).
type Info struct {
	Path         string
	Type         string // general.type: "" or "model" for models, "adapter" for LoRA adapters
	Architecture string // general.architecture
	Name         string // general.name
	Params       uint64 // sum of tensor elements
	TensorBytes  uint64 // sum of tensor data sizes
	// FileType is general.file_type (llama_ftype), or -1 when absent.
	FileType     int
	FileTypeName string // "Q4_K_M", "F16", ...; "" when absent or unknown
	TensorTypes  []TypeStat

	ContextLength     uint64
	EmbeddingLength   uint64
	FeedForwardLength uint64
	BlockCount        uint64
	HeadCount         uint64 // the largest value when the key is a per-layer array
	HeadCountKV       uint64 // defaults to HeadCount, as in llama.cpp
	KeyLength         uint64 // attention.key_length (head size of K); 0 when absent (n_embd/n_head)
	VocabSize         int

	TokenizerModel string // tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE), ...
	TokenizerPre   string
	BOS, EOS, EOT  int
	PAD, UNK       int
	// AddBOS is tokenizer.ggml.add_bos_token, or llama.cpp's default for the
	// tokenizer model (true for SPM and WPM) when the key is absent.
	AddBOS       bool
	AddEOS       bool
	ChatTemplate string
	Family       Family

	Tokens     []string // shared with the File; do not modify
	TokenTypes []int32  // nil when the file has no token types
	tokenIndex map[string]int
}

// ReadInfo opens path, summarizes it and closes it.
func ReadInfo(path string) (*Info, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return InfoOf(f), nil
}

// llama_ftype names, by value.
var fileTypeNames = map[int]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
	11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
	18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
	25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
	32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}

// FileTypeName returns the llama_ftype name ("Q4_K_M") of a general.file_type value.
func FileTypeName(ft int) string { return fileTypeNames[ft] }

// eotCandidates are the texts llama.cpp takes for the end-of-turn token when
// tokenizer.ggml.eot_token_id is absent, in our order of preference.
var eotCandidates = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}

// InfoOf summarizes an open File. Metadata of unexpected types is ignored
// rather than reported, so that a summary is always available.
func InfoOf(f *File) *Info {
	in := &Info{Path: f.Path, FileType: -1, BOS: NoToken, EOS: NoToken, EOT: NoToken, PAD: NoToken, UNK: NoToken}
	in.Architecture, _ = f.String("general.architecture")
	in.Name, _ = f.String("general.name")
	in.Type, _ = f.String("general.type")
	if ft, err := f.Int("general.file_type"); err == nil && ft >= 0 && ft < math.MaxInt32 {
		in.FileType = int(ft)
		in.FileTypeName = fileTypeNames[in.FileType]
	}

	stats := map[GGMLType]*TypeStat{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		s := stats[t.Type]
		if s == nil {
			s = &TypeStat{Type: t.Type}
			stats[t.Type] = s
		}
		n := t.Elements()
		s.Tensors++
		s.Elements += n
		s.Bytes += t.Size
		in.Params += n
		in.TensorBytes += t.Size
	}
	for _, s := range stats {
		in.TensorTypes = append(in.TensorTypes, *s)
	}
	sort.Slice(in.TensorTypes, func(i, j int) bool {
		a, b := in.TensorTypes[i], in.TensorTypes[j]
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		return a.Type < b.Type
	})

	arch := in.Architecture
	u := func(key string) uint64 {
		v, ok := f.Value(arch + "." + key)
		if !ok {
			return 0
		}
		if n, ok := asUint(v); ok {
			return n
		}
		if xs, ok := intSlice(v); ok { // per-layer arrays: report the largest
			var m uint64
			for _, x := range xs {
				if x > 0 && uint64(x) > m {
					m = uint64(x)
				}
			}
			return m
		}
		return 0
	}
	in.ContextLength = u("context_length")
	in.EmbeddingLength = u("embedding_length")
	in.FeedForwardLength = u("feed_forward_length")
	in.BlockCount = u("block_count")
	in.HeadCount = u("attention.head_count")
	in.KeyLength = u("attention.key_length")
	in.HeadCountKV = u("attention.head_count_kv")
	if in.HeadCountKV == 0 {
		in.HeadCountKV = in.HeadCount
	}

	in.Tokens, _ = f.Strings("tokenizer.ggml.tokens")
	in.VocabSize = len(in.Tokens)
	if in.VocabSize == 0 {
		in.VocabSize = int(min(u("vocab_size"), math.MaxInt32))
	}
	if v, ok := f.Value("tokenizer.ggml.token_type"); ok {
		if xs, ok := intSlice(v); ok && len(xs) == len(in.Tokens) {
			in.TokenTypes = make([]int32, len(xs))
			for i, x := range xs {
				in.TokenTypes[i] = int32(x)
			}
		}
	}
	in.TokenizerModel, _ = f.String("tokenizer.ggml.model")
	in.TokenizerPre, _ = f.String("tokenizer.ggml.pre")
	tokID := func(key string) int {
		n, err := f.Uint("tokenizer.ggml." + key)
		if err != nil || n == math.MaxUint32 || n >= uint64(max(in.VocabSize, 0)) {
			return NoToken
		}
		return int(n)
	}
	in.BOS = tokID("bos_token_id")
	in.EOS = tokID("eos_token_id")
	in.EOT = tokID("eot_token_id")
	in.PAD = tokID("padding_token_id")
	in.UNK = tokID("unknown_token_id")
	if in.EOT == NoToken && !f.Has("tokenizer.ggml.eot_token_id") {
		for _, text := range eotCandidates {
			if id, ok := in.TokenID(text); ok {
				in.EOT = id
				break
			}
		}
	}
	in.AddBOS = in.TokenizerModel == "llama" || in.TokenizerModel == "bert"
	if b, err := f.Bool("tokenizer.ggml.add_bos_token"); err == nil {
		in.AddBOS = b
	}
	in.AddEOS = in.TokenizerModel == "t5"
	if b, err := f.Bool("tokenizer.ggml.add_eos_token"); err == nil {
		in.AddEOS = b
	}
	in.ChatTemplate, _ = f.String("tokenizer.chat_template")
	in.Family = in.detectFamily()
	return in
}

// TokenID returns the id of the token whose text is exactly text.
func (in *Info) TokenID(text string) (int, bool) {
	if in.tokenIndex == nil {
		in.tokenIndex = make(map[string]int, len(in.Tokens))
		// The first occurrence wins, as duplicates are unreachable by text.
		for i := len(in.Tokens) - 1; i >= 0; i-- {
			in.tokenIndex[in.Tokens[i]] = i
		}
	}
	id, ok := in.tokenIndex[text]
	return id, ok
}

// isSpecial reports whether token id is CONTROL or USER_DEFINED, the types
// llama.cpp matches as whole tokens in text (when types are absent, any token).
func (in *Info) isSpecial(id int) bool {
	if in.TokenTypes == nil {
		return true
	}
	t := in.TokenTypes[id]
	return t == TokenTypeControl || t == TokenTypeUserDefined
}

// HasSpecialTokens reports whether every text is a CONTROL or USER_DEFINED token.
func (in *Info) HasSpecialTokens(texts ...string) bool {
	for _, s := range texts {
		id, ok := in.TokenID(s)
		if !ok || !in.isSpecial(id) {
			return false
		}
	}
	return true
}

// detectFamily prefers a family whose turn tokens are all special tokens of
// the vocabulary (the format can then be rendered exactly); among several, the
// one the chat template uses; with none, the family the chat template uses.
func (in *Info) detectFamily() Family {
	var inVocab []Family
	for _, f := range Families {
		if in.HasSpecialTokens(f.TurnTokens()...) {
			inVocab = append(inVocab, f)
		}
	}
	fromTemplate := FamilyNone
	for _, f := range Families {
		if strings.Contains(in.ChatTemplate, f.TurnTokens()[0]) {
			fromTemplate = f
			break
		}
	}
	switch {
	case len(inVocab) == 1:
		return inVocab[0]
	case len(inVocab) > 1:
		for _, f := range inVocab {
			if f == fromTemplate {
				return f
			}
		}
		return inVocab[0]
	}
	return fromTemplate
}
