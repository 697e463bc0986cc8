package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConvertLlama2cMatchesLlamaCpp(t *testing.T) {
	ckpt := sharedFile(t, "stories260K.bin")
	tok := sharedFile(t, "tok512.bin")
	want := sharedFile(t, "stories260K.gguf")
	out := filepath.Join(t.TempDir(), "stories260K.gguf")

	cfg, err := ConvertLlama2c(ckpt, tok, out, Llama2cOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := Llama2cConfig{Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, VocabSize: 512, SeqLen: 512, Shared: true}
	if cfg != wantCfg {
		t.Errorf("config %+v, want %+v", cfg, wantCfg)
	}

	got, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	ref, err := Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()

	// Same metadata, key by key, with the same types.
	if len(got.Metadata) != len(ref.Metadata) {
		t.Errorf("%d KVs, want %d", len(got.Metadata), len(ref.Metadata))
	}
	for _, kv := range ref.Metadata {
		v, ok := got.Value(kv.Key)
		if !ok || !reflect.DeepEqual(v, kv.Value) {
			t.Errorf("KV %s differs", kv.Key)
		}
	}
	for _, key := range []string{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"} {
		a, _ := got.Value(key)
		b, _ := ref.Value(key)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs", key)
		}
	}
	// Same tensors, in the same order, with identical bytes.
	if len(got.Tensors) != len(ref.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(ref.Tensors))
	}
	for i, rt := range ref.Tensors {
		gt := got.Tensors[i]
		if gt.Name != rt.Name || !reflect.DeepEqual(gt.Shape, rt.Shape) || gt.Type != rt.Type || gt.Offset != rt.Offset {
			t.Errorf("tensor %d: %+v, want %+v", i, gt, rt)
			continue
		}
		a, err1 := got.TensorData(gt.Name)
		b, err2 := ref.TensorData(rt.Name)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("tensor %s bytes differ (%v, %v)", gt.Name, err1, err2)
		}
	}
	// And in fact the whole file is byte-identical to llama.cpp's.
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(want)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Errorf("converted file (%d bytes) is not byte-identical to %s (%d bytes)", len(a), want, len(b))
	}
}

func TestConvertLlama2cRejectsBadInput(t *testing.T) {
	ckptData, err := os.ReadFile(sharedFile(t, "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tokData, err := os.ReadFile(sharedFile(t, "tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	header := func(f ...int32) []byte {
		b := make([]byte, 4*len(f))
		for i, v := range f {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	badTok := append([]byte(nil), tokData...)
	binary.LittleEndian.PutUint32(badTok[8:], 1000) // first token's length
	tests := []struct {
		name       string
		ckpt, tok  []byte
		sameOutput bool
		msg        string
	}{
		{"truncated checkpoint", ckptData[:600000], tokData, false, "truncated llama2.c checkpoint: the header (dim 64, hidden 172, 5 layers, 8/4 heads, vocab 512, seq_len 512, shared classifier true) implies 1056540 bytes but the file has 600000"},
		{"oversized checkpoint", append(append([]byte(nil), ckptData...), 0, 0, 0, 0), tokData, false, "oversized llama2.c checkpoint"},
		{"tiny checkpoint", ckptData[:10], tokData, false, "header alone needs 28"},
		{"zero dim", header(0, 172, 5, 8, 4, 512, 512), tokData, false, "header field dim = 0"},
		{"negative layers", header(64, 172, -5, 8, 4, 512, 512), tokData, false, "n_layers = -5"},
		{"heads", header(64, 172, 5, 7, 4, 512, 512), tokData, false, "not n_heads 7 times"},
		{"kv heads", header(64, 172, 5, 8, 3, 512, 512), tokData, false, "not a multiple of n_kv_heads 3"},
		{"truncated tokenizer", ckptData, tokData[:3000], false, "truncated llama2.c tokenizer"},
		{"bad token length", ckptData, badTok, false, "token 0 has length 1000"},
		{"output is input", ckptData, tokData, true, "also an input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ck, tk := filepath.Join(dir, "ckpt.bin"), filepath.Join(dir, "tok.bin")
			os.WriteFile(ck, tt.ckpt, 0o644)
			os.WriteFile(tk, tt.tok, 0o644)
			out := filepath.Join(dir, "out.gguf")
			if tt.sameOutput {
				out = ck
			}
			_, err := ConvertLlama2c(ck, tk, out, Llama2cOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.msg)
			}
			if b, _ := os.ReadFile(ck); !bytes.Equal(b, tt.ckpt) {
				t.Error("the checkpoint was modified")
			}
		})
	}
}

func TestReadLlama2cTokenizer(t *testing.T) {
	f, err := os.Open(sharedFile(t, "tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := ReadLlama2cTokenizer(f, 512, "tok512.bin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   int
		text string
		typ  int32
	}{
		{0, "<unk>", TokenTypeUnknown}, {1, "<s>", TokenTypeControl}, {2, "</s>", TokenTypeControl},
		{3, "<0x00>", TokenTypeByte}, {258, "<0xFF>", TokenTypeByte}, {259, "▁t", TokenTypeNormal},
	}
	for _, tt := range tests {
		if v.Tokens[tt.id] != tt.text || v.Types[tt.id] != tt.typ {
			t.Errorf("token %d = %q type %d, want %q type %d", tt.id, v.Tokens[tt.id], v.Types[tt.id], tt.text, tt.typ)
		}
	}
}
