#!/usr/bin/env bash
# `make results`: the shapes10hard benchmark end to end on CPU, then docs/results.md's generated block.
#
#   1. the datasets (make dataset-hard, make dataset-pybullet; both resume);
#   2. one seed of each candidate recipe, scored on the validation split only (evaluate --score-split val);
#   3. the recipe with the best validation probes (scripts/results.py select) trained on two more seeds;
#   4. its three seeds evaluated on the test split — the only time the test split is read — with controls
#      and the instance test (on shapes10hard's test split and on the pybullet set, INSTANCE);
#   5. scripts/results.py write: the selection, the final tables and the targets (met or missed).
#
# Every step resumes or skips what is done, so a killed run is continued by running it again. Two jobs run at
# a time, one thread each (torch's spinning threads make two-thread jobs slower on a loaded 2-core machine).
set -euo pipefail

PY=${PY:-.venv/bin/python}
DATA=${DATA:-datasets/shapes10hard_cpu}
OUT=${OUT:-runs/hard}
DOC=${DOC:-docs/results.md}  # a smoke run: DATA=<tiny dataset> OUT=/tmp/x DOC=/tmp/results.md EPOCHS=1 BATCH=3
INSTANCE=${INSTANCE:-datasets/pybullet_cpu}  # the instance-level set (two fits per object); "" skips it
EPOCHS=${EPOCHS:-16}  # 450 train objects / 12 per step = 37 steps per epoch: ~600 steps, as the shipped bundle's recipe
BATCH=${BATCH:-12}
export OMP_NUM_THREADS=1 GS_PERCEPTION_THREADS=1 MPLBACKEND=Agg

# What every recipe shares (the documented study-setting recipe, docs/results.md section 1, plus colour
# augmentation: with random appearance colour identifies instances, not classes).
BASE=(--epochs "$EPOCHS" --batch-size "$BATCH" --optimiser adam --lr 1e-3 --sample-num-points 1024
  --sample-crop-augment 0.3 --sample-colour-augment true --model-fusion-mode compare)
declare -A RECIPE=(
  [study]="--sample-feature-groups xyz scale rot opacity"
  [augment]="--sample-feature-groups xyz scale rot opacity --sample-sampling uniform --sample-gaussian-yaw true --sample-gaussian-jitter 0.01"
  [infonce]="--sample-feature-groups xyz scale rot opacity --sample-sampling uniform --sample-gaussian-yaw true --sample-gaussian-jitter 0.01 --infonce-weight 1 --model-projection-dim 128"
  [positions]="--sample-feature-groups xyz"  # the attribute ablation: as study, positions only
  [fits]="--sample-feature-groups xyz --sample-random-fit true"  # positions, either fit of the object
)
NAMES=(study augment infonce positions fits)

if [ "$DATA" = datasets/shapes10hard_cpu ]; then make --no-print-directory dataset-hard; fi
if [ "$INSTANCE" = datasets/pybullet_cpu ]; then make --no-print-directory dataset-pybullet; fi
[ -f "$DATA/dataset.json" ] || { echo "$DATA: no dataset" >&2; exit 1; }

train() {  # recipe seed
  # shellcheck disable=SC2086  # the recipe's flags are meant to split
  $PY -m gs_perception.cli train-ssl --quiet --resume --dataset "$DATA" --out "$OUT/$1/ssl_s$2" --seed "$2" \
    "${BASE[@]}" ${RECIPE[$1]}
}

validate() {  # recipe: seed 0 scored on the validation split (skipped when done)
  [ -f "$OUT/$1/ssl_s0/checkpoints/last.pt" ] || { echo "training $1 failed" >&2; return 1; }
  [ -f "$OUT/$1/val/metrics.json" ] || $PY -m gs_perception.cli evaluate --runs "$OUT/$1/ssl_s0" \
    --out "$OUT/$1/val" --score-split val --tsne false --memory false
}

two_at_a_time() {  # command job...: run "command job" for each job, at most two at once; a failure stops all
  local command=$1
  shift
  for job in "$@"; do
    while (($(jobs -rp | wc -l) >= 2)); do wait -n; done
    # shellcheck disable=SC2086  # a job ("recipe seed") is meant to split
    $command $job &
  done
  while (($(jobs -rp | wc -l) > 0)); do wait -n; done
}

first=()
for n in "${NAMES[@]}"; do first+=("$n 0"); done
two_at_a_time train "${first[@]}"
two_at_a_time validate "${NAMES[@]}"

candidates=()
for n in "${NAMES[@]}"; do candidates+=("$n=$OUT/$n/val"); done
best=$($PY scripts/results.py select "${candidates[@]}" --out "$OUT/selection.md")
echo "chosen on validation: $best"

two_at_a_time train "$best 1" "$best 2"
instance=()
[ -z "$INSTANCE" ] || instance=(--instance-data "$INSTANCE")
$PY -m gs_perception.cli evaluate --runs "$OUT/$best/ssl_s0" "$OUT/$best/ssl_s1" "$OUT/$best/ssl_s2" \
  --out "$OUT/eval" "${instance[@]}"
$PY scripts/results.py write --doc "$DOC" --selection "$OUT/selection.md" --final "$OUT/eval" \
  --study runs/shapes10/eval
echo "$DOC updated from $OUT/eval"
