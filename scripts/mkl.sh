#!/usr/bin/env bash
# make mkl: installs oneMKL's shared libraries (PyPI `mkl`, pinned and
# sha256-checked below) into a cache folder, where spectrum opens
# libmkl_rt.so.3 at run time for ggml's BLAS backend (llama/blas.go). On
# Intel CPUs it beats OpenBLAS (measured on a 2-core Xeon: training 1.2x,
# scoring 1.16x); without it spectrum uses OpenBLAS, or ggml's own kernels.
#
# Only the wheel is downloaded (--no-deps; nothing is installed into
# Python); the libraries SGEMM needs are copied out of it (~520 MB): the
# runtime dispatcher, the core, the LP64 interface, the sequential and GNU
# OpenMP threading layers and the CPU-specific kernels.
#
# Where: $SPECTRUM_MKL, else ${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/mkl.
set -euo pipefail

VERSION=2026.2.0
WHEEL=mkl-$VERSION-py2.py3-none-manylinux_2_28_x86_64.whl
SHA256=eaab1875ce9f47ab3c66d5632cef06baf768c05781f2f28847bdbc4343500ed7
DIR=${SPECTRUM_MKL:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/mkl}
PY=${PYTHON:-python3}
LIBS="libmkl_rt.so.3 libmkl_core.so.3 libmkl_intel_lp64.so.3 libmkl_sequential.so.3 libmkl_gnu_thread.so.3
libmkl_def.so.3 libmkl_mc3.so.3 libmkl_avx2.so.3 libmkl_avx512.so.3 libmkl_avx10.so.3"

if [ "$(uname -m)" != x86_64 ] || [ "$(uname -s)" != Linux ]; then
	echo "mkl: oneMKL wheels exist for x86-64 Linux only; skipped (OpenBLAS serves elsewhere)"
	exit 0
fi
if [ -f "$DIR/.complete" ] && [ "$(cat "$DIR/.complete")" = "$SHA256" ]; then
	echo "mkl: $DIR (oneMKL $VERSION) is in place"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "mkl: fetching oneMKL $VERSION from PyPI (221 MB wheel, once)"
"$PY" -m pip download -q --disable-pip-version-check --no-deps "mkl==$VERSION" -d "$tmp"
echo "$SHA256  $tmp/$WHEEL" | sha256sum -c --status || { echo "mkl: sha256 mismatch for $WHEEL" >&2; exit 1; }
"$PY" - "$tmp/$WHEEL" "$tmp/lib" $LIBS <<'PY'
import os, sys, zipfile
wheel, out, libs = sys.argv[1], sys.argv[2], set(sys.argv[3:])
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if os.path.basename(n) in libs:
            with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), "wb") as dst:
                dst.write(src.read())
missing = libs - set(os.listdir(out))
if missing:
    sys.exit("mkl: the wheel lacks " + ", ".join(sorted(missing)))
PY
rm -rf "$DIR.new"
mv "$tmp/lib" "$DIR.new"
rm -rf "$DIR"
mv "$DIR.new" "$DIR"
echo "$SHA256" >"$DIR/.complete"
echo "mkl: $DIR ($(du -sh "$DIR" | cut -f1))"
