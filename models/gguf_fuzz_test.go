package models

import (
	"bytes"
	"os"
	"path/filepath"
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
		// Keep the header and a little data: whole files make fuzzing slow.
		n := min(len(data), int(ff.DataOffset)+256)
		f.Add(data[:n])
		f.Add(data[:n/2])
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
