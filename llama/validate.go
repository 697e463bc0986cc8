package llama

import (
	"fmt"

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
	return nil
}
