package llama

import (
	"github.com/spectrumkit/spectrum/models"
)

// validateGGUF parses the header, metadata and tensor table in pure Go and
// checks every count, type and offset against the file size: llama.cpp
// aborts the whole process on some malformed files.
func validateGGUF(path string) error {
	f, err := models.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
