"""Benchmark acrn.ops against the naive loop references of tests/ops/reference_ops.py, timed in the same run.

Prints one JSON object: medians over repeats (ms) and speed-up ratios. By default the naive Python
loops run at the full sizes too (64 boxes; 10k boxes, once: about a minute). With --quick they run on a few
boxes and the JSON gives the measured equal-size ratio plus an extrapolated naive time, labelled as such.

    .venv/bin/python benchmarks/bench_ops.py [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ops"))
import reference_ops as ref  # noqa: E402

from acrn.ops import _backend, nms, roi_align  # noqa: E402


def median_ms(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def roi_inputs(k: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A Mixed_4f-like map (stride 16 on a 224 px frame) and k boxes in image pixels."""
    x = torch.randn(1, 832, 14, 14, generator=gen)
    xy = torch.rand(k, 2, generator=gen) * 180
    wh = torch.rand(k, 2, generator=gen) * 100 + 16
    return x, torch.cat((torch.zeros(k, 1), xy, (xy + wh).clamp(max=224)), dim=1)


def bench_roi_align(repeats: int, naive_k: int, naive_reps: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    args = {"output_size": (7, 7), "spatial_scale": 1 / 16, "sampling_ratio": 2, "aligned": False}

    def fwd_bwd(fn, x, rois):
        x = x.detach().requires_grad_(True)
        fn(x, rois).sum().backward()

    def ours(x, r):
        return roi_align(x, r, **args)

    def naive(x, r):
        return ref.roi_align(x, r, (7, 7), 1 / 16, 2, False)

    x64, rois64 = roi_inputs(64, gen)
    roisk = rois64[:naive_k]
    torch.testing.assert_close(ours(x64, roisk), naive(x64, roisk), rtol=1e-4, atol=1e-5)
    res = {
        "task": "roi_align forward+backward, input 1x832x14x14, 64 boxes, 7x7 output, sampling_ratio 2, scale 1/16",
        "ours_ms": median_ms(lambda: fwd_bwd(ours, x64, rois64), repeats),
        "naive_boxes": naive_k,
        "naive_ms": median_ms(lambda: fwd_bwd(naive, x64, roisk), naive_reps, warmup=0),
    }
    return _ratios(res, lambda: fwd_bwd(ours, x64, roisk), repeats, 64, naive_k, power=1)


def _ratios(res: dict, ours_small, repeats: int, n: int, naive_n: int, power: int) -> dict:
    """Speed-up at equal size; where the naive run was smaller, also an extrapolation, labelled as such."""
    if naive_n == n:
        res["speedup"] = res["naive_ms"] / res["ours_ms"]
        return res
    res["ours_ms_at_naive_size"] = median_ms(ours_small, repeats)
    res["speedup_at_naive_size"] = res["naive_ms"] / res["ours_ms_at_naive_size"]
    res["naive_ms_extrapolated"] = res["naive_ms"] * (n / naive_n) ** power
    res["extrapolation"] = "linear in boxes" if power == 1 else "quadratic in boxes"
    res["speedup_vs_extrapolated"] = res["naive_ms_extrapolated"] / res["ours_ms"]
    return res


def nms_inputs(n: int, kind: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "uniform":  # boxes anywhere on a 1000 px image
        xy = torch.rand(n, 2, generator=gen) * 1000
        wh = torch.rand(n, 2, generator=gen) * 90 + 10
    else:  # "clustered": detector-like, jittered copies of 100 objects
        centre = torch.rand(100, 2, generator=gen) * 900
        obj = torch.randint(0, 100, (n,), generator=gen)
        wh = torch.rand(100, 2, generator=gen)[obj] * 150 + 30
        xy = centre[obj] + torch.randn(n, 2, generator=gen) * 15
        wh = wh * (1 + 0.1 * torch.randn(n, 2, generator=gen)).clamp(min=0.5)
    return torch.cat((xy, xy + wh), dim=1), torch.rand(n, generator=gen)


def bench_nms(repeats: int, n: int, naive_n: int, naive_reps: int, kind: str, thr: float = 0.5) -> dict:
    gen = torch.Generator().manual_seed(1)
    boxes, scores = nms_inputs(n, kind, gen)
    sb, ss = boxes[:naive_n], scores[:naive_n]
    assert nms(sb, ss, thr).tolist() == ref.nms(sb, ss, thr), "nms disagrees with the naive reference"
    res = {
        "task": f"nms, {n} boxes ({kind}), iou_threshold {thr}",
        "kept": int(nms(boxes, scores, thr).numel()),
        "ours_ms": median_ms(lambda: nms(boxes, scores, thr), repeats),
        "naive_boxes": naive_n,
        "naive_ms": median_ms(lambda: ref.nms(sb, ss, thr), naive_reps, warmup=0),
    }
    # Greedy NMS compares each kept box with the boxes after it: about quadratic work.
    return _ratios(res, lambda: nms(sb, ss, thr), repeats, n, naive_n, power=2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: shared machine)")
    p.add_argument("--quick", action="store_true", help="naive references on a few boxes, extrapolated (seconds)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    _backend.USE_TORCHVISION = False  # benchmark the pure PyTorch path (torchvision is absent here anyway)
    reps = 5 if a.quick else 20
    out = {
        "device": "cpu",
        "torch": torch.__version__,
        "threads": a.threads,
        "python": platform.python_version(),
        "torchvision_available": _backend.TORCHVISION_AVAILABLE,
        "load_avg_1min_start": os.getloadavg()[0],
        "note": "medians in ms over repeats; naive = tests/ops/reference_ops.py loops (naive_boxes boxes)",
        "roi_align": bench_roi_align(reps, naive_k=4, naive_reps=3)
        if a.quick
        else bench_roi_align(reps, naive_k=64, naive_reps=3),
        "nms_uniform": bench_nms(3, 10000, 500, 3, "uniform") if a.quick else bench_nms(7, 10000, 10000, 1, "uniform"),
        "nms_clustered": bench_nms(3, 10000, 500, 3, "clustered")
        if a.quick
        else bench_nms(7, 10000, 10000, 1, "clustered"),
    }
    out["load_avg_1min_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
