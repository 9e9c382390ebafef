#!/usr/bin/env bash
# Create or reuse .venv with acrn installed (idempotent).
#
# torch is installed first and then held by a pip constraint: any unpinned
# requirement would otherwise pull the newest multi-GB CUDA build.
#   ACRN_TORCH   torch requirement to install (default: torch==2.13.0, the CPU wheel)
#   ACRN_VENV    where the environment lives (default: .venv)
#   ACRN_SYSTEM_SITE=1  create the venv with --system-site-packages, to reuse a
#                torch that is already installed (e.g. a CUDA build on a GPU server)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ACRN_VENV:-.venv}"
TORCH_REQ="${ACRN_TORCH:-torch==2.13.0}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  if [ "${ACRN_SYSTEM_SITE:-0}" = "1" ]; then
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi

# Re-install only when pyproject.toml or the torch requirement changed.
STAMP="$VENV/.acrn-installed"
WANT="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$TORCH_REQ"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi

"$VENV/bin/python" -m pip install --quiet --upgrade pip
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet "$TORCH_REQ"
fi
# Hold whatever torch is now installed (CPU wheel here, the user's CUDA build elsewhere).
TORCH_VER="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
echo "torch==$TORCH_VER" > "$VENV/constraints.txt"
PIP_CONSTRAINT="$VENV/constraints.txt" "$VENV/bin/python" -m pip install --quiet -e ".[test]"
echo "$WANT" > "$STAMP"
