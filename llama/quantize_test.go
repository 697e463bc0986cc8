package llama

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestQuantizeErrors(t *testing.T) {
	in := modelPath(t, "stories260K.gguf")
	dir := t.TempDir()
	// stories260K's FFN rows are 172 wide, not a multiple of Q8_0's 32.
	err := Quantize(in, filepath.Join(dir, "q8.gguf"), "q8_0", QuantizeParams{Threads: 1})
	if err == nil || !strings.Contains(err.Error(), "block size") {
		t.Errorf("quantizing 172-wide rows to q8_0: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("failed quantization left files behind: %v", m)
	}
	if err := Quantize(in, in, "q8_0", QuantizeParams{}); err == nil {
		t.Error("quantizing a file onto itself: no error")
	}
}
