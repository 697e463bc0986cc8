#!/usr/bin/env bash
# make pypeer: installs the reference stack the paper's code runs on
# (PyPI: torch, transformers, peft, trl, gguf, safetensors, scipy; pinned
# below) into its own virtual environment. Tests and benchmarks that compare
# spectrum with it run its Python beside our code; nothing is downloaded
# while they run.
#
# torch from PyPI is the CUDA build; it runs on the CPU here. The venv is
# about 6 GiB (torch and its nvidia-* wheels) and takes a few minutes to
# install once; pip keeps the wheels in its cache.
#
# Where: $SPECTRUM_PYPEER, else ${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/pypeer.
# Go code finds it with internal/testmodels.PyPeerPython.
set -euo pipefail

PINS=(
	torch==2.15.0
	transformers==5.23.0
	peft==0.21.2
	trl==1.16.0
	gguf==0.19.0
	safetensors==0.8.0
	scipy==1.17.1
	sentencepiece==0.2.3
)
DIR=${SPECTRUM_PYPEER:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/pypeer}
PY=${PYTHON:-python3}
STAMP="${PINS[*]}"

if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$STAMP" ] && "$DIR/bin/python" -c "import torch, transformers, peft, trl, gguf, safetensors, scipy" 2>/dev/null; then
	echo "pypeer: $DIR is in place"
	exit 0
fi
if ! "$PY" -m venv --help >/dev/null 2>&1; then
	echo "pypeer: python3 -m venv is needed (Debian: apt-get install python3-venv)" >&2
	exit 1
fi
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
echo "pypeer: installing ${PINS[*]} into $DIR (about 6 GiB, a few minutes, once)"
start=$(date +%s)
"$PY" -m venv "$DIR"
"$DIR/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}"
"$DIR/bin/python" -c "import torch, transformers, peft, trl, gguf, safetensors, scipy; print('pypeer: torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__)"
echo "$STAMP" >"$DIR/.complete"
echo "pypeer: $DIR ($(du -sh "$DIR" | cut -f1), $(($(date +%s) - start)) s)"
