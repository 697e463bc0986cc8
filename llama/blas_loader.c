//go:build linux

// Binds blas/cblas.h to a BLAS library opened with dlopen (see blas.go).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include "blas/cblas.h"

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                         const float *, int, float, float *, int);

static sgemm_fn p_sgemm;
static void (*p_set_threads)(int);
static int (*p_get_parallel)(void);
static char *(*p_get_config)(void);
static void (*p_mkl_version)(char *, int);
static char mkl_version[256];

void spectrum_cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                          int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc) {
	p_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void spectrum_openblas_set_num_threads(int n) {
	if (p_set_threads) p_set_threads(n);
}

int spectrum_openblas_get_parallel(void) {
	return p_get_parallel ? p_get_parallel() : OPENBLAS_THREAD;
}

// spectrum_blas_load opens lib (OpenBLAS, oneMKL's libmkl_rt, or any
// library with cblas_sgemm) and binds its cblas_sgemm; it returns NULL on
// success, else why not. OpenBLAS's worker threads spin for 2^28 cycles after
// each call by default, which starves ggml's own spinning threads on small
// machines (measured: 3x slower training steps on 2 cores); unless the user
// set it, the timeout is cut to OpenBLAS's minimum before its constructor
// reads it.
const char *spectrum_blas_load(const char *lib) {
	setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
	// oneMKL: its threads from GNU OpenMP (libgomp, present wherever gcc
	// is), sleeping as soon as a call ends, for the same reason.
	setenv("MKL_THREADING_LAYER", "GNU", 0);
	setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		return e ? e : "dlopen failed";
	}
	sgemm_fn s = (sgemm_fn) dlsym(h, "cblas_sgemm");
	if (s == NULL) {
		dlclose(h);
		return "the library has no cblas_sgemm";
	}
	p_sgemm = s;
	p_set_threads = (void (*)(int)) dlsym(h, "openblas_set_num_threads");
	if (p_set_threads == NULL) {
		p_set_threads = (void (*)(int)) dlsym(h, "MKL_Set_Num_Threads"); // oneMKL
	}
	p_get_parallel = (int (*)(void)) dlsym(h, "openblas_get_parallel");
	p_get_config = (char *(*)(void)) dlsym(h, "openblas_get_config");
	p_mkl_version = (void (*)(char *, int)) dlsym(h, "MKL_Get_Version_String");
	return NULL;
}

const char *spectrum_blas_config(void) {
	if (p_get_config) return p_get_config();
	if (p_mkl_version) {
		p_mkl_version(mkl_version, sizeof mkl_version);
		mkl_version[sizeof mkl_version - 1] = 0;
		return mkl_version;
	}
	return "";
}
