"""Imported MMAction2 ACRN: CPU predict time side by side with MMAction2's own predict, and import cost.

    .venv/bin/python benchmarks/bench_mmaction2.py [--pth FILE.pth] [--mmref /tmp/mmaction2-ref] [--repeat 5]
        [--variants plain,eager,compile,bf16] [--out FILE.json]

One clip of 32 x 256 x 256 with 5 given boxes (``tools/mmaction2_equivalence.py inputs``), 2 threads. MMAction2's
predict (its SlowFast backbone, RoI extractor with acrn's RoIAlign, ACRN head and bbox head, built from its
packaged config) runs in a worker process of its own venv that loads the same ``.pth``; acrn runs the converted
checkpoint in this process. Every model is called once first (reported as ``first_call_s``: oneDNN primitive
creation, and for ``compile`` the inductor compile), then ``--repeat`` rounds call MMAction2 and each acrn
variant in turn, so that load from other processes on a shared machine falls on all of them alike. Reported:
median wall and CPU seconds (CPU time of the predicting process; less disturbed by other processes) and
the speed-up of each acrn variant over MMAction2 on both.

acrn variants: ``acrn`` is the default inference path of ``load_detector`` (the converted checkpoint's config:
BN folded into the convs, factorized ACRN fusion conv, channels_last_3d backbone); ``plain`` is the model as
built (FrozenBN, MMAction2's literal tiling, contiguous), ``eager`` the default without channels_last,
``compile`` adds ``runtime.compile`` (inductor, freezing), ``bf16`` adds ``runtime.cpu_bf16`` (CPU bf16
autocast, AMX; not the default: see ``max_rel_diff``, the largest logit difference to the default path over its largest
logit). Without ``--pth`` a random-weight checkpoint is made by ``tools/mmaction2_equivalence.py reference``.
Import peak memory is the importer process's peak RSS minus its RSS after ``import torch, acrn``.
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
# Runs in the MMAction2 venv: load the .pth into MMAction2's modules, then one timed predict per stdin line.
_MM_WORKER = """
import json, sys, time, torch
sys.path.insert(0, sys.argv[1])
from mmaction2_equivalence import build_reference, inputs, normalise
torch.set_num_threads(int(sys.argv[3]))
backbone, extractor, shared, bbox, _ = build_reference(False)
state = torch.load(sys.argv[2], map_location="cpu", weights_only=True)["state_dict"]
for prefix, m in (("backbone.", backbone), ("roi_head.shared_head.", shared), ("roi_head.bbox_head.", bbox)):
    m.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    m.eval()
clip, boxes = inputs(False)
x = normalise(clip)
rois = torch.cat([torch.zeros(len(boxes), 1), torch.from_numpy(boxes)], 1)
print("ready", flush=True)
for _ in sys.stdin:
    with torch.inference_mode():
        t0, c0 = time.perf_counter(), time.process_time()
        slow, fast = backbone(x)
        roi_feats, feat = extractor((slow, fast), rois)
        torch.sigmoid(bbox(shared(roi_feats, feat=feat, rois=rois))[:, 1:])
        print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]), flush=True)
"""
VARIANTS = {"acrn": [], "plain": [], "eager": ["runtime.channels_last=false"], "compile": ["runtime.compile=true"],
            "bf16": ["runtime.cpu_bf16=true"]}


class MMAction2Worker:
    """MMAction2's predict in its own venv; ``__call__() -> (wall s, cpu s)`` of one predict."""

    def __init__(self, python: Path, pth: Path, threads: int) -> None:
        self.proc = subprocess.Popen([str(python), "-c", _MM_WORKER, str(TOOL.parent), str(pth), str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=ROOT)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the MMAction2 worker did not start (is the reference venv complete?)")

    def __call__(self) -> tuple[float, float]:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        wall, cpu = json.loads(self.proc.stdout.readline())
        return wall, cpu

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class AcrnVariant:
    """One acrn inference path on the converted checkpoint; ``__call__() -> (wall s, cpu s)``; ``logits``."""

    def __init__(self, name: str, checkpoint: Path) -> None:
        sys.path.insert(0, str(TOOL.parent))
        from mmaction2_equivalence import inputs, normalise

        from acrn.engine.infer import load_detector
        from acrn.structures import Batch

        self.name = name
        if name == "plain":
            self.model, self.post = plain_model(checkpoint)
        else:
            _, self.model, self.post, _ = load_detector(checkpoint, VARIANTS[name], device="cpu", actors="file")
        clip, boxes = inputs(small=False)
        x = normalise(clip)
        if getattr(self.model, "channels_last_input", False):  # as the predict loop does (engine.infer._run)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        self.batch = Batch(clips=x, image_sizes=torch.tensor([x.shape[-2:]]), boxes=[torch.zeros(0, 4)],
                           labels=[torch.zeros(0, 80)], metas=[{}], proposals=[torch.from_numpy(boxes)])
        self.logits = None

    def __call__(self) -> tuple[float, float]:
        with torch.inference_mode():
            t0, c0 = time.perf_counter(), time.process_time()
            logits = self.model(self.batch)["logits"].float()
            self.post.probabilities(logits)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.logits = logits
        return wall, cpu


def plain_model(checkpoint: Path):
    """The converted model as built, without any inference optimisation (FrozenBN, literal tiling)."""
    from acrn.config import from_dict
    from acrn.engine.checkpoint import load_checkpoint
    from acrn.models import build_model

    payload = load_checkpoint(checkpoint)
    cfg = from_dict(payload["config"])
    model, _, post = build_model(cfg)
    model.load_state_dict(payload["model"])
    model.head.factorized = False
    return model.eval(), post


def summary(runs: list[tuple[float, float]], first: tuple[float, float]) -> dict:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {"wall_s": [round(w, 3) for w in walls], "cpu_s": [round(c, 3) for c in cpus],
            "median_wall_s": round(statistics.median(walls), 3), "median_cpu_s": round(statistics.median(cpus), 3),
            "min_wall_s": round(min(walls), 3), "first_call_s": round(first[0], 2),
            "first_call_cpu_s": round(first[1], 2)}


def timed_rounds(runners: dict, repeat: int) -> dict:
    """First call of each runner, then ``repeat`` rounds calling every runner in turn."""
    first = {name: run() for name, run in runners.items()}
    runs = {name: [] for name in runners}
    for _ in range(repeat):
        for name, run in runners.items():
            runs[name].append(run())
    return {name: summary(runs[name], first[name]) for name in runners}


def import_cost(pth: Path, ckpt: Path) -> dict:
    run = subprocess.run([sys.executable, "-c", _IMPORT_CHILD, str(pth), str(ckpt)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    seconds, base_kb, peak_kb = (float(v) for v in run.stdout.split()[-3:])
    size = pth.stat().st_size
    return {"import_s": round(seconds, 2), "checkpoint_mb": round(size / 2**20, 1),
            "import_peak_rss_mb": round((peak_kb - base_kb) / 1024, 1),
            "import_peak_over_checkpoint": round((peak_kb - base_kb) * 1024 / size, 2)}


def ratios(timings: dict) -> dict:
    """MMAction2 / acrn: of the medians (wall, CPU), of the minima, and the median of the per-round ratios (load
    that starts or stops mid-run falls on neighbouring calls of one round alike; OpenMP threads spin while
    waiting, so CPU time grows under load too)."""
    mm = timings.get("mmaction2")
    if mm is None:
        return {}
    out = {}
    for name, t in timings.items():
        if name != "mmaction2":
            paired = [a / b for a, b in zip(mm["wall_s"], t["wall_s"])]
            out[name] = {"wall": round(mm["median_wall_s"] / t["median_wall_s"], 2),
                         "cpu": round(mm["median_cpu_s"] / t["median_cpu_s"], 2),
                         "min_wall": round(mm["min_wall_s"] / t["min_wall_s"], 2),
                         "paired_wall_median": round(statistics.median(paired), 2)}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mmref", default="/tmp/mmaction2-ref", help="the MMAction2 reference venv")
    p.add_argument("--pth", default="", help="a full-size MMAction2 ACRN checkpoint (default: make one)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default="plain,eager", help=f"acrn paths besides 'acrn' ({', '.join(VARIANTS)})")
    p.add_argument("--out", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    python = Path(args.mmref) / "bin" / "python"
    tmp = Path(tempfile.mkdtemp(prefix="bench_mm_"))
    pth = Path(args.pth) if args.pth else tmp / "mmaction2_acrn.pth"
    if not pth.is_file() and python.is_file():
        subprocess.run([str(python), str(TOOL), "reference", "--out", str(tmp)], check=True, capture_output=True,
                       cwd=ROOT)
    if not pth.is_file():
        raise SystemExit(f"{pth}: no MMAction2 checkpoint (give --pth or set up the reference venv)")
    ckpt = tmp / "acrn.pt"
    report = {"clip": "1 x 3 x 32 x 256 x 256, 5 boxes", "threads": args.threads, **import_cost(pth, ckpt)}
    runners: dict = {}
    worker = MMAction2Worker(python, pth, args.threads) if python.is_file() else None
    if worker is not None:
        runners["mmaction2"] = worker
    names = ["acrn"] + [v for v in args.variants.split(",") if v and v != "acrn"]
    runners.update({name: AcrnVariant(name, ckpt) for name in names})
    timings = timed_rounds(runners, args.repeat)
    if worker is not None:
        worker.close()
    ref = runners["acrn"].logits
    for name in names:
        timings[name]["max_rel_diff"] = float((runners[name].logits - ref).abs().max() / ref.abs().max())
    report.update(timings=timings, speedup_over_mmaction2=ratios(timings))
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
