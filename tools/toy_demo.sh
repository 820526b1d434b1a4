#!/usr/bin/env bash
# The main job on the embedded default dataset: generate the toy LPR4M set
# (demo preset) and print its statistics.
#   bash tools/toy_demo.sh [OUT_DIR] [SEED]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/data/toy_lpr4m}"
SEED="${2:-0}"
PY="${PYTHON:-python}"

# Regenerate from scratch (only ever deletes a folder this tool wrote).
if [[ -f "$OUT/meta.json" ]] && grep -q '"generator": "lpr toy LPR4M"' "$OUT/meta.json"; then
    rm -rf "$OUT"
fi
"$PY" "$ROOT/tools/dataset_converters/make_toy_lpr4m.py" \
    --out "$OUT" --preset demo --seed "$SEED" --shards
