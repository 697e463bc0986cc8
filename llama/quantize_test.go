package llama

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/models/synth"
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

func TestQuantizeRequantizeAndCancel(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := synth.Preset("tiny") // 64-wide rows: every block size divides them
	in := filepath.Join(t.TempDir(), "tiny-f32.gguf")
	if err := synth.Write(in, cfg); err != nil {
		t.Fatal(err)
	}
	q8 := filepath.Join(dir, "q8.gguf")
	if err := Quantize(in, q8, "q8_0", QuantizeParams{Threads: 1, Pure: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(q8)
	if err != nil || fi.Mode().Perm() != 0o666&^currentUmask() {
		t.Fatalf("quantized output mode %v, want 0666 less the umask (%v)", fi.Mode().Perm(), err)
	}
	err = Quantize(q8, filepath.Join(dir, "q4.gguf"), "q4_0", QuantizeParams{Threads: 1})
	if err == nil || !strings.Contains(err.Error(), "is already quantized (Q8_0)") || !strings.Contains(err.Error(), "--allow-requantize") {
		t.Fatalf("requantizing without the flag: %v", err)
	}
	if err := Quantize(q8, filepath.Join(dir, "q4.gguf"), "q4_0", QuantizeParams{Threads: 1, Pure: true, AllowRequantize: true}); err != nil {
		t.Fatalf("with AllowRequantize: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := QuantizeContext(ctx, in, filepath.Join(dir, "c.gguf"), "q8_0", QuantizeParams{Threads: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// The abandoned C call ends on its own; its temporary file goes with it.
	var ents []os.DirEntry
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ents, _ = os.ReadDir(dir); len(ents) == 2 {
			break
		}
	}
	if len(ents) != 2 {
		t.Fatalf("files after a cancelled run: %v, want q8.gguf and q4.gguf only", ents)
	}
}

func currentUmask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
