"""Engine speed on CPU, printed as JSON: training steps and full-width ACRN inference (`acrn detect` on real
footage, stage by stage: ``benchmarks/bench_detect.py``).

* ``train``: clips/s of one training step (forward + criterion + backward + SGD step, data already in
  memory) for the Base-Model (``head=none``) and ACRN at the demo size (8x112x112, S3D-G width 0.25,
  ResNet-18 x0.25 RPN, batch 4) and at the paper size (20x224x224, width 1.0, ResNet-50 RPN, batch 1);
  ``acrn_over_base`` is the ratio of step times from the same run.
* ``infer_32x256``: seconds for one 32x256x256 RGB clip through the full-width ACRN detector, RPN included,
  5 actors, post-processing included: eager ``no_grad``, ``inference_mode``, ``+ channels_last_3d``, and
  ``torch.compile`` with ``freezing`` (backbone, flatten and actor ResNet compiled; NMS stays eager). The
  target is 1.1 s on 2 cores; GFLOPs and the fraction of a same-run 2048^3 matmul rate are reported because
  the machine is shared.

Medians over ``--repeats`` after one warm-up.
``python benchmarks/bench_train.py [--threads 2] [--repeats 3] [--no-compile] [--only train infer]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from acrn.config import load_config
from acrn.models import build_model
from acrn.structures import Batch

SIZES = {
    "demo": {"frames": 8, "size": 112, "width": 0.25, "resnet": (18, 0.25), "batch": 4},
    "paper": {"frames": 20, "size": 224, "width": 1.0, "resnet": (50, 1.0), "batch": 1},
}


CPU_TIMES: list[float] = []  # process CPU seconds of the last median_time call's repeats


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall seconds; the process CPU seconds of the same repeats go to ``CPU_TIMES`` (on a shared,
    oversubscribed machine wall time mostly measures the other jobs; CPU time much less so)."""
    for _ in range(warmup):
        fn()
    times = []
    CPU_TIMES.clear()
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        CPU_TIMES.append(time.process_time() - c0)
    return statistics.median(times)


def median_cpu() -> float:
    return round(statistics.median(CPU_TIMES), 3)


def matmul_gflops(repeats: int = 5) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return 2 * 2048**3 / median_time(lambda: torch.mm(a, b), repeats, warmup=2) / 1e9


def make_batch(n: int, frames: int, size: int, actors: int = 3, classes: int = 9) -> Batch:
    g = torch.Generator().manual_seed(0)
    boxes, labels = [], []
    for _ in range(n):
        xy = torch.rand(actors, 2, generator=g) * size * 0.6
        wh = (0.2 + 0.2 * torch.rand(actors, 2, generator=g)) * size
        boxes.append(torch.cat([xy, (xy + wh).clamp(max=size - 1)], 1))
        labels.append((torch.rand(actors, classes, generator=g) > 0.7).float())
    metas = [{"video": "bench", "timestamp": 0, "orig_size": (size, size)} for _ in range(n)]
    return Batch(clips=torch.randn(n, 3, frames, size, size, generator=g), image_sizes=torch.tensor([[size, size]] * n),
                 boxes=boxes, labels=labels, metas=metas)


def model_config(s: dict, head: str, classes: int = 9, extra: tuple = ()):
    depth, rwidth = s["resnet"]
    return load_config(None, [f"model.head={head}", f"model.width={s['width']}", f"model.num_classes={classes}",
                              f"data.num_frames={s['frames']}", f"model.rpn.resnet_depth={depth}",
                              f"model.rpn.resnet_width={rwidth}", "model.rois_per_clip=16", *extra])


def bench_train(repeats: int) -> dict:
    out = {}
    for name, s in SIZES.items():
        row = {"clip": [s["frames"], s["size"], s["size"]], "batch": s["batch"]}
        for head in ("none", "acrn"):
            torch.manual_seed(0)
            model, criterion, _ = build_model(model_config(s, head))
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
            batch = make_batch(s["batch"], s["frames"], s["size"])
            model.train()

            def step(model=model, criterion=criterion, opt=opt, batch=batch):
                opt.zero_grad(set_to_none=True)
                criterion(model(batch), batch)["loss"].backward()
                opt.step()

            t = median_time(step, repeats if name == "demo" else max(1, repeats - 1))
            row[f"{'base' if head == 'none' else 'acrn'}_clips_per_s"] = round(s["batch"] / t, 3)
            row[f"{'base' if head == 'none' else 'acrn'}_step_s"] = round(t, 3)
            row[f"{'base' if head == 'none' else 'acrn'}_step_cpu_s"] = median_cpu()
        row["acrn_over_base"] = round(row["acrn_step_s"] / row["base_step_s"], 3)
        row["acrn_over_base_cpu"] = round(row["acrn_step_cpu_s"] / row["base_step_cpu_s"], 3)
        out[name] = row
    return out


def bench_infer(repeats: int, compile_: bool) -> dict:
    s = {"frames": 32, "size": 256, "width": 1.0, "resnet": (50, 1.0)}
    cfg = model_config(s, "acrn", classes=60, extra=("model.rpn.post_nms_top_n_test=5", "model.score_thresh=0.0"))
    torch.manual_seed(0)
    model, _, post = build_model(cfg)
    model.eval()
    batch = make_batch(1, 32, 256, classes=60)
    batch.boxes, batch.labels = [torch.zeros(0, 4)], [torch.zeros(0, 60)]

    def run(ctx, b=batch) -> int:
        with ctx():
            return len(post(model(b), b)[0])

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(batch)
    res = {"clip": [32, 256, 256], "actors": 5, "gflops": round(fc.get_total_flops() / 1e9, 2), "target_s": 1.1}
    res["eager_no_grad_s"] = round(median_time(lambda: run(torch.no_grad), repeats), 3)
    res["eager_no_grad_cpu_s"] = median_cpu()
    res["inference_mode_s"] = round(median_time(lambda: run(torch.inference_mode), repeats), 3)
    res["inference_mode_cpu_s"] = median_cpu()
    model.backbone.to(memory_format=torch.channels_last_3d)
    cl = Batch(**{**batch.__dict__, "clips": batch.clips.contiguous(memory_format=torch.channels_last_3d)})
    res["channels_last_3d_s"] = round(median_time(lambda: run(torch.inference_mode, cl), repeats), 3)
    res["channels_last_3d_cpu_s"] = median_cpu()
    model.backbone.to(memory_format=torch.contiguous_format)
    if compile_:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        for name in ("backbone", "flatten"):
            setattr(model, name, torch.compile(getattr(model, name)))
        model.actors.resnet = torch.compile(model.actors.resnet)
        t0 = time.perf_counter()
        run(torch.no_grad)
        res["compile_first_call_s"] = round(time.perf_counter() - t0, 1)
        res["compiled_frozen_s"] = round(median_time(lambda: run(torch.no_grad), repeats, warmup=0), 3)
        res["compiled_frozen_cpu_s"] = median_cpu()
    best = min(v for k, v in res.items() if k.endswith("_s") and not k.endswith("cpu_s")
               and k not in ("target_s", "compile_first_call_s"))
    res["best_s"] = best
    res["best_gflops_per_s"] = round(res["gflops"] / best, 1)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--only", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "torch": torch.__version__, "matmul_gflops_before": round(matmul_gflops(), 1)}
    sections = {"train": ("train", lambda: bench_train(args.repeats)),
                "infer": ("infer_32x256", lambda: bench_infer(args.repeats, not args.no_compile))}
    for name in args.only:
        key, fn = sections[name]
        result[key] = fn()
        print(json.dumps({key: result[key]}), file=sys.stderr, flush=True)  # partial results as they come
    result["matmul_gflops_after"] = round(matmul_gflops(), 1)
    if "infer_32x256" in result:
        mm = statistics.mean([result["matmul_gflops_before"], result["matmul_gflops_after"]])
        inf = result["infer_32x256"]
        inf["best_fraction_of_matmul_rate"] = round(inf["best_gflops_per_s"] / mm, 3)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
