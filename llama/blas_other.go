//go:build !linux

package llama

import "errors"

func blasCandidates() []string { return nil }

func loadBLAS([]string) (string, error) {
	return "", errors.New("the BLAS backend is built on Linux only")
}
