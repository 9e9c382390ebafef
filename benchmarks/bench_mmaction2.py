"""Imported MMAction2 ACRN: CPU predict time side by side with MMAction2, and import time / peak memory.

    .venv/bin/python benchmarks/bench_mmaction2.py [--mmref /tmp/mmaction2-ref] [--repeat 3] [--out FILE.json]

Needs a full-size MMAction2 checkpoint: made with random weights by ``tools/mmaction2_equivalence.py reference``
in the MMAction2 venv (done here when that venv exists and ``--pth`` is not given). One clip of 32 x 256 x 256
with 5 given boxes, 2 threads, medians of ``--repeat`` runs; MMAction2's predict (its backbone, RoI extractor
with acrn's RoIAlign, ACRN and bbox heads) runs in its own venv in the same invocation, before and after acrn's
runs (the machine is shared: both are reported). Import peak memory is the importer process's peak RSS minus
its RSS after ``import torch, acrn`` (a fresh subprocess).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "mmaction2_equivalence.py"
_IMPORT_CHILD = """
import resource, sys, time, torch
import acrn.models.import_mmaction2 as im
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
im.convert_mmaction2(sys.argv[1], sys.argv[2])
print(time.perf_counter() - t0, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def mmaction2_predict(python: Path, out: Path, repeat: int) -> list[float]:
    cmd = [str(python), str(TOOL), "reference", "--out", str(out), "--repeat", str(repeat)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return json.loads((out / "reference.json").read_text())["mmaction2_predict_s"]


def acrn_predict(checkpoint: Path, clip: np.ndarray, boxes: np.ndarray, repeat: int) -> list[float]:
    sys.path.insert(0, str(TOOL.parent))
    from mmaction2_equivalence import normalise

    from acrn.engine.infer import load_detector
    from acrn.structures import Batch

    _, model, postprocess, _ = load_detector(checkpoint, device="cpu", actors="file")
    x = normalise(clip)
    if getattr(model, "channels_last_input", False):
        x = x.contiguous(memory_format=torch.channels_last_3d)
    batch = Batch(clips=x, image_sizes=torch.tensor([x.shape[-2:]]), boxes=[torch.zeros(0, 4)],
                  labels=[torch.zeros(0, 80)], metas=[{}], proposals=[torch.from_numpy(boxes)])
    times = []
    with torch.inference_mode():
        for _ in range(repeat):
            t0 = time.perf_counter()
            postprocess.probabilities(model(batch)["logits"])
            times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mmref", default="/tmp/mmaction2-ref", help="the MMAction2 reference venv")
    p.add_argument("--pth", default="", help="a full-size MMAction2 ACRN checkpoint (default: make one)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="")
    args = p.parse_args()
    torch.set_num_threads(2)
    python = Path(args.mmref) / "bin" / "python"
    tmp = Path(tempfile.mkdtemp(prefix="bench_mm_"))
    mm_times: list[float] = []
    if python.is_file():
        mm_times += mmaction2_predict(python, tmp, args.repeat)
    pth = Path(args.pth) if args.pth else tmp / "mmaction2_acrn.pth"
    if not pth.is_file():
        raise SystemExit(f"{pth}: no MMAction2 checkpoint (give --pth or set up the reference venv)")
    ckpt = tmp / "acrn.pt"
    run = subprocess.run([sys.executable, "-c", _IMPORT_CHILD, str(pth), str(ckpt)], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    seconds, base_kb, peak_kb = (float(v) for v in run.stdout.split()[-3:])
    sys.path.insert(0, str(TOOL.parent))
    from mmaction2_equivalence import inputs

    clip, boxes = inputs(small=False)
    acrn_times = acrn_predict(ckpt, clip, boxes, args.repeat)
    if python.is_file():
        mm_times += mmaction2_predict(python, tmp / "again", args.repeat)
    size = pth.stat().st_size
    report = {
        "clip": "1 x 3 x 32 x 256 x 256, 5 boxes, 2 threads",
        "acrn_predict_s": [round(t, 3) for t in acrn_times], "acrn_predict_median_s": statistics.median(acrn_times),
        "mmaction2_predict_s": [round(t, 3) for t in mm_times],
        "mmaction2_predict_median_s": statistics.median(mm_times) if mm_times else None,
        "speedup": statistics.median(mm_times) / statistics.median(acrn_times) if mm_times else None,
        "import_s": round(seconds, 2), "checkpoint_mb": round(size / 2**20, 1),
        "import_peak_rss_mb": round((peak_kb - base_kb) / 1024, 1),
        "import_peak_over_checkpoint": round((peak_kb - base_kb) * 1024 / size, 2),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
