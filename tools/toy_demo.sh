#!/usr/bin/env bash
# The main job on the embedded default dataset: generate the toy LPR4M set
# (demo preset), train the tiny RICE config on CPU, test it (each query
# ranked within its livestream's gallery) and print R@k next to chance and a
# colour-histogram baseline, then write a few pictures of rankings and
# training pairs.
#   bash tools/toy_demo.sh [OUT_DIR] [SEED]
# WORK_DIR (default work_dirs/toy_demo) holds checkpoints, logs, predictions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/data/toy_lpr4m}")"
SEED="${2:-0}"
WORK="$(realpath -m "${WORK_DIR:-$ROOT/work_dirs/toy_demo}")"
PY="${PYTHON:-python}"
CONFIG="$ROOT/configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py"
cd "$ROOT"

# 1. Generate (regenerate from scratch; only ever deletes a folder this
#    tool wrote).
if [[ -f "$OUT/meta.json" ]] && grep -q '"generator": "lpr toy LPR4M"' "$OUT/meta.json"; then
    rm -rf "$OUT"
fi
"$PY" tools/dataset_converters/make_toy_lpr4m.py \
    --out "$OUT" --preset demo --seed "$SEED" --shards

source tools/misc/toy_options.sh

# 2. Train (about 10 minutes on 2 CPU cores; log in $WORK/train.log).
rm -rf "$WORK/rice" && mkdir -p "$WORK"
run_quiet "$WORK/train.log" "$PY" tools/train.py "$CONFIG" --work-dir "$WORK/rice" \
    --data-root "$OUT" --cfg-options "randomness.seed=$SEED"
grep -E "Epoch\(val\)" "$WORK/train.log" \
    | sed -E 's#.*Epoch\(val\) \[([0-9]+)\]\[[0-9/]+\] +retrieval/R@1: ([0-9.]+).*#  val after epoch \1: R@1 \2#' || true

# 3. Test: dump per-query rankings; draw the rankings of 4 queries.
rm -rf "$WORK/pictures"
run_quiet "$WORK/test.log" "$PY" tools/test.py "$CONFIG" "$(cat "$WORK/rice/last_checkpoint")" \
    --work-dir "$WORK/rice" --out "$WORK/rice/preds.pkl" --data-root "$OUT" \
    --show-dir "$WORK/pictures/rankings" \
    --cfg-options default_hooks.visualization.max_pictures=4

# 4. The R@k table.
echo
"$PY" -c "import json, sys; t = json.load(open(sys.argv[1]))['stats']['test']; print(f\"Toy LPR4M test split: {t['clips']} queries from {t['livestreams']} livestreams, each ranked within its own gallery ({t['gallery_per_live']:.1f} images)\")" "$OUT/meta.json"
"$PY" tools/analysis_tools/retrieval_report.py --data-root "$OUT" \
    --preds "RICE (ICL+PMD+PFR, slim ResNet-18, 128 px, 18 epochs)=$WORK/rice/preds.pkl"

# 5. Pictures: the 4 rankings of step 3 and 3 training pairs as annotated.
run_quiet "$WORK/browse.log" "$PY" tools/analysis_tools/browse_dataset.py "$CONFIG" \
    --output-dir "$WORK/pictures/training_pairs" --max 3 --data-root "$OUT"
echo
echo "Pictures (rankings: the clip's frames above its top-5 shop images, the ground truth framed in green):"
find "$WORK/pictures" -name '*.jpg' | sort | sed 's/^/  /'
