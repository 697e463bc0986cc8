#!/usr/bin/env bash
# The Spectrum Tuning demonstration on 2 CPU cores (see README, "Demonstration").
#
# Base model: stories260K (no turn tokens, so the colon format). It is
# Spectrum-tuned on built-in offline train tasks and evaluated, base vs tuned,
# on held-out tasks never seen in training — whole task families are held out
# (negative binomial, beta-geometric, hypergeometric, multinomial; the
# test-split flight task's rows are too long for this 2048-token model's
# k selection at 512 tokens) — for steerability, coverage (the offline coverage
# tasks) and distributional alignment (urn, states). The same training runs
# for a few steps on a synthetic SmolLM2-135M-shaped Q8_0 model to report
# throughput at a realistic width.
#
# Outputs go to $OUT (default demo-out/): the adapter, train-log.jsonl,
# results.json, table.md, curves.svg, and throughput-135m.json.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SPECTRUM:-bin/spectrum}
M=${MODELS:-../shared/models}
OUT=${OUT:-demo-out}
BASE=$M/stories260K.gguf
TRAIN=${TRAIN:-coinflip,normal,cards,poisson,geometric,binomial,categorical,zipfian}
HELDOUT=${HELDOUT:-negative_binomial,geometric_beta,hypergeometric,multinomial}
ROWS=${ROWS:-100}
mkdir -p "$OUT"
t0=$(date +%s)

echo "== rows for the held-out evaluation" >&2
"$S" suite generate ${HELDOUT//,/ } --rows 48 --seed 7 -o "$OUT/heldout.jsonl"

echo "== Spectrum-tuning stories260K on: $TRAIN" >&2
"$S" tune "$BASE" --tasks "$TRAIN" --rows-per-task "$ROWS" --max-length 256 \
	--rank 16 --alpha 32 --lr 2e-3 --schedule cosine --warmup 0.05 --batch-tokens 2048 \
	--eval-tasks none --checkpoint-dir "$OUT/run" --seed 42 -o "$OUT/adapter.gguf" > "$OUT/train-summary.json"

echo "== evaluating base vs tuned" >&2
"$S" eval steer "$BASE" --rows "$OUT/heldout.jsonl" --select-max-len 512 --compare "$BASE+$OUT/adapter.gguf" \
	-o "$OUT/steer.json" --plot "$OUT/curves.svg" > "$OUT/steer.md"
"$S" eval coverage "$BASE" -n 50 --compare "$BASE+$OUT/adapter.gguf" -o "$OUT/coverage.json" > "$OUT/coverage.md"
"$S" eval dist "$BASE" --tasks urn,states --n-rows 200 --compare "$BASE+$OUT/adapter.gguf" \
	-o "$OUT/dist.json" > "$OUT/dist.md"
cat "$OUT/steer.md" "$OUT/coverage.md" "$OUT/dist.md" > "$OUT/table.md"

echo "== training throughput on a synthetic 135M-shaped Q8_0 model" >&2
SYN=$OUT/synth-135m-q8_0.gguf
[ -f "$SYN" ] || "$S" synth 135M --type q8_0 -o "$SYN" > /dev/null
"$S" tune "$SYN" --tasks coinflip --rows-per-task 8 --max-length 256 --rank 16 --max-steps 3 \
	--grad-accum 1 --eval-tasks none --checkpoint-dir "$OUT/run-135m" -o "$OUT/adapter-135m.gguf" > "$OUT/throughput-135m.json"

cat "$OUT/table.md"
echo "training: $(cat "$OUT/train-summary.json" | tr -d '\n ')"
echo "135M throughput: $(cat "$OUT/throughput-135m.json" | tr -d '\n ')"
echo "demo took $(( $(date +%s) - t0 )) s" >&2
