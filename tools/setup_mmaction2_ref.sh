#!/usr/bin/env bash
# A separate virtual environment with MMAction2 1.2.0 for side-by-side checks (never a dependency of acrn).
#
#   bash tools/setup_mmaction2_ref.sh [VENV]        (default: $MMREF_VENV or /tmp/mmaction2-ref)
#
# mmcv-lite has no compiled ops (no 20-minute build): RoIAlign is taken from acrn by the comparison script.
# The mmaction2 wheel omits mmaction/models/localizers/drn/ (stubbed with an empty DRN class) and
# bbox_head.py imports mmdet's SamplingResult (training only; mmdet needs compiled mmcv): stubbed too.
set -euo pipefail
VENV="${1:-${MMREF_VENV:-/tmp/mmaction2-ref}}"
PY="${PYTHON:-python3}"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0 numpy mmengine==0.10.7 "mmcv-lite==2.1.0"
"$VENV/bin/pip" install -q --no-deps mmaction2==1.2.0
"$VENV/bin/pip" install -q importlib_metadata einops scipy opencv-python-headless
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
DRN="$SITE/mmaction/models/localizers/drn"
mkdir -p "$DRN"
cat > "$DRN/__init__.py" <<'PYEOF'
PYEOF
cat > "$DRN/drn.py" <<'PYEOF'
"""Stub: the mmaction2 1.2.0 wheel omits this package; DRN is not used by the ACRN reference."""
from torch import nn


class DRN(nn.Module):
    pass
PYEOF
# mmdet stub: only the names bbox_head.py imports at module level.
MMDET="$SITE/mmdet"
if [ ! -f "$MMDET/__acrn_stub__" ]; then
  mkdir -p "$MMDET/models/task_modules/samplers"
  touch "$MMDET/__acrn_stub__" "$MMDET/__init__.py" "$MMDET/models/__init__.py" "$MMDET/models/task_modules/__init__.py"
  echo "class SamplingResult:  # stub for mmaction's bbox_head import (training only)
    pass" > "$MMDET/models/task_modules/samplers/__init__.py"
fi
# acrn itself (for its RoIAlign and the importer), without its dependencies beyond those present.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$VENV/bin/pip" install -q --no-deps -e "$ROOT"
"$VENV/bin/pip" install -q pyyaml tqdm
"$VENV/bin/python" -c "import mmaction.models.backbones.resnet3d_slowfast, mmaction.models.roi_heads.shared_heads.acrn_head; print('mmaction2 reference ready in $VENV')"
