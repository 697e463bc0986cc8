// The part of the CBLAS/OpenBLAS interface that ggml-blas.cpp uses, bound at
// run time: ggml_blas.cpp includes this file instead of a system <cblas.h>
// (the llama package puts this folder first on the include path), and
// blas_loader.c fills the functions from a BLAS library opened with dlopen.
// Loading it ourselves lets a binary run where no BLAS is installed and lets
// us set OpenBLAS's thread timeout before its constructor reads it (see
// blas.go).
#ifndef SPECTRUM_CBLAS_H
#define SPECTRUM_CBLAS_H

// Makes ggml-blas.cpp take its OpenBLAS branches (thread count per call,
// device description).
#define OPENBLAS_VERSION "OpenBLAS (loaded at run time)"
#define OPENBLAS_SEQUENTIAL 0
#define OPENBLAS_THREAD 1
#define OPENBLAS_OPENMP 2

typedef enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 } CBLAS_ORDER;
typedef enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 } CBLAS_TRANSPOSE;

#ifdef __cplusplus
extern "C" {
#endif

void spectrum_cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
                          int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc);
void spectrum_openblas_set_num_threads(int n);
int spectrum_openblas_get_parallel(void);

#ifdef __cplusplus
}
#endif

#define cblas_sgemm spectrum_cblas_sgemm
#define openblas_set_num_threads spectrum_openblas_set_num_threads
#define openblas_get_parallel spectrum_openblas_get_parallel

#endif
