//go:build linux

package llama

/*
#cgo CXXFLAGS: -std=c++17
#cgo CPPFLAGS: -I${SRCDIR}/blas
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include <ggml-backend.h>
#include <ggml-blas.h>

const char *spectrum_blas_load(const char *lib);
const char *spectrum_blas_config(void);

static void spectrum_register_blas(void) { ggml_backend_register(ggml_backend_blas_reg()); }
*/
import "C"

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// blasCandidates are the libraries tried when SPECTRUM_BLAS names none:
// oneMKL where `make mkl` put it (faster on Intel CPUs), then OpenBLAS as
// Debian/Ubuntu (libopenblas0), Fedora and Arch install it.
func blasCandidates() []string {
	var out []string
	if lib := filepath.Join(MKLDir(), "libmkl_rt.so.3"); fileExists(lib) {
		out = append(out, lib)
	}
	return append(out, "libopenblas.so.0", "libopenblas.so")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// loadBLAS opens the first library of libs that has cblas_sgemm and
// registers ggml's BLAS backend over it. It returns the library's
// description.
func loadBLAS(libs []string) (string, error) {
	var errs []string
	for _, lib := range libs {
		cl := C.CString(lib)
		e := C.spectrum_blas_load(cl)
		C.free(unsafe.Pointer(cl))
		if e != nil {
			errs = append(errs, C.GoString(e))
			continue
		}
		C.spectrum_register_blas()
		desc := strings.TrimSpace(C.GoString(C.spectrum_blas_config()))
		if desc == "" {
			desc = lib
		}
		return desc, nil
	}
	return "", errors.New(strings.Join(errs, "; "))
}
