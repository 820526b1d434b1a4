#!/usr/bin/env bash
# RICE ablation on the toy LPR4M set: ICL / +PMD / +PFR / +text, each trained
# with several seeds, each tested with embedding ranking and (PMD variants)
# with PMD re-ranking of the top 5; prints R@k mean ± std over seeds.
#   bash tools/analysis_tools/toy_ablation.sh [DATA_ROOT] [WORK_DIR]
# EPOCHS (default 10) shortens the toy recipe's 20-epoch schedule; SEEDS
# (default "0 1 2") picks the seeds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="${1:-$ROOT/data/toy_lpr4m}"
WORK="${2:-$ROOT/work_dirs/toy_ablation}"
EPOCHS="${EPOCHS:-10}"
SEEDS="${SEEDS:-0 1 2}"
PY="${PYTHON:-python}"
cd "$ROOT"

source tools/misc/toy_options.sh
toy_data_opts "$DATA"
toy_schedule_opts "$EPOCHS"

declare -A CONFIGS=(
    [ICL]=configs/rice/rice-icl_r18-slim_1xb32-20e_toy-lpr4m.py
    [ICL+PMD]=configs/rice/rice-icl-pmd_r18-slim_1xb32-20e_toy-lpr4m.py
    [ICL+PMD+PFR]=configs/rice/rice_r18-slim_1xb32-20e_toy-lpr4m.py
    [ICL+PMD+PFR+text]=configs/rice/rice-text_r18-slim_1xb32-20e_toy-lpr4m.py
)
ORDER=(ICL ICL+PMD ICL+PMD+PFR ICL+PMD+PFR+text)
declare -A PREDS
for seed in $SEEDS; do
    for name in "${ORDER[@]}"; do
        cfg="${CONFIGS[$name]}"
        wd="$WORK/${name//+/_}/seed$seed"
        mkdir -p "$wd"
        if [[ ! -f "$wd/epoch_$EPOCHS.pth" ]]; then
            run_quiet "$wd/train.log" "$PY" tools/train.py "$cfg" --work-dir "$wd" \
                --cfg-options "randomness.seed=$seed" "${TOY_DATA_OPTS[@]}" \
                "${TOY_SCHEDULE_OPTS[@]}"
        fi
        run_quiet "$wd/test.log" "$PY" tools/test.py "$cfg" "$wd/epoch_$EPOCHS.pth" \
            --work-dir "$wd" --out "$wd/preds.pkl" --cfg-options "${TOY_DATA_OPTS[@]}"
        PREDS[$name]+="${PREDS[$name]:+,}$wd/preds.pkl"
        if [[ "$name" != ICL ]]; then
            rr="$name+re-rank"
            run_quiet "$wd/test_rerank.log" "$PY" tools/test.py "$cfg" \
                "$wd/epoch_$EPOCHS.pth" --work-dir "$wd" --out "$wd/preds_rerank.pkl" \
                --cfg-options "${TOY_DATA_OPTS[@]}" model.rerank.top_k=5
            PREDS[$rr]+="${PREDS[$rr]:+,}$wd/preds_rerank.pkl"
        fi
        echo "done: $name seed $seed"
    done
done
args=()
for name in ICL ICL+PMD ICL+PMD+re-rank ICL+PMD+PFR ICL+PMD+PFR+re-rank \
        ICL+PMD+PFR+text ICL+PMD+PFR+text+re-rank; do
    args+=("RICE $name=${PREDS[$name]}")
done
"$PY" tools/analysis_tools/retrieval_report.py --data-root "$DATA" --preds "${args[@]}"
