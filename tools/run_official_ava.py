"""Run a reference copy of ActivityNet's official AVA evaluator and print one JSON line.

The copies come from ``tools/setup_official_evaluators.sh`` (OFFICIAL_DIR/ava-{2018,2019,2020} and a venv
with numpy < 1.24). Printed: wall seconds, CPU seconds, peak RSS of the evaluator's process (VmHWM), mAP and the
per-class APs as the evaluator prints them (NaN -> null). Used by ``benchmarks/bench_eval.py --official``.

    python tools/run_official_ava.py OFFICIAL_DIR 2020 --gt gt.csv --det det.csv --labelmap lm.pbtxt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import time
from pathlib import Path

_AP = re.compile(r"'PascalBoxes_PerformanceByCategory/AP@0\.5IOU/(.*?)': (\S+?),?$")
_MAP = re.compile(r"'PascalBoxes_Precision/mAP@0\.5IOU': (\S+?)[,}]")


def run_official(root: str | Path, protocol: str, gt: str, det: str, labelmap: str,
                 exclusions: str | None = None) -> dict:
    root = Path(root)
    argv = ["get_ava_performance.py", "-l", str(Path(labelmap).resolve()), "-g", str(Path(gt).resolve()), "-d",
            str(Path(det).resolve())] + (["-e", str(Path(exclusions).resolve())] if exclusions else [])
    # run as __main__ inside a wrapper that then prints the process's own peak RSS (VmHWM: exec starts it
    # afresh, unlike wait4's ru_maxrss, which can report the forking parent's size)
    wrapper = (f"import runpy, sys; sys.argv = {argv!r}; runpy.run_path('get_ava_performance.py', run_name='__main__');"
               "print('VmHWM_kB', [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')][0])")
    cmd = [str(root / "venv" / "bin" / "python"), "-c", wrapper]
    env = dict(os.environ, PYTHONPATH=".:ava")  # their modules import each other as top-level names
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=root / f"ava-{protocol}" / "Evaluation", env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status:
        raise SystemExit(f"official {protocol} evaluator failed (status {status})")
    per_class = {m.group(1): _num(m.group(2)) for m in map(_AP.search, out.splitlines()) if m}
    m = _MAP.search(out)
    hwm = re.search(r"^VmHWM_kB (\d+)$", out, re.M)
    return {"s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": int(hwm.group(1)) / 1024,
            "mAP": _num(m.group(1)) if m else None, "per_class": per_class}


def _num(text: str) -> float | None:
    v = float(text)
    return None if math.isnan(v) else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="OFFICIAL_DIR of tools/setup_official_evaluators.sh")
    ap.add_argument("protocol", choices=("2018", "2019", "2020"))
    ap.add_argument("--gt", required=True)
    ap.add_argument("--det", required=True)
    ap.add_argument("--labelmap", required=True)
    ap.add_argument("--exclusions")
    a = ap.parse_args()
    print(json.dumps(run_official(a.root, a.protocol, a.gt, a.det, a.labelmap, a.exclusions)))


if __name__ == "__main__":
    main()
