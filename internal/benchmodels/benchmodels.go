// Package benchmodels writes (once) and caches the synthetic models the
// benchmarks run on: random weights, real shapes. They live in the user's
// cache folder so that repeated `make bench` runs do not rewrite them.
package benchmodels

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models/synth"
)

var mu sync.Mutex

// Dir is where benchmark models are cached.
func Dir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "spectrum", "bench")
	}
	return filepath.Join(os.TempDir(), "spectrum-bench")
}

// Path returns a synth preset ("135M", "1B", …) quantized to typ ("f32",
// "f16" or a llama quantization name such as "q8_0"), writing it on first
// use.
func Path(preset, typ string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	dir := Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("synth-%s-%s.gguf", preset, typ))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	cfg, err := synth.Preset(preset)
	if err != nil {
		return "", err
	}
	base := out
	if typ != "f32" && typ != "f16" {
		base = filepath.Join(dir, fmt.Sprintf("synth-%s-f16.gguf", preset))
	}
	cfg.F16 = typ != "f32"
	if _, err := os.Stat(base); err != nil {
		if err := synth.Write(base, cfg); err != nil {
			return "", err
		}
	}
	if base == out {
		return out, nil
	}
	if err := llama.Quantize(base, out, typ, llama.QuantizeParams{}); err != nil {
		return "", err
	}
	return out, nil
}
