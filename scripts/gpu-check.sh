#!/usr/bin/env bash
# GPU verification for spectrum (issue: CUDA backend, inference, sampling,
# evaluation and LoRA training on an NVIDIA GPU).
#
#   scripts/gpu-check.sh prepare   # on the build machine (has Go): writes gpu-kit/
#   scripts/gpu-check.sh run       # on the GPU machine (nvcc + CMake, no Go needed)
#
# prepare builds a portable bin/spectrum (-march=x86-64-v3) and copies into
# gpu-kit/ what the GPU machine needs: the binary, the pinned ollama module's
# CMake files and ggml sources (to build ggml-cuda there), and the small test
# models. run builds libggml-cuda.so, then checks, GPU against CPU with the
# same binary: the stories260K golden text fully offloaded; greedy sampling
# equality; steerability NLL of a fixed row set (≤ 1e-3 relative); LoRA
# training losses on the GPU vs the CPU; and throughput (sampling
# completions/s, scoring tokens/s, training tokens/s) on synthetic
# 135M- and 1B-shaped Q8_0 models, and Gemma 3 270M when prepared with
# WITH_GEMMA=1 (the kit then exceeds the device tool's 64 MiB carry limit).
# Logs and figures go to $OUT (or gpu-out/).
# Set CPU_ONLY=1 to dry-run the run phase on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=${KIT:-gpu-kit}

prepare() {
	local mod
	mod=$(go list -m -f '{{.Dir}}' github.com/ollama/ollama)
	make build CPUFLAGS=-march=x86-64-v3
	rm -rf "$KIT" && mkdir -p "$KIT/ollama/ml/backend/ggml" "$KIT/models"
	cp bin/spectrum "$KIT/"
	cp "$mod/CMakeLists.txt" "$mod/CMakePresets.json" "$KIT/ollama/"
	cp -r "$mod/ml/backend/ggml/ggml" "$KIT/ollama/ml/backend/ggml/"
	chmod -R u+w "$KIT"
	cp ../shared/models/stories260K.gguf ../shared/models/stories260K.greedy200.txt "$KIT/models/"
	"$KIT/spectrum" suite generate negative_binomial geometric_beta --rows 24 --seed 7 -o "$KIT/models/steer.jsonl"
	# Gemma 3 270M (253 MB) only when asked: the device tool carries 64 MiB.
	local gemma=${SPECTRUM_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/models}/gemma-3-270m-q4_k_m.gguf
	if [ -n "${WITH_GEMMA:-}" ] && [ -f "$gemma" ]; then cp "$gemma" "$KIT/models/"; fi
	cp scripts/gpu-check.sh "$KIT/"
	du -sh "$KIT"
	echo "carry $KIT and run: bash $KIT/gpu-check.sh run"
}

run() {
	local here out s m
	here=$(cd "$(dirname "$0")" && pwd)
	[ -f "$here/spectrum" ] || here=$PWD/$KIT
	out=${OUT:-gpu-out}
	mkdir -p "$out"
	exec > >(tee "$out/gpu-check.log") 2>&1
	s=$here/spectrum
	m=$here/models
	nproc_=$(nproc)
	if [ -z "${CPU_ONLY:-}" ]; then
		nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
		local t0=$SECONDS
		cmake -S "$here/ollama" -B "$here/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
			-DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES:-90}" > "$out/cmake-configure.log"
		cmake --build "$here/build" --target ggml-cuda -j "$nproc_" > "$out/cmake-build.log"
		echo "ggml-cuda built in $((SECONDS - t0)) s"
		export SPECTRUM_BACKEND_PATH=$here/build/lib/ollama
	fi
	"$s" devices
	local gpu="--gpu-layers all" dev=cuda
	[ -n "${CPU_ONLY:-}" ] && dev=cpu

	echo "== 1. stories260K golden text, all layers on the GPU"
	"$s" generate "$m/stories260K.gguf" -n 200 --temp 0 $gpu > "$out/golden.txt"
	if [ "$(cat "$out/golden.txt")" = " $(cat "$m/stories260K.greedy200.txt")" ]; then echo "golden: PASS"; else echo "golden: FAIL"; fi

	echo "== 2. greedy sampling, GPU vs CPU"
	"$s" sample "$m/stories260K.gguf" -p "Once upon a time" -n 8 --max-tokens 48 --temp 0 -q $gpu > "$out/sample-gpu.txt"
	"$s" sample "$m/stories260K.gguf" -p "Once upon a time" -n 8 --max-tokens 48 --temp 0 -q > "$out/sample-cpu.txt"
	if cmp -s "$out/sample-gpu.txt" "$out/sample-cpu.txt"; then echo "sampling: PASS"; else echo "sampling: FAIL"; fi

	echo "== 3. steerability NLL, GPU vs CPU"
	"$s" eval steer "$m/stories260K.gguf" --rows "$m/steer.jsonl" --select-max-len 512 --kv-type f32 -q $gpu --rows-out "$out/steer-gpu.jsonl" > /dev/null
	"$s" eval steer "$m/stories260K.gguf" --rows "$m/steer.jsonl" --select-max-len 512 --kv-type f32 -q --rows-out "$out/steer-cpu.jsonl" > /dev/null
	python3 - "$out/steer-gpu.jsonl" "$out/steer-cpu.jsonl" <<'PY'
import json, sys
def losses(p):
    out = []
    for line in open(p):
        r = json.loads(line)
        for o in r.get("outputs", []):
            out.append(o["loss"])
    return out
g, c = losses(sys.argv[1]), losses(sys.argv[2])
assert len(g) == len(c) and g, (len(g), len(c))
worst = max(abs(a - b) / max(abs(b), 1e-9) for a, b in zip(g, c))
print(f"steer NLL: {len(g)} outputs, worst relative difference {worst:.2e}:", "PASS" if worst <= 1e-3 else "FAIL")
PY

	echo "== 4. LoRA training, GPU vs CPU (stories260K, 6 steps)"
	for d in $dev cpu; do
		"$s" tune "$m/stories260K.gguf" --device "$d" --tasks coinflip --rows-per-task 24 --max-length 128 --rank 8 --lr 1e-3 \
			--max-steps 6 --grad-accum 2 --eval-tasks none --checkpoint-dir "$out/tune-$d" -o "$out/tune-$d/a.gguf" -q > "$out/tune-$d.json"
	done
	python3 - "$out/tune-$dev/train-log.jsonl" "$out/tune-cpu/train-log.jsonl" <<'PY'
import json, sys
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if '"loss"' in l]
g, c = losses(sys.argv[1]), losses(sys.argv[2])
worst = max(abs(a - b) / abs(b) for a, b in zip(g, c))
print("GPU losses", [round(x, 5) for x in g]); print("CPU losses", [round(x, 5) for x in c])
print(f"training: worst relative loss difference {worst:.2e}:", "PASS" if worst <= 1e-3 else "FAIL")
PY

	echo "== 5. throughput, GPU vs CPU ($nproc_ CPU threads)"
	local presets=${PRESETS-135M 1B}
	[ -f "$m/gemma-3-270m-q4_k_m.gguf" ] && presets="$presets gemma"
	for preset in $presets; do
		local syn=$out/synth-$preset-q8_0.gguf
		[ $preset = gemma ] && syn=$m/gemma-3-270m-q4_k_m.gguf
		[ -f "$syn" ] || "$s" synth "$preset" --type q8_0 -o "$syn" > /dev/null
		for where in gpu cpu; do
			local flags="" d=cpu
			[ $where = gpu ] && flags=$gpu && d=$dev
			local t=$SECONDS
			"$s" sample "$syn" -p "The quick brown fox jumps over the lazy dog" -n 64 --max-tokens 64 --parallel 32 -q $flags --threads "$nproc_" > /dev/null
			echo "$preset $where sampling: 64 completions x 64 tokens in $((SECONDS - t)) s"
			t=$SECONDS
			"$s" eval steer "$syn" --rows "$m/steer.jsonl" --select-max-len 512 -q $flags --threads "$nproc_" > /dev/null
			echo "$preset $where steer scoring: $((SECONDS - t)) s"
			"$s" tune "$syn" --device $d --tasks coinflip --rows-per-task 8 --max-length 256 --max-steps 2 --grad-accum 2 \
				--eval-tasks none --threads "$nproc_" --checkpoint-dir "$out/tp-$preset-$where" -o "$out/tp-$preset-$where/a.gguf" -q \
				| python3 -c "import json,sys; d=json.load(sys.stdin); print('$preset $where training: %.1f tokens/s' % d['tokens_per_s'])"
		done
	done
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
*) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
