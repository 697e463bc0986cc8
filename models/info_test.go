package models

import (
	"bytes"
	"reflect"
	"testing"
)

func TestInfoShared(t *testing.T) {
	tests := []struct {
		file string
		want Info // only the compared fields
	}{
		{"stories260K.gguf", Info{
			Architecture: "llama", Name: "llama", Params: 64*512*2 + 64 + 5*(64*64*2+64*32*2+64*2+64*172*3),
			FileType: -1, ContextLength: 2048, EmbeddingLength: 64, FeedForwardLength: 172, BlockCount: 5,
			HeadCount: 8, HeadCountKV: 4, VocabSize: 512, TokenizerModel: "llama",
			BOS: 1, EOS: 2, EOT: NoToken, PAD: NoToken, UNK: 0, AddBOS: true, Family: FamilyNone,
		}},
		{"llama-2-tiny-random.gguf", Info{
			Architecture: "llama", Name: "LLaMA v2", Params: 8*32000*2 + 8 + 8*8*4 + 8*2 + 8*32*3,
			FileType: 1, FileTypeName: "F16", ContextLength: 4096, EmbeddingLength: 8, FeedForwardLength: 32, BlockCount: 1,
			HeadCount: 2, HeadCountKV: 2, VocabSize: 32000, TokenizerModel: "llama",
			BOS: 1, EOS: 2, EOT: NoToken, PAD: NoToken, UNK: 0, AddBOS: true, Family: FamilyNone,
		}},
		{"vocab/ggml-vocab-phi-3.gguf", Info{
			Architecture: "phi3", Name: "Phi3", FileType: 1, FileTypeName: "F16", ContextLength: 4096, EmbeddingLength: 3072,
			FeedForwardLength: 8192, BlockCount: 32, HeadCount: 32, HeadCountKV: 32, VocabSize: 32064,
			TokenizerModel: "llama", TokenizerPre: "default",
			BOS: 1, EOS: 32000, EOT: 32007, PAD: 32000, UNK: 0, AddBOS: true, Family: FamilyPhi3,
		}},
		{"vocab/ggml-vocab-bert-bge.gguf", Info{
			Architecture: "bert", TokenizerModel: "bert", VocabSize: 30522, AddBOS: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := ReadInfo(sharedFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := *in
			if tt.file == "vocab/ggml-vocab-bert-bge.gguf" { // compare only the fields set above
				if got.Architecture != "bert" || got.TokenizerModel != "bert" || got.VocabSize != 30522 || !got.AddBOS || got.Params != 0 {
					t.Errorf("bert info %+v", got)
				}
				return
			}
			w := tt.want
			got.Path, got.TensorBytes, got.TensorTypes, got.Tokens, got.TokenTypes, got.tokenIndex, got.ChatTemplate =
				"", 0, nil, nil, nil, nil, ""
			if tt.file == "vocab/ggml-vocab-phi-3.gguf" {
				w.AddEOS = false
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("info\n got %+v\nwant %+v", got, w)
			}
		})
	}
}

func TestInfoTensorTypes(t *testing.T) {
	in, err := ReadInfo(sharedFile(t, "llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	want := []TypeStat{
		{Type: TypeF16, Tensors: 9, Elements: 8*32000*2 + 8*8*4 + 8*32*3, Bytes: 2 * (8*32000*2 + 8*8*4 + 8*32*3)},
		{Type: TypeF32, Tensors: 3, Elements: 24, Bytes: 96},
	}
	if !reflect.DeepEqual(in.TensorTypes, want) {
		t.Errorf("tensor types %+v, want %+v", in.TensorTypes, want)
	}
	if id, ok := in.TokenID("▁the"); !ok || in.Tokens[id] != "▁the" {
		t.Errorf("TokenID(▁the) = %d, %v", id, ok)
	}
	if _, ok := in.TokenID("no such token"); ok {
		t.Error("found a missing token")
	}
}

// vocabInfo builds an in-memory GGUF with the given tokens (type per token)
// and chat template and returns its Info.
func vocabInfo(t *testing.T, tokens []string, types []int32, template string) *Info {
	t.Helper()
	w := NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("tokenizer.ggml.model", "gpt2")
	w.Set("tokenizer.ggml.tokens", tokens)
	if types != nil {
		w.Set("tokenizer.ggml.token_type", types)
	}
	if template != "" {
		w.Set("tokenizer.chat_template", template)
	}
	w.Set("tokenizer.ggml.eos_token_id", uint32(4294967295))
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return InfoOf(f)
}

func TestFamilyDetection(t *testing.T) {
	base := []string{"a", "b", "c"}
	withSpecial := func(extra ...string) ([]string, []int32) {
		toks := append(append([]string(nil), base...), extra...)
		types := make([]int32, len(toks))
		for i := range types {
			types[i] = TokenTypeNormal
			if i >= len(base) {
				types[i] = TokenTypeControl
			}
		}
		return toks, types
	}
	tests := []struct {
		name     string
		tokens   []string
		types    []int32
		template string
		want     Family
	}{
		{"none", base, nil, "", FamilyNone},
		{"gemma3 vocab", nil, nil, "", FamilyGemma3},
		{"chatml vocab", nil, nil, "", FamilyChatML},
		{"llama3 vocab", nil, nil, "", FamilyLlama3},
		{"phi3 vocab", nil, nil, "", FamilyPhi3},
		{"chatml partial vocab, template", []string{"a", "<|im_start|>"}, []int32{1, 3}, "{{'<|im_start|>' + role}}", FamilyChatML},
		{"normal-type tokens do not count", []string{"<|im_start|>", "<|im_end|>"}, []int32{1, 1}, "", FamilyNone},
		{"user-defined tokens count", []string{"<|im_start|>", "<|im_end|>"}, []int32{4, 4}, "", FamilyChatML},
		{"no token types: presence counts", []string{"<start_of_turn>", "<end_of_turn>"}, nil, "", FamilyGemma3},
		{"template only", base, nil, "<start_of_turn>user\n{{ content }}<end_of_turn>", FamilyGemma3},
		{"two in vocab, template picks", nil, nil, "<|start_header_id|>", FamilyLlama3},
		{"two in vocab, no template", nil, nil, "", FamilyChatML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, types := tt.tokens, tt.types
			switch {
			case tt.want != FamilyNone && toks == nil && tt.name[:3] == "two":
				toks, types = withSpecial(append(FamilyChatML.TurnTokens(), FamilyLlama3.TurnTokens()...)...)
			case toks == nil:
				toks, types = withSpecial(tt.want.TurnTokens()...)
			}
			in := vocabInfo(t, toks, types, tt.template)
			if in.Family != tt.want {
				t.Errorf("family %q, want %q", in.Family, tt.want)
			}
			if in.EOS != NoToken {
				t.Errorf("EOS 4294967295 read as %d, want NoToken", in.EOS)
			}
		})
	}
}

func TestFamilyTurnTokensAndParse(t *testing.T) {
	for _, f := range Families {
		if len(f.TurnTokens()) < 2 {
			t.Errorf("%s: turn tokens %v", f, f.TurnTokens())
		}
		if p, err := ParseFamily(string(f)); err != nil || p != f {
			t.Errorf("ParseFamily(%s) = %v, %v", f, p, err)
		}
	}
	if FamilyNone.TurnTokens() != nil {
		t.Error("FamilyNone has turn tokens")
	}
	if _, err := ParseFamily("mistral"); err == nil {
		t.Error("unknown family accepted")
	}
}
