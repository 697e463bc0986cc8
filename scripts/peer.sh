#!/usr/bin/env bash
# make peer: installs the real OpenAI-compatible server the remote-backend
# tests run beside our code: llama-cpp-python's server (PyPI
# llama-cpp-python[server], pinned below), in its own virtual environment.
#
# llama-cpp-python is published as source only; pip builds its llama.cpp with
# CMake (about 8 minutes on 2 cores, once: pip keeps the wheel in its cache).
# It is built for AVX2 without -march=native: a native build enables AMX on
# CPUs that have it, and its quantized kernels then crash (seen on Xeon
# Sapphire Rapids with this version).
#
# Where: $SPECTRUM_PEER, else ${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/peer.
# The tests find it there (internal/testmodels.PeerPython); nothing is
# downloaded while tests run.
set -euo pipefail

VERSION=0.3.36
DIR=${SPECTRUM_PEER:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/peer}
PY=${PYTHON:-python3}

if [ -f "$DIR/.complete" ] && "$DIR/bin/python" -c "import llama_cpp.server, llama_cpp; assert llama_cpp.__version__ == '$VERSION'" 2>/dev/null; then
	echo "peer: $DIR (llama-cpp-python $VERSION) is in place"
	exit 0
fi
for tool in cmake g++; do
	if ! command -v $tool >/dev/null; then
		echo "peer: $tool is needed to build llama-cpp-python (Debian: apt-get install cmake g++)" >&2
		exit 1
	fi
done
if ! "$PY" -m venv --help >/dev/null 2>&1; then
	echo "peer: python3 -m venv is needed (Debian: apt-get install python3-venv)" >&2
	exit 1
fi

rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
echo "peer: building llama-cpp-python[server]==$VERSION into $DIR (about 8 minutes on 2 cores, once)"
"$PY" -m venv "$DIR"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
# --no-cache-dir: pip's wheel cache does not key on CMAKE_ARGS, so a wheel
# built earlier with other flags (say, native with AMX) would be reused.
"$DIR/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "llama-cpp-python[server]==$VERSION"
"$DIR/bin/python" -c "import llama_cpp.server"
touch "$DIR/.complete"
echo "peer: $DIR (llama-cpp-python $VERSION)"
