#!/usr/bin/env bash
# Reference copies of the official AVA evaluators for side-by-side runs (benchmarks/bench_eval.py --official).
#
# Usage: tools/setup_official_evaluators.sh ACTIVITYNET_GIT_DIR [OUT_DIR]
#   ACTIVITYNET_GIT_DIR: a clone of github.com/activitynet/ActivityNet (a bare mirror works: only git is used)
#   OUT_DIR (default /tmp/acrn_official): gets ava-2018/, ava-2019/, ava-2020/ (the Evaluation folder at the
#   revision of each protocol) and venv/ (numpy < 1.24: the 2018/2019 code uses np.bool and np.float).
# Nothing is copied into this repository and nothing here is a project dependency.
set -euo pipefail
repo=${1:?usage: $0 ACTIVITYNET_GIT_DIR [OUT_DIR]}
out=${2:-/tmp/acrn_official}
mkdir -p "$out"
# revisions of Evaluation/get_ava_performance.py (git log): 2018 = distractor-frame fix (v2.1 challenge),
# 2019 = 50 detections per keyframe, 2020 = head (empty keyframes as video,timestamp rows, microseconds)
declare -A revs=([2018]=be7854e [2019]=3fee089 [2020]=af461c3)
for p in 2018 2019 2020; do
  rm -rf "$out/ava-$p" && mkdir -p "$out/ava-$p"
  git -C "$repo" archive "${revs[$p]}" Evaluation/get_ava_performance.py Evaluation/ava | tar -x -C "$out/ava-$p"
done
if [ ! -x "$out/venv/bin/python" ]; then
  python3 -m venv "$out/venv"
  "$out/venv/bin/pip" install --quiet "numpy<1.24"
fi
"$out/venv/bin/python" -c "import numpy; print('official evaluators ready in $out (numpy', numpy.__version__ + ')')"
