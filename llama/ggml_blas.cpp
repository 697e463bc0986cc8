//go:build linux

// ggml's BLAS backend, compiled from the pinned ollama module's own source
// (its Go package builds it only on macOS, with Accelerate). The Makefile puts
// ggml-blas/ and ggml's src/ on the include path; its <cblas.h> is
// blas/cblas.h, bound at run time by blas_loader.c.
#include "ggml-blas.cpp"
