package llama

import (
	"fmt"
	"os"
)

// checkModelFile rejects files llama.cpp would abort on or fail obscurely
// with, before llama.cpp opens them.
func checkModelFile(path string, needWeights bool) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("llama: %s is a directory, not a GGUF file", path)
	}
	return validateGGUF(path, needWeights)
}
