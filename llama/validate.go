package llama

import (
	"fmt"
	"os"
)

// validateGGUF: TEMPORARY until models.Open lands.
func validateGGUF(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < 4 || string(b[:4]) != "GGUF" {
		return fmt.Errorf("llama: %s is not a GGUF file", path)
	}
	return nil
}
