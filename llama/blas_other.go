//go:build !linux

package llama

import "errors"

var blasCandidates []string

func loadBLAS([]string) (string, error) {
	return "", errors.New("the BLAS backend is built on Linux only")
}
