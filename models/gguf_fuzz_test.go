package models

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzReadGGUF feeds arbitrary bytes to the reader, seeded with the shared
// real files (their headers, to keep inputs small) and hand-made corruptions.
// Read must never panic, hang or allocate beyond the input's size; whatever it
// accepts must be internally consistent and its tensors readable.
func FuzzReadGGUF(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(sharedModels, "*.gguf"))
	vocab, _ := filepath.Glob(filepath.Join(sharedModels, "vocab", "*phi-3.gguf"))
	for _, p := range append(paths, vocab...) {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ff, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			f.Fatalf("seed %s: %v", p, err)
		}
		// Seeds must stay small: the fuzzer minimizes interesting inputs in
		// time quadratic in their size, and a 700 KB vocabulary stalls it.
		f.Add(data[:min(len(data), 1024)])
		f.Add(shrinkGGUF(f, ff))
	}
	w := NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("tokenizer.ggml.tokens", []string{"a", "b"})
	w.Set(KeyAlignment, uint32(64))
	w.AddF32("w", []uint64{2, 2}, []float32{1, 2, 3, 4})
	w.AddRaw("q", TypeQ4_0, []uint64{32}, make([]byte, 18))
	var buf bytes.Buffer
	w.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add(new(ggufBuilder).header(3, 1, 0).tensor("w", TypeF32, 0, 4, 0).padTo(32).zeros(64).Bytes())
	f.Add(new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(ValueTypeArray)).u32(uint32(ValueTypeString)).u64(1 << 40).Bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		ff, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if ff.DataOffset > int64(len(data)) && len(ff.Tensors) > 0 {
			t.Fatalf("data offset %d past the end of %d bytes", ff.DataOffset, len(data))
		}
		for _, ti := range ff.Tensors {
			b, err := ff.TensorData(ti.Name)
			if err != nil || uint64(len(b)) != ti.Size {
				t.Fatalf("accepted tensor %q unreadable: %d bytes, %v", ti.Name, len(b), err)
			}
		}
		for _, kv := range ff.Metadata {
			if _, ok := kv.Type(); !ok {
				t.Fatalf("key %q holds %T", kv.Key, kv.Value)
			}
		}
		_ = InfoOf(ff)
	})
}

// shrinkGGUF re-encodes a real file with every array cut to 8 entries and only
// its small tensors, keeping the structure (keys, types, shapes) of the original.
func shrinkGGUF(f *testing.F, ff *File) []byte {
	w := NewWriter()
	for _, kv := range ff.Metadata {
		v := kv.Value
		if n, ok := arrayLen(v); ok && n > 8 {
			v = reflect.ValueOf(v).Slice(0, 8).Interface()
		}
		if err := w.Set(kv.Key, v); err != nil {
			f.Fatal(err)
		}
	}
	for _, ti := range ff.Tensors {
		if ti.Size > 256 || len(w.tensors) >= 3 {
			continue
		}
		data, err := ff.TensorData(ti.Name)
		if err != nil {
			f.Fatal(err)
		}
		w.AddRaw(ti.Name, ti.Type, ti.Shape, data)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}
