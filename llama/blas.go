package llama

import (
	"fmt"

	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/charmbracelet/log"
)

// BLASEnv names the environment variable that chooses the BLAS library:
// unset or empty, oneMKL where `make mkl` installed it (MKLDir), else the
// first OpenBLAS found (libopenblas.so.0); "off" (or
// "0"), none; anything else, the file name or path of a library with the
// CBLAS interface to dlopen. Benchmarks compare both settings in separate
// processes this way, and a user can rule BLAS out when numbers look wrong.
const BLASEnv = "SPECTRUM_BLAS"

var (
	blasOnce sync.Once
	blasLib  string
	blasErr  error
)

// initBLAS opens the BLAS library and registers ggml's BLAS backend, once.
// It must run before any llama.cpp context or ggml scheduler is made: both
// take their devices from ggml's registry.
func initBLAS() {
	blasOnce.Do(func() {
		libs := blasCandidates()
		switch v := strings.TrimSpace(os.Getenv(BLASEnv)); strings.ToLower(v) {
		case "":
		case "off", "0", "false", "no", "none":
			blasErr = fmt.Errorf("turned off by %s=%s", BLASEnv, v)
			return
		default:
			libs = []string{v}
		}
		blasLib, blasErr = loadBLAS(libs)
		if blasErr != nil && len(libs) == 1 && libs[0] == os.Getenv(BLASEnv) {
			// The user named a library and it cannot serve: say so once,
			// rather than only in --version.
			l := Logger
			if l == nil {
				l = log.Default()
			}
			l.Warn(fmt.Sprintf("%s=%s: %v; using ggml's CPU kernels", BLASEnv, libs[0], blasErr))
		}
	})
}

// MKLDir is where `make mkl` installs oneMKL's libraries: $SPECTRUM_MKL,
// else spectrum/mkl in the user's cache folder.
func MKLDir() string {
	if d := os.Getenv("SPECTRUM_MKL"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "spectrum", "mkl")
	}
	return filepath.Join(os.TempDir(), "spectrum-mkl")
}

// BLAS names the BLAS library that runs ggml's large F32 matrix products in
// this process (OpenBLAS with its build configuration, or oneMKL's version),
// or returns "" and
// why there is none.
//
// ggml's BLAS backend (compiled from the pinned module's ggml-blas.cpp) is
// an accelerator device beside the CPU: llama.cpp contexts give it the
// matmuls of batches with at least 32 tokens (prompt processing, scoring),
// and the LoRA trainer its matmuls and out_prods with F32 operands and at
// least 32 rows. Quantized weights are dequantized to F32 for it, so its
// results differ from the CPU kernels' (which quantize activations) by
// about the activation-quantization error, and they are closer to an F32
// model's. Token-by-token generation stays on ggml's kernels. The library
// is opened at run time (dlopen), so a binary runs without it.
func BLAS() (string, error) {
	Init()
	return blasLib, blasErr
}
