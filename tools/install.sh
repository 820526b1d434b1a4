#!/usr/bin/env bash
# Install the LPR plugin and its OpenMMLab stack into the active Python
# environment (use a virtual environment).
#
#   bash tools/install.sh            # CPU machine: CPU kernels for mmcv ops
#   FORCE_CUDA=1 bash tools/install.sh   # GPU node with nvcc: CUDA kernels too
#
# Environment knobs:
#   PYTHON           interpreter to use (default: python)
#   LPR_WHEEL_CACHE  where the compiled mmcv wheel is kept (default: ~/.cache/lpr/wheels)
#   LPR_SKIP_TORCH=1 keep the torch/torchvision already installed (GPU nodes, torch <= 2.13)
#   MAX_JOBS         parallel compile jobs for mmcv (default: nproc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
PIP=("$PY" -m pip install --disable-pip-version-check)
start=$(date +%s)

echo "[install] python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# 1. torch first (mmcv compiles against it), plus build tools.
if [[ "${LPR_SKIP_TORCH:-0}" == "1" ]]; then
    grep -vE '^(torch|torchvision)==' "$ROOT/requirements/build.txt" > /tmp/lpr_build_req.txt
    "${PIP[@]}" -r /tmp/lpr_build_req.txt
else
    "${PIP[@]}" -r "$ROOT/requirements/build.txt"
fi

# 2. mmcv 2.1.0 (full, with ops) built from source against *this* torch.
#    The wheel is cached under a key made of python, torch and CUDA-ness, so a
#    wheel built against another torch is never reused (pip's own wheel cache
#    does not key on torch).
KEY=$("$PY" - <<'EOF'
import os, sys, torch
cuda = 'cuda' if (os.environ.get('FORCE_CUDA') == '1' or torch.cuda.is_available()) else 'cpu'
print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.replace('+', '_')}-{cuda}")
EOF
)
WHEEL_DIR="${LPR_WHEEL_CACHE:-$HOME/.cache/lpr/wheels}/$KEY"
mkdir -p "$WHEEL_DIR"
if ! compgen -G "$WHEEL_DIR/mmcv-2.1.0-*.whl" > /dev/null; then
    echo "[install] building mmcv 2.1.0 for $KEY (about 10-15 min on 2 cores)"
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 \
        "$PY" -m pip wheel --no-deps --no-cache-dir --no-build-isolation \
        -w "$WHEEL_DIR" mmcv==2.1.0
else
    echo "[install] reusing mmcv wheel from $WHEEL_DIR"
fi
"${PIP[@]}" --force-reinstall --no-deps "$WHEEL_DIR"/mmcv-2.1.0-*.whl
"${PIP[@]}" addict packaging pyyaml yapf

# 3. OpenMMLab packages. mmaction2 1.2.0 hard-requires decord and
#    opencv-contrib-python (a second cv2), so it goes in without deps; the
#    plugin uses only its transforms and datasets.
"${PIP[@]}" -r "$ROOT/requirements/runtime.txt"
"${PIP[@]}" --no-deps mmaction2==1.2.0
"${PIP[@]}" -r "$ROOT/requirements/tests.txt"
# The HTTP service (tools/deployment/serve.py) and its tests.
"${PIP[@]}" -r "$ROOT/requirements/serve.txt"
# mim (`mim search/train/test lpr` on an installed wheel); see
# requirements/mim.txt for why openmim goes in without its dependencies.
"${PIP[@]}" -r "$ROOT/requirements/mim.txt"
"${PIP[@]}" --no-deps openmim==0.3.9

# 4. The plugin itself (editable, so configs and tools use this checkout).
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$PY" - <<'EOF'
import torch, mmcv, mmengine, mmdet, mmpretrain, mmaction
from mmcv.ops import nms  # noqa: F401  (compiled ops present)
import lpr
print(f'[install] torch {torch.__version__} | mmcv {mmcv.__version__} | '
      f'mmengine {mmengine.__version__} | mmdet {mmdet.__version__} | '
      f'mmpretrain {mmpretrain.__version__} | mmaction2 {mmaction.__version__} | '
      f'lpr {lpr.__version__}')
EOF
echo "[install] done in $(( $(date +%s) - start )) s"
