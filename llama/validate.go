package llama

import (
	"fmt"
	"slices"

	"github.com/spectrumkit/spectrum/models"
)

// validateGGUF parses the header, metadata and tensor table in pure Go and
// checks every count, type and offset against the file size: llama.cpp
// aborts the whole process on some malformed files.
func validateGGUF(path string, needWeights bool) error {
	f, err := models.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if needWeights && len(f.Tensors) == 0 {
		return fmt.Errorf("llama: %s has no tensors (a vocabulary-only GGUF): it can tokenize but not generate", path)
	}
	if needWeights {
		return checkGemma3Layers(f, path)
	}
	return nil
}

// checkGemma3Layers refuses a Gemma 3 model whose every layer is a
// sliding-window layer (fewer layers than the pattern's period, or a bool
// pattern without a global layer): llama.cpp then builds its global KV cache
// with no layers and no buffer, and the first decode aborts the process.
func checkGemma3Layers(f *models.File, path string) error {
	if arch, _ := f.String("general.architecture"); arch != "gemma3" {
		return nil
	}
	if w, err := f.Uint("gemma3.attention.sliding_window"); err != nil || w == 0 {
		return nil
	}
	n, err := f.Uint("gemma3.block_count")
	if err != nil || n == 0 {
		return nil
	}
	key := "gemma3.attention.sliding_window_pattern"
	global := false
	switch v, _ := f.Value(key); v := v.(type) {
	case []bool:
		global = slices.Contains(v, false)
	default:
		period := uint64(6) // llama.cpp's default for Gemma 3
		if p, err := f.Uint(key); err == nil {
			period = p
		}
		// Layer l is local when l mod period < period − 1.
		global = period <= 1 || n >= period
	}
	if !global {
		return fmt.Errorf("llama: %s: every one of its %d Gemma 3 layers is a sliding-window layer (%s), which llama.cpp cannot run (it needs a global attention layer)", path, n, key)
	}
	return nil
}
