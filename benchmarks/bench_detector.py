"""Detector cost per head: Base-Model vs Resize+Concat vs Santoro vs ACRN, end to end (RPN included).

For each setting (paper: 20x224x224 at width 1.0 with the ResNet-50 RPN; demo: 8x112x112 at width 0.25 with
ResNet-18 at width 0.25) and each head, with 8 actors per clip:

* ``forward_ms``: eval-mode inference (``torch.no_grad``), RPN keeping its top 8 proposals;
* ``forward_backward_ms``: train-mode forward on 8 sampled ROIs + criterion + backward;
* ``*_cpu_ms``: the same, as process CPU time (with one thread, unaffected by other jobs on a shared machine);
* ``gflops``: eval forward, FlopCounterMode (2 x multiply-accumulates of conv/linear/matmul);
* ``*_ratio``: the head's figure divided by the Base-Model's from the same run;
* ``g_theta``: the ACRN pairwise layer computed by broadcasting vs by tiling + concatenation (Figure 3b).

Medians over ``--repeats``, heads measured round-robin after one warm-up each. Prints JSON to stdout. Usage:
``python benchmarks/bench_detector.py [--repeats 3] [--threads 1] [--settings paper demo] [--device cpu]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from acrn.config import load_config
from acrn.models import build_model
from acrn.structures import Batch

HEADS = ("none", "resize_concat", "santoro", "acrn")
SETTINGS = {
    "paper": {"frames": 20, "size": 224, "width": 1.0, "resnet": (50, 1.0)},
    "demo": {"frames": 8, "size": 112, "width": 0.25, "resnet": (18, 0.25)},
}
ACTORS = 8


def make_batch(frames: int, size: int, actors: int = ACTORS) -> Batch:
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(actors, 2, generator=g) * size * 0.6
    wh = (0.2 + 0.2 * torch.rand(actors, 2, generator=g)) * size
    boxes = torch.cat([xy, (xy + wh).clamp(max=size - 1)], 1)
    labels = (torch.rand(actors, 10, generator=g) > 0.8).float()
    return Batch(clips=torch.randn(1, 3, frames, size, size, generator=g), image_sizes=torch.tensor([[size, size]]),
                 boxes=[boxes], labels=[labels], metas=[{"video": "bench", "timestamp": 0}])


class HeadRun:
    """One head's model, criterion and the two timed closures (eval forward, train forward+backward)."""

    def __init__(self, setting: dict, head: str, device: str) -> None:
        depth, rwidth = setting["resnet"]
        cfg = load_config(None, [f"model.head={head}", f"model.width={setting['width']}", "model.num_classes=10",
                                 f"data.num_frames={setting['frames']}", f"model.rpn.resnet_depth={depth}",
                                 f"model.rpn.resnet_width={rwidth}", f"model.rois_per_clip={ACTORS}",
                                 f"model.rpn.post_nms_top_n_test={ACTORS}"])
        torch.manual_seed(0)
        self.model, self.criterion, _ = build_model(cfg)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.batch = make_batch(setting["frames"], setting["size"]).to(self.device)
        self.times: dict[str, list[float]] = {"forward": [], "forward_backward": [], "forward_cpu": [],
                                              "forward_backward_cpu": []}

    def forward(self) -> int:
        self.model.eval()
        with torch.no_grad():
            return self.model(self.batch)["rois"].shape[0]

    def train_step(self) -> int:
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        out = self.model(self.batch)
        self.criterion(out, self.batch)["loss"].backward()
        return out["rois"].shape[0]

    def timed(self, key: str) -> None:
        fn = self.forward if key == "forward" else self.train_step
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times[key].append((time.perf_counter() - t0) * 1000)
        self.times[key + "_cpu"].append((time.process_time() - c0) * 1000)

    def result(self) -> dict:
        with FlopCounterMode(display=False) as counter:
            rois_eval = self.forward()
        med = {k: round(statistics.median(v), 1) for k, v in self.times.items()}
        return {"forward_ms": med["forward"], "forward_backward_ms": med["forward_backward"],
                "forward_cpu_ms": med["forward_cpu"], "forward_backward_cpu_ms": med["forward_backward_cpu"],
                "gflops": round(counter.get_total_flops() / 1e9, 3),
                "params_m": round(sum(p.numel() for p in self.model.parameters()) / 1e6, 3),
                "rois_eval": rois_eval, "rois_train": self.train_step()}


def bench_setting(setting: dict, heads: list[str], repeats: int, device: str) -> dict:
    """Round-robin over heads (so load changes on the shared machine hit every head alike); medians."""
    runs = {h: HeadRun(setting, h, device) for h in heads}
    for run in runs.values():  # warm-up: allocator, oneDNN primitives
        run.forward()
        run.train_step()
    for _ in range(repeats):
        for key in ("forward", "forward_backward"):
            for run in runs.values():
                run.timed(key)
    return {h: run.result() for h, run in runs.items()}


def bench_g_theta(repeats: int) -> dict:
    """g_theta at the paper's size (8 actors, Mixed_4f 14 x 14, 1024 + 4 + 832 + 2 -> 832): broadcast vs tiled."""
    from acrn.models.relation import PairwiseRelation

    torch.manual_seed(0)
    rel = PairwiseRelation(1024, [832], 832)
    f_a, boxes, bidx = torch.rand(ACTORS, 1024), torch.rand(ACTORS, 4), torch.zeros(ACTORS, dtype=torch.long)
    scene = [torch.rand(1, 832, 14, 14)]
    out = {}
    with torch.no_grad():
        for name, fn in (("broadcast", rel.forward), ("tiled", rel.forward_tiled)):
            fn(f_a, boxes, bidx, scene)
            times = []
            for _ in range(max(repeats, 5)):
                c0 = time.process_time()
                fn(f_a, boxes, bidx, scene)
                times.append((time.process_time() - c0) * 1000)
            out[name + "_cpu_ms"] = round(statistics.median(times), 2)
        with FlopCounterMode(display=False) as fast:
            rel.forward(f_a, boxes, bidx, scene)
        with FlopCounterMode(display=False) as slow:
            rel.forward_tiled(f_a, boxes, bidx, scene)
    out["broadcast_gflops"] = round(fast.get_total_flops() / 1e9, 4)
    out["tiled_gflops"] = round(slow.get_total_flops() / 1e9, 4)
    out["speedup"] = round(out["tiled_cpu_ms"] / out["broadcast_cpu_ms"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: process CPU time is then a contention-free figure)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=list(HEADS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {"benchmark": "detector", "torch": torch.__version__, "device": args.device,
              "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "load_avg_1min": os.getloadavg()[0],
              "repeats": args.repeats, "actors": ACTORS, "settings": {}}
    for name in args.settings:
        s = SETTINGS[name]
        heads = bench_setting(s, args.heads, args.repeats, args.device)
        base = heads.get("none")
        if base is not None:
            for r in heads.values():
                for key in ("forward_ms", "forward_backward_ms", "forward_cpu_ms", "forward_backward_cpu_ms", "gflops"):
                    r[key.replace("_ms", "") + "_ratio"] = round(r[key] / base[key], 3)
        report["settings"][name] = {"input": [s["frames"], s["size"], s["size"]], "width": s["width"],
                                    "resnet": list(s["resnet"]), "heads": heads}
    report["g_theta"] = bench_g_theta(args.repeats)
    report["load_avg_1min_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
