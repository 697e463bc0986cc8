package models

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sharedModels = "../../shared/models"

// sharedFile returns the path of a shared test model, skipping if absent.
func sharedFile(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(sharedModels, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared model %s not available: %v", name, err)
	}
	return p
}

func TestOpenSharedFiles(t *testing.T) {
	tests := []struct {
		file      string
		version   uint32
		nKV       int
		nTensors  int
		arch      string
		vocabSize int
	}{
		{"stories260K.gguf", 3, 19, 48, "llama", 512},
		{"llama-2-tiny-random.gguf", 3, 18, 12, "llama", 32000},
		{"vocab/ggml-vocab-phi-3.gguf", 3, 26, 0, "phi3", 32064},
		{"vocab/ggml-vocab-gpt-2.gguf", 3, -1, 0, "gpt2", 50257},
		{"vocab/ggml-vocab-bert-bge.gguf", 3, 20, 0, "bert", 30522},
		{"vocab/ggml-vocab-llama-spm.gguf", 3, -1, 0, "llama", 32000},
		{"vocab/ggml-vocab-deepseek-llm.gguf", 3, -1, 0, "", 102400},
		{"vocab/ggml-vocab-baichuan.gguf", 3, -1, 0, "", 64000},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := Open(sharedFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != tt.version {
				t.Errorf("version %d, want %d", f.Version, tt.version)
			}
			if tt.nKV >= 0 && len(f.Metadata) != tt.nKV {
				t.Errorf("%d KVs, want %d", len(f.Metadata), tt.nKV)
			}
			if len(f.Tensors) != tt.nTensors {
				t.Errorf("%d tensors, want %d", len(f.Tensors), tt.nTensors)
			}
			if arch, err := f.String("general.architecture"); err != nil || (tt.arch != "" && arch != tt.arch) {
				t.Errorf("architecture %q, %v; want %q", arch, err, tt.arch)
			}
			toks, err := f.Strings("tokenizer.ggml.tokens")
			if err != nil || len(toks) != tt.vocabSize {
				t.Errorf("%d tokens, %v; want %d", len(toks), err, tt.vocabSize)
			}
			for _, ti := range f.Tensors {
				b, err := f.TensorData(ti.Name)
				if err != nil || uint64(len(b)) != ti.Size {
					t.Fatalf("TensorData(%s): %d bytes, %v; want %d", ti.Name, len(b), err, ti.Size)
				}
			}
		})
	}
}

func TestStories260KDetails(t *testing.T) {
	f, err := Open(sharedFile(t, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.DataOffset != 14176 || f.Alignment != 32 {
		t.Errorf("data offset %d alignment %d, want 14176 and 32", f.DataOffset, f.Alignment)
	}
	q, ok := f.Tensor("blk.0.attn_k.weight")
	if !ok || !reflect.DeepEqual(q.Shape, []uint64{64, 32}) || q.Type != TypeF32 || q.Size != 64*32*4 {
		t.Errorf("blk.0.attn_k.weight = %+v", q)
	}
	if n, err := f.Uint("llama.context_length"); err != nil || n != 2048 {
		t.Errorf("context_length %d, %v", n, err)
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || float32(eps) != 1e-5 {
		t.Errorf("eps %v, %v", eps, err)
	}
	if pad, err := f.Uint("tokenizer.ggml.padding_token_id"); err != nil || pad != math.MaxUint32 {
		t.Errorf("pad %d, %v", pad, err)
	}
	types, err := f.Ints("tokenizer.ggml.token_type")
	if err != nil || types[0] != 2 || types[1] != 3 || types[3] != 6 || types[300] != 1 {
		t.Errorf("token types %v..., %v", types[:4], err)
	}
	scores, err := f.Floats("tokenizer.ggml.scores")
	if err != nil || len(scores) != 512 {
		t.Errorf("scores: %d, %v", len(scores), err)
	}
	// Accessor errors name the problem and classify it.
	if _, err := f.String("llama.block_count"); !errors.Is(err, ErrKeyType) || !strings.Contains(err.Error(), "uint32") {
		t.Errorf("String on a uint32: %v", err)
	}
	if _, err := f.Uint("no.such.key"); !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), "no.such.key") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := f.TensorData("nope"); !errors.Is(err, ErrTensorNotFound) {
		t.Errorf("missing tensor: %v", err)
	}
}

// ggufBuilder hand-assembles GGUF bytes so tests can corrupt single fields.
type ggufBuilder struct{ bytes.Buffer }

func (b *ggufBuilder) u32(v uint32) *ggufBuilder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}
func (b *ggufBuilder) u64(v uint64) *ggufBuilder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}
func (b *ggufBuilder) str(s string) *ggufBuilder { b.u64(uint64(len(s))); b.WriteString(s); return b }
func (b *ggufBuilder) header(version uint32, nTensors, nKV uint64) *ggufBuilder {
	return b.u32(ggufMagic).u32(version).u64(nTensors).u64(nKV)
}
func (b *ggufBuilder) tensor(name string, typ GGMLType, offset uint64, shape ...uint64) *ggufBuilder {
	b.str(name).u32(uint32(len(shape)))
	for _, d := range shape {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(offset)
}
func (b *ggufBuilder) padTo(n int) *ggufBuilder {
	for b.Len()%n != 0 {
		b.WriteByte(0)
	}
	return b
}
func (b *ggufBuilder) zeros(n int) *ggufBuilder { b.Write(make([]byte, n)); return b }

func TestReadRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"empty", nil, ErrNotGGUF, "only 0 bytes"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), ErrNotGGUF, `magic is "GGML"`},
		{"version 1", new(ggufBuilder).header(1, 0, 0).Bytes(), ErrUnsupported, "version 1"},
		{"version 4", new(ggufBuilder).header(4, 0, 0).Bytes(), ErrUnsupported, "version 4"},
		{"big endian", new(ggufBuilder).u32(ggufMagic).u32(3 << 24).u64(0).u64(0).Bytes(), ErrUnsupported, "big-endian"},
		{"truncated header", new(ggufBuilder).u32(ggufMagic).u32(3).u32(0).Bytes(), ErrTruncated, "tensor count"},
		{"huge kv count", new(ggufBuilder).header(3, 0, 1<<40).Bytes(), ErrInvalid, "metadata count"},
		{"huge tensor count", new(ggufBuilder).header(3, 1<<50, 0).Bytes(), ErrInvalid, "tensor count"},
		{"huge key length", new(ggufBuilder).header(3, 0, 1).u64(1 << 62).zeros(16).Bytes(), ErrInvalid, "metadata key #0"},
		{"key past end", new(ggufBuilder).header(3, 0, 1).u64(100).zeros(16).Bytes(), ErrTruncated, "needs 100 bytes"},
		{"string value past end", new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(ValueTypeString)).u64(1 << 20).zeros(8).Bytes(), ErrTruncated, `value of "k"`},
		{"huge array", new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeString)).u64(1 << 40).zeros(8).Bytes(), ErrTruncated, "array of 1099511627776 string"},
		{"array of arrays", new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeArray)).u64(0).zeros(8).Bytes(), ErrInvalid, "array of arrays"},
		{"unknown value type", new(ggufBuilder).header(3, 0, 1).str("k").u32(13).zeros(8).Bytes(), ErrInvalid, "unknown value type 13"},
		{"duplicate key", new(ggufBuilder).header(3, 0, 2).str("k").u32(0).zeros(1).str("k").u32(0).zeros(1).Bytes(), ErrInvalid, `duplicate metadata key "k"`},
		{"alignment type", new(ggufBuilder).header(3, 0, 1).str(KeyAlignment).u32(uint32(ValueTypeUint64)).u64(32).Bytes(), ErrInvalid, "want uint32"},
		{"alignment not pow2", new(ggufBuilder).header(3, 0, 1).str(KeyAlignment).u32(uint32(ValueTypeUint32)).u32(48).Bytes(), ErrInvalid, "power of two"},
		{"zero dim", new(ggufBuilder).header(3, 1, 0).tensor("w", TypeF32, 0, 4, 0).padTo(32).zeros(64).Bytes(), ErrInvalid, `tensor "w" dimension 1 is 0`},
		{"too many dims", new(ggufBuilder).header(3, 1, 0).tensor("w", TypeF32, 0, 1, 1, 1, 1, 1).padTo(32).zeros(64).Bytes(), ErrInvalid, "5 dimensions"},
		{"element overflow", new(ggufBuilder).header(3, 1, 0).tensor("w", TypeF32, 0, 1<<32, 1<<32).padTo(32).zeros(64).Bytes(), ErrInvalid, "more than 2^63-1 elements"},
		{"byte size overflow", new(ggufBuilder).header(3, 1, 0).tensor("w", TypeF32, 0, 1<<31, 1<<31).padTo(32).zeros(64).Bytes(), ErrInvalid, "overflows"},
		{"unknown type", new(ggufBuilder).header(3, 1, 0).tensor("w", 4, 0, 32).padTo(32).zeros(64).Bytes(), ErrInvalid, "unknown ggml type 4"},
		{"partial block", new(ggufBuilder).header(3, 1, 0).tensor("w", TypeQ4_K, 0, 100).padTo(32).zeros(256).Bytes(), ErrInvalid, "not a multiple of the Q4_K block size 256"},
		{"unaligned offset", new(ggufBuilder).header(3, 1, 0).tensor("w", TypeF32, 4, 4).padTo(32).zeros(64).Bytes(), ErrInvalid, "not a multiple of the alignment"},
		{"data past end", new(ggufBuilder).header(3, 1, 0).tensor("blk.0.attn_q.weight", TypeF32, 0, 64, 64).padTo(32).zeros(100).Bytes(), ErrTruncated, `tensor "blk.0.attn_q.weight" data ends at byte 16480 but the file has 196 bytes`},
		{"duplicate tensor", new(ggufBuilder).header(3, 2, 0).tensor("w", TypeF32, 0, 8).tensor("w", TypeF32, 32, 8).padTo(32).zeros(64).Bytes(), ErrInvalid, `duplicate tensor name "w"`},
		{"overlap", new(ggufBuilder).header(3, 2, 0).tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 32, 8).padTo(32).zeros(128).Bytes(), ErrInvalid, "overlaps"},
		{"long name", new(ggufBuilder).header(3, 1, 0).tensor(strings.Repeat("x", 64), TypeF32, 0, 8).padTo(32).zeros(64).Bytes(), ErrInvalid, "longer than ggml's limit"},
		{"empty name", new(ggufBuilder).header(3, 1, 0).tensor("", TypeF32, 0, 8).padTo(32).zeros(64).Bytes(), ErrInvalid, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not a FormatError of kind %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestErrorNamesPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stories.gguf")
	data := new(ggufBuilder).header(3, 1, 0).tensor("blk.0.attn_q.weight", TypeF32, 0, 64, 64).padTo(32).zeros(100).Bytes()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	want := "models: " + p + ": truncated GGUF: tensor \"blk.0.attn_q.weight\" data ends at byte 16480 but the file has 196 bytes"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestTruncatedRealFile(t *testing.T) {
	data, err := os.ReadFile(sharedFile(t, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	// Every prefix length must fail cleanly (sampled to keep the test fast).
	for n := 0; n < len(data); n += 1 + n/7 {
		if _, err := Read(bytes.NewReader(data[:n]), int64(n)); err == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
}

func TestTypeTraits(t *testing.T) {
	tests := []struct {
		typ       GGMLType
		name      string
		block, sz uint64
		shape     []uint64
		wantBytes uint64
	}{
		{TypeF32, "F32", 1, 4, []uint64{3, 5}, 60},
		{TypeF16, "F16", 1, 2, []uint64{3}, 6},
		{TypeBF16, "BF16", 1, 2, []uint64{8, 2}, 32},
		{TypeQ4_0, "Q4_0", 32, 18, []uint64{64, 3}, 108},
		{TypeQ8_0, "Q8_0", 32, 34, []uint64{32}, 34},
		{TypeQ4_K, "Q4_K", 256, 144, []uint64{512, 2}, 576},
		{TypeQ6_K, "Q6_K", 256, 210, []uint64{256}, 210},
		{TypeIQ2_XXS, "IQ2_XXS", 256, 66, []uint64{256}, 66},
		{TypeIQ4_NL, "IQ4_NL", 32, 18, []uint64{32}, 18},
		{TypeTQ1_0, "TQ1_0", 256, 54, []uint64{256}, 54},
		{TypeMXFP4, "MXFP4", 32, 17, []uint64{64}, 34},
	}
	for _, tt := range tests {
		if tt.typ.String() != tt.name || tt.typ.BlockSize() != tt.block || tt.typ.TypeSize() != tt.sz {
			t.Errorf("%v: got %s %d %d", tt.name, tt.typ, tt.typ.BlockSize(), tt.typ.TypeSize())
		}
		if got, err := tensorBytes(tt.typ, tt.shape); err != nil || got != tt.wantBytes {
			t.Errorf("%s %v: %d bytes, %v; want %d", tt.name, tt.shape, got, err, tt.wantBytes)
		}
		if p, err := ParseGGMLType(strings.ToLower(tt.name)); err != nil || p != tt.typ {
			t.Errorf("ParseGGMLType(%s) = %v, %v", tt.name, p, err)
		}
	}
	if GGMLType(31).Valid() || GGMLType(40).Valid() {
		t.Error("removed/unknown types reported valid")
	}
}
