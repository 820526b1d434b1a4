#!/usr/bin/env bash
# Intended-product detection on the toy LPR4M set, then retrieval with the
# detected boxes (the supplementary's SD-vs-MD table):
#   1. COCO files (one "intended product" class; 3 frames per training clip)
#   2. SD: the small DAB-DETR; test → AP table + per-frame boxes JSON
#   3. MD: TransVOD Lite over the frozen SD; test → AP table + boxes JSON
#      (both tests also dump their predictions, sd.pkl / md.pkl, for
#      tools/analysis_tools/det_ap_bootstrap.py)
#   4. RICE trained with GT boxes, tested with GT / SD / MD boxes, next to
#      RICE trained and tested on whole frames (patch input)
#   bash tools/analysis_tools/toy_detect_retrieve.sh [DATA_ROOT] [WORK_DIR]
# Steps whose checkpoint exists are not retrained. RICE_EPOCHS (default 18)
# shortens the retrievers' schedule; PATCH_PREDS may point at existing
# patch-input predictions of the same backbone and schedule
# (tools/analysis_tools/rice_benchmark.py) to reuse them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="$(realpath -m "${1:-$ROOT/data/toy_lpr4m}")"
WORK="$(realpath -m "${2:-$ROOT/work_dirs/toy_ipd}")"
PY="${PYTHON:-python}"
EPOCHS="${RICE_EPOCHS:-18}"
SD_CFG=configs/ipd/dab-detr_r18-slim_1xb8-12e_toy-lpr4m.py
MD_CFG=configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py
BOX_CFG=configs/rice/rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m.py
PATCH_CFG=configs/rice/rice_r18-slim-s16_1xb32-18e_toy-lpr4m.py
cd "$ROOT"
mkdir -p "$WORK"

source tools/misc/toy_options.sh
toy_schedule_opts "$EPOCHS"

ap_table() {  # the split table IntendedProductMetric logs
    grep -A2 -E '^\| AP \| AP50' "$1" | tail -3
}

"$PY" tools/dataset_converters/lpr4m_to_coco.py "$DATA" --classes 1 \
    --frames-per-clip 3 > /dev/null
data=(--data-root "$DATA")
ret_opts=("${data[@]}" --cfg-options "${TOY_SCHEDULE_OPTS[@]}")

SD="$WORK/sd/epoch_12.pth"
[[ -f "$SD" ]] || run_quiet "$WORK/sd_train.log" "$PY" tools/train.py "$SD_CFG" \
    --work-dir "$WORK/sd" "${data[@]}"
run_quiet "$WORK/sd_test.log" "$PY" tools/test.py "$SD_CFG" "$SD" \
    --work-dir "$WORK/sd" --out-boxes "$WORK/sd_boxes.json" --out "$WORK/sd.pkl" \
    "${data[@]}"
MD="$WORK/md/epoch_3.pth"
[[ -f "$MD" ]] || run_quiet "$WORK/md_train.log" "$PY" tools/train.py "$MD_CFG" \
    --work-dir "$WORK/md" "${data[@]}" --cfg-options "load_from=$SD"
run_quiet "$WORK/md_test.log" "$PY" tools/test.py "$MD_CFG" "$MD" \
    --work-dir "$WORK/md" --out-boxes "$WORK/md_boxes.json" --out "$WORK/md.pkl" \
    "${data[@]}"
echo "Intended product detection, toy test frames (AP in %, top-1 box per frame):"
echo "SD (DAB-DETR):"; ap_table "$WORK/sd_test.log"
echo "MD (TransVOD Lite):"; ap_table "$WORK/md_test.log"
echo "(95 % intervals and MD - SD: python tools/analysis_tools/det_ap_bootstrap.py" \
    "$DATA/annotations/lpr_det_test_1cls.json SD=$WORK/sd.pkl MD=$WORK/md.pkl --diff MD-SD)"

BOX="$WORK/rice_box/epoch_$EPOCHS.pth"
[[ -f "$BOX" ]] || run_quiet "$WORK/rice_box_train.log" "$PY" tools/train.py \
    "$BOX_CFG" --work-dir "$WORK/rice_box" "${ret_opts[@]}"
preds=()
for src in gt sd md; do
    opt=()
    [[ $src == gt ]] || opt=("test_dataloader.dataset.box_file=$WORK/${src}_boxes.json")
    run_quiet "$WORK/rice_box_$src.log" "$PY" tools/test.py "$BOX_CFG" "$BOX" \
        --work-dir "$WORK/rice_box" --out "$WORK/rice_box_$src.pkl" \
        "${ret_opts[@]}" "${opt[@]}"
done
PATCH="${PATCH_PREDS:-}"
if [[ -z "$PATCH" ]]; then
    [[ -f "$WORK/rice/epoch_$EPOCHS.pth" ]] || run_quiet "$WORK/rice_train.log" "$PY" \
        tools/train.py "$PATCH_CFG" --work-dir "$WORK/rice" "${ret_opts[@]}"
    run_quiet "$WORK/rice_test.log" "$PY" tools/test.py "$PATCH_CFG" \
        "$WORK/rice/epoch_$EPOCHS.pth" --work-dir "$WORK/rice" \
        --out "$WORK/rice_patch.pkl" "${ret_opts[@]}"
    PATCH="$WORK/rice_patch.pkl"
fi
echo
echo "Detect → retrieve (toy test queries):"
"$PY" tools/analysis_tools/retrieval_report.py --data-root "$DATA" --no-baseline \
    --preds "RICE, patch input (whole frames)=$PATCH" \
            "RICE + SD boxes=$WORK/rice_box_sd.pkl" \
            "RICE + MD boxes=$WORK/rice_box_md.pkl" \
            "RICE + GT boxes=$WORK/rice_box_gt.pkl"
