package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriterRoundTrip(t *testing.T) {
	kvs := []KV{
		{"general.architecture", "llama"},
		{"u8", uint8(200)}, {"i8", int8(-5)}, {"u16", uint16(60000)}, {"i16", int16(-300)},
		{"u32", uint32(1 << 31)}, {"i32", int32(-1 << 30)}, {"f32", float32(1.5)}, {"bool", true},
		{"u64", uint64(1 << 60)}, {"i64", int64(-1 << 60)}, {"f64", math.Pi}, {"empty", ""},
		{"a.u8", []uint8{1, 2}}, {"a.i8", []int8{-1}}, {"a.u16", []uint16{7}}, {"a.i16", []int16{-7}},
		{"a.u32", []uint32{1, 2, 3}}, {"a.i32", []int32{-3}}, {"a.f32", []float32{0.5, -2}},
		{"a.bool", []bool{true, false}}, {"a.str", []string{"<s>", "▁hello", ""}},
		{"a.u64", []uint64{9}}, {"a.i64", []int64{-9}}, {"a.f64", []float64{2.25}}, {"a.empty", []string{}},
	}
	w := NewWriter()
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	f32 := []float32{1, -2, 3.5, 0, 1e-3, -65504}
	q4 := bytes.Repeat([]byte{0xAB}, 2*144)
	steps := []error{
		w.AddF32("f32.weight", []uint64{3, 2}, f32),
		w.AddF16("f16.weight", []uint64{6}, f32),
		w.AddRaw("q4k.weight", TypeQ4_K, []uint64{256, 2}, q4),
		w.AddFunc("stream.weight", TypeI8, []uint64{5}, func(dst io.Writer) error {
			_, err := dst.Write([]byte{1, 2, 3, 4, 5})
			return err
		}),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	path := filepath.Join(t.TempDir(), "rt.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != 3 || len(f.Metadata) != len(kvs) {
		t.Fatalf("version %d, %d KVs", f.Version, len(f.Metadata))
	}
	for i, kv := range kvs {
		got := f.Metadata[i]
		if got.Key != kv.Key || !reflect.DeepEqual(got.Value, kv.Value) {
			t.Errorf("KV %d = %v (%T), want %v (%T)", i, got, got.Value, kv, kv.Value)
		}
	}
	data, _ := f.TensorData("f32.weight")
	for i, v := range f32 {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])); got != v {
			t.Errorf("f32[%d] = %v, want %v", i, got, v)
		}
	}
	data, _ = f.TensorData("f16.weight")
	for i, v := range f32 {
		got := F16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
		if math.Abs(float64(got-v)) > 1e-3*math.Abs(float64(v))+1e-7 {
			t.Errorf("f16[%d] = %v, want ≈%v", i, got, v)
		}
	}
	if data, _ = f.TensorData("q4k.weight"); !bytes.Equal(data, q4) {
		t.Error("Q4_K bytes differ")
	}
	if data, _ = f.TensorData("stream.weight"); !bytes.Equal(data, []byte{1, 2, 3, 4, 5}) {
		t.Errorf("streamed bytes %v", data)
	}
	for _, ti := range f.Tensors {
		if ti.Offset%32 != 0 {
			t.Errorf("%s offset %d not aligned", ti.Name, ti.Offset)
		}
	}
	if !reflect.DeepEqual(f.Tensors, w.Tensors()) {
		t.Errorf("tensor infos differ:\n%+v\n%+v", f.Tensors, w.Tensors())
	}
}

// TestWriterReproducesStories rewrites stories260K.gguf from its own parsed
// contents and expects identical bytes: the writer lays files out like ggml.
func TestWriterReproducesStories(t *testing.T) {
	src := sharedFile(t, "stories260K.gguf")
	f, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter()
	if err := w.CopyMetadata(f, ""); err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		data, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddRaw(ti.Name, ti.Type, ti.Shape, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(src)
	if sha256.Sum256(buf.Bytes()) != sha256.Sum256(want) {
		t.Errorf("rewritten file differs (%d vs %d bytes)", buf.Len(), len(want))
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	if err := w.AddF32("x", []uint64{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"empty key", w.Set("", 1), "must not be empty"},
		{"bad type", w.Set("k", 3), "unsupported value type int"},
		{"nested", w.Set("k", [][]string{}), "unsupported value type"},
		{"bad alignment", w.Set(KeyAlignment, uint32(3)), "power of two"},
		{"alignment type", w.Set(KeyAlignment, uint64(32)), "power of two"},
		{"dup tensor", w.AddF32("x", []uint64{2}, []float32{1, 2}), `duplicate tensor name "x"`},
		{"count", w.AddF32("y", []uint64{3}, []float32{1, 2}), "needs 3 values, got 2"},
		{"zero dim", w.AddRaw("z", TypeF32, []uint64{0}, nil), "invalid dimension 0"},
		{"no dims", w.AddRaw("z", TypeF32, nil, nil), "0 dimensions"},
		{"long name", w.AddRaw(strings.Repeat("n", 64), TypeF32, []uint64{1}, make([]byte, 4)), "at most 63"},
		{"raw size", w.AddRaw("q", TypeQ8_0, []uint64{32}, make([]byte, 33)), "needs 34 bytes of data, got 33"},
		{"block", w.AddRaw("q", TypeQ8_0, []uint64{31}, make([]byte, 34)), "not a multiple of the Q8_0 block size"},
		{"unknown type", w.AddRaw("q", GGMLType(4), []uint64{1}, nil), "unknown ggml type 4"},
		{"nil func", w.AddFunc("q", TypeF32, []uint64{1}, nil), "nil write function"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.msg) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, tt.err, tt.msg)
		}
	}

	// A streamed tensor that writes the wrong size fails the write.
	w2 := NewWriter()
	w2.AddFunc("s", TypeF32, []uint64{2}, func(dst io.Writer) error { _, err := dst.Write([]byte{1}); return err })
	if _, err := w2.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), "wrote 1 bytes, want 8") {
		t.Errorf("short stream: %v", err)
	}
}

func TestWriteFileAtomicAndProtected(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	if err := os.WriteFile(in, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := NewWriter()
	w.Set("general.architecture", "llama")
	w.Protect(in)
	for _, out := range []string{in, filepath.Join(dir, ".", "in.gguf")} {
		if err := w.WriteFile(out); err == nil || !strings.Contains(err.Error(), "also an input") {
			t.Errorf("WriteFile(%s) = %v, want refusal", out, err)
		}
	}
	if b, _ := os.ReadFile(in); string(b) != "precious" {
		t.Fatal("input was modified")
	}
	// A failing write leaves neither the target nor a temp file behind.
	bad := NewWriter()
	bad.AddFunc("s", TypeF32, []uint64{1}, func(io.Writer) error { return io.ErrUnexpectedEOF })
	out := filepath.Join(dir, "out.gguf")
	if err := bad.WriteFile(out); err == nil {
		t.Fatal("failing tensor did not fail the write")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want only the input", len(ents))
	}
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(out); err != nil {
		t.Fatal(err)
	}
}

func TestFloat16(t *testing.T) {
	tests := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00}, // rounds to Inf
		{1e10, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{6.103515625e-05, 0x0400},        // smallest normal
		{5.960464477539063e-08, 0x0001},  // smallest subnormal
		{2.9802322387695312e-08, 0x0000}, // half of it: ties to even (0)
		{4.470348358154297e-08, 0x0001},  // 0.75 of it rounds up
		{1.0009765625, 0x3c01},           // exact
		{1.00048828125, 0x3c00},          // tie between 0x3c00 and 0x3c01: even
		{1.00146484375, 0x3c02},          // tie between 0x3c01 and 0x3c02: even
		{0.333333343, 0x3555},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.f); got != tt.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.h)
		}
	}
	if h := F32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x", h)
	}
	// Every finite half converts to float32 and back unchanged.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := F32ToF16(F16ToF32(uint16(h))); got != uint16(h) {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, F16ToF32(uint16(h)), got)
		}
	}
}

func TestCopyTensors(t *testing.T) {
	f, err := Open(filepath.Join(sharedModels, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter()
	if err := w.CopyTensors(f, func(ti TensorInfo) bool { return ti.Name != "output.weight" }); err != nil {
		t.Fatal(err)
	}
	got := w.Tensors()
	if len(got) != len(f.Tensors)-1 {
		t.Fatalf("%d tensors copied, want %d", len(got), len(f.Tensors)-1)
	}
	for _, ti := range got {
		if ti.Name == "output.weight" {
			t.Error("dropped tensor was copied")
		}
	}
}
