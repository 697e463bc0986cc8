#!/usr/bin/env bash
# The Spectrum Tuning recipe study on Gemma 3 270M (issue 19): trains every
# configuration of study/configs.tsv that has no adapter yet, then evaluates
# all of them on held-out data in one comparison per evaluation, the base
# model in the colon format first (the reference of every paired
# difference), then the base and each tuned adapter in the spectrum format,
# on the same rows and k:
#   steer: STEER_ROWS rows of each HELDOUT task: the offline test-split ICL
#          task (flight) and the demo's held-out train-split families, which
#          no configuration trains on; k chosen on rows cut at 512 tokens;
#   coverage: all 17 offline coverage tasks, COV_N samples per variant;
#   dist: urn and states, DIST_ROWS rows each.
# Every configuration, its training summary and the held-out results with
# their paired differences are appended to study/log.jsonl (one line per
# configuration and evaluation); study/table.md holds the last tables.
# Resumable: a configuration with an adapter is not trained again.
# Optional columns after batch_tokens: extra (tables: add the extra train
# tasks of scripts/study_data.sh), train_tokens (--train-tokens), save_every
# (--save-every: adapters along the run, evaluated as learning-curve points
# when SNAPSHOTS=1). TRAIN_ONLY=1 stops after training.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SPECTRUM:-bin/spectrum}
BASE=${BASE:-${SPECTRUM_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/models}/gemma-3-270m-q4_k_m.gguf}
CONFIGS=${1:-study/configs.tsv}
OUT=${OUT:-study/out}
STEER_ROWS=${STEER_ROWS:-16}
COV_N=${COV_N:-20}
DIST_ROWS=${DIST_ROWS:-40}
HELDOUT=${HELDOUT:-flight,negative_binomial,geometric_beta,hypergeometric,multinomial}
ONLY=${ONLY:-} # comma-separated configuration names to train and evaluate (default: all)
TRAIN_ONLY=${TRAIN_ONLY:-0}
THREADS=${THREADS:-} # training threads (default: tune's)
SNAPSHOTS=${SNAPSHOTS:-0}
mkdir -p "$OUT"
[ -f "$BASE" ] || { echo "study: $BASE is missing: run \`make models\`" >&2; exit 1; }

names=()
while IFS=$'\t' read -r name steps lr rank desc tasks rows maxlen batch extra ttok save; do
	extra=${extra:-none} ttok=${ttok:-none} save=${save:-0}
	[[ -z "$name" || "$name" == \#* ]] && continue
	if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
	names+=("$name")
	run="$OUT/runs/$name"
	if [ -f "$run/$name.gguf" ]; then
		echo "== $name: trained" >&2
		continue
	fi
	mkdir -p "$run"
	more=()
	if [ "$extra" = tables ]; then
		for f in $(scripts/study_data.sh); do more+=(--rows "$f"); done
	fi
	[ "$ttok" != none ] && more+=(--train-tokens "$ttok")
	[ "$save" != 0 ] && more+=(--save-every "$save")
	echo "== training $name: $steps steps, lr $lr, rank $rank, description p $desc, $tasks × $rows rows" >&2
	t0=$(date +%s)
	"$S" tune "$BASE" ${THREADS:+-t "$THREADS"} --tasks "$tasks" --rows-per-task "$rows" --max-length "$maxlen" --rank "$rank" \
		--alpha $((2 * rank)) --lr "$lr" --schedule cosine --warmup 0.1 --batch-tokens "$batch" --max-steps "$steps" \
		--description-prob "$desc" --eval-tasks none --checkpoint-dir "$run" --seed 42 -o "$run/$name.gguf" "${more[@]}" \
		> "$run/train-summary.json" < /dev/null
	python3 - "$run" "$name" "$steps" "$lr" "$rank" "$desc" "$tasks" "$rows" "$maxlen" "$batch" "$(( $(date +%s) - t0 ))" "$extra" "$ttok" "$save" <<'PY'
import json, sys, datetime
run, name, steps, lr, rank, desc, tasks, rows, maxlen, batch, secs, extra, ttok, save = sys.argv[1:]
summary = json.load(open(run + "/train-summary.json"))
rec = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "kind": "train",
       "config": {"name": name, "steps": int(steps), "lr": float(lr), "rank": int(rank), "description_prob": float(desc),
                  "tasks": tasks.split(","), "rows_per_task": int(rows), "max_length": int(maxlen),
                  "batch_tokens": int(batch), "extra": extra, "train_tokens": ttok, "save_every": int(save)},
       "train_seconds": int(secs), "summary": summary}
open("study/log.jsonl", "a").write(json.dumps(rec) + "\n")
PY
done < "$CONFIGS"
[ ${#names[@]} -gt 0 ] || { echo "study: no configuration to evaluate" >&2; exit 1; }
[ "$TRAIN_ONLY" = 1 ] && exit 0

# A configuration's model: the base with its adapter, or, when it trains
# token rows (which a llama.cpp adapter cannot carry for Gemma's tied
# embedding), the base with the adapter merged in and requantized to the
# base's types (spectrum merge --type same).
model_of() { # config adapter.gguf
	local ttok
	ttok=$(awk -F'\t' -v n="$1" '$1==n{print $11}' "$CONFIGS")
	if [ -n "$ttok" ] && [ "$ttok" != none ]; then
		local m=${2%.gguf}-merged.gguf
		[ -f "$m" ] || "$S" merge "$BASE" --lora "$2" -o "$m" --type same >&2
		echo "$m@spectrum"
	else
		echo "$BASE+$2@spectrum"
	fi
}
CMP=(--format colon --compare "$BASE@spectrum") # finals only: coverage
CURVES=(--format colon --compare "$BASE@spectrum") # with SNAPSHOTS=1, learning-curve points too: steer, dist
for n in "${names[@]}"; do
	if [ "$SNAPSHOTS" = 1 ]; then
		for f in $(ls -v "$OUT/runs/$n/$n"-step*.gguf 2>/dev/null | grep -v -- -merged); do CURVES+=(--compare "$(model_of "$n" "$f")"); done
	fi
	CMP+=(--compare "$(model_of "$n" "$OUT/runs/$n/$n.gguf")")
	CURVES+=(--compare "$(model_of "$n" "$OUT/runs/$n/$n.gguf")")
done
for n in "${names[@]}"; do
	tasks=$(awk -F'\t' -v n="$n" '$1==n{print $6}' "$CONFIGS")
	for h in ${HELDOUT//,/ }; do
		[[ ",$tasks," == *",$h,"* ]] && { echo "study: $n trains on held-out task $h" >&2; exit 1; }
	done
done
"$S" suite generate ${HELDOUT//,/ } --rows "$STEER_ROWS" --seed 7 -o "$OUT/heldout.jsonl"
echo "== held-out steerability" >&2
"$S" eval steer "$BASE" --rows "$OUT/heldout.jsonl" --select-max-len 512 "${CURVES[@]}" -o "$OUT/steer.json" --plot "$OUT/curves.svg" > "$OUT/steer.md"
echo "== coverage" >&2
"$S" eval coverage "$BASE" -n "$COV_N" "${CMP[@]}" -o "$OUT/coverage.json" > "$OUT/coverage.md"
echo "== distributional alignment" >&2
"$S" eval dist "$BASE" --tasks urn,states --n-rows "$DIST_ROWS" "${CURVES[@]}" -o "$OUT/dist.json" > "$OUT/dist.md"
cat "$OUT/steer.md" "$OUT/coverage.md" "$OUT/dist.md" > study/table.md
python3 scripts/study_summary.py "$OUT" > study/summary.md
python3 - "$OUT" "$STEER_ROWS" "$COV_N" "$DIST_ROWS" <<'PY'
import json, sys, datetime
out, steer_rows, cov_n, dist_rows = sys.argv[1:]
rec = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "kind": "eval",
       "settings": {"steer_rows": int(steer_rows), "coverage_n": int(cov_n), "dist_rows": int(dist_rows)}}
for kind in ("steer", "coverage", "dist"):
    res = json.load(open(f"{out}/{kind}.json"))
    rec[kind] = {"models": [m["model"] + "".join("+" + a["path"] for a in m["adapters"]) + " (" + m["format"] + ")"
                            for m in res["models"]],
                 "comparisons": res.get("comparisons", [])}
open("study/log.jsonl", "a").write(json.dumps(rec) + "\n")
PY
cat study/table.md
