"""Speed of the S3D-G backbone (ACRN top-heavy, to Mixed_5c) on CPU, printed as JSON.

For each case: eager forward (eval, no_grad), eager forward + backward (train mode, ``out.mean().backward()``),
forward with ``channels_last_3d`` and, with ``--compile``, a frozen inductor compile
(``torch._inductor.config.freezing = True``; inference only, the first call takes 30-100 s). Each time is a
median over ``--repeats`` after a warm-up; achieved GFLOP/s use FlopCounterMode FLOPs (forward + backward
counted as 3x forward) and are divided by a 2048x2048 fp32 matmul's GFLOP/s measured in the same run
(before and after the cases, median of both), because the machine is shared.

    python benchmarks/bench_backbone.py [--threads 2] [--repeats 5] [--compile] [--cases full,demo] [--cpu-time]

``--cpu-time`` runs one thread and times with ``time.thread_time`` (the spec's "1-core" columns): on a loaded
machine wall-clock times mostly measure the other jobs, CPU time much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from acrn.models.s3dg import S3DG

CASES = {"full": (20, 224, 1.0), "demo": (8, 112, 0.25)}


CLOCK = {"clock": time.perf_counter}  # time.thread_time with --cpu-time


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    clock = CLOCK["clock"]
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def matmul_gflops(repeats: int) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return 2 * 2048**3 / median_time(lambda: torch.mm(a, b), repeats, warmup=2) / 1e9


def forward_gflops(width: float, t: int, size: int) -> float:
    with torch.device("meta"):
        m = S3DG(width=width)
        with FlopCounterMode(display=False) as counter:
            m(torch.zeros(1, 3, t, size, size))
    return counter.get_total_flops() / 1e9


def calibrated_model(width: float, x: torch.Tensor) -> S3DG:
    """BN statistics from one train-mode pass, so activations are O(1) as with real weights."""
    torch.manual_seed(0)
    m = S3DG(width=width, bn_momentum=1.0)
    m.train()
    with torch.no_grad():
        m(x)
    return m


def run_case(name: str, t: int, size: int, width: float, repeats: int, compile_: bool) -> dict:
    gf = forward_gflops(width, t, size)
    x = torch.randn(1, 3, t, size, size)
    m = calibrated_model(width, x)
    out: dict = {"case": name, "input": f"1x3x{t}x{size}x{size}", "width": width, "gflops_forward": round(gf, 3)}

    m.eval()
    with torch.no_grad():
        out["forward_ms"] = median_time(lambda: m(x), repeats) * 1e3

    m.train()

    def step() -> None:
        m.zero_grad(set_to_none=True)
        m(x)["Mixed_5c"].mean().backward()

    out["train_step_ms"] = median_time(step, repeats) * 1e3

    m.eval()
    mc, xc = m.to(memory_format=torch.channels_last_3d), x.to(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        out["forward_channels_last_ms"] = median_time(lambda: mc(xc), repeats) * 1e3
        if compile_:
            out |= compiled_forward(mc, xc, repeats)
    return out


def compiled_forward(model: S3DG, x: torch.Tensor, repeats: int) -> dict:
    """Frozen inductor compile (BN folded, weights pre-packed), static shapes; errors are reported, not raised."""
    import torch._dynamo
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()  # each case compiles its own static-shape graph (no automatic dynamic shapes)
    inductor_config.freezing = True
    try:
        cm = torch.compile(model, dynamic=False)
        t0 = time.perf_counter()
        cm(x)
        first = time.perf_counter() - t0
        ms = median_time(lambda: cm(x), repeats) * 1e3
        ref = model(x)["Mixed_5c"]
        err = float((cm(x)["Mixed_5c"] - ref).norm() / ref.norm())
    except Exception as e:  # report and keep the eager numbers
        return {"compile_error": f"{e.__class__.__name__}: {str(e).splitlines()[0][:200]}"}
    return {"compile_first_call_s": round(first, 1), "forward_compiled_ms": ms, "compiled_rel_l2_error": err}


def add_rates(case: dict, peak: float) -> dict:
    gf = case["gflops_forward"]
    for key, flops in (("forward", gf), ("train_step", 3 * gf), ("forward_channels_last", gf),
                       ("forward_compiled", gf)):
        ms = case.get(f"{key}_ms")
        if ms is None:
            continue
        case[f"{key}_ms"] = round(ms, 1)
        rate = flops / (ms / 1e3)
        case[f"{key}_gflop_s"] = round(rate, 1)
        case[f"{key}_vs_matmul"] = round(rate / peak, 3)
    return case


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median)")
    p.add_argument("--compile", action="store_true", help="also time a frozen torch.compile (slow first call)")
    p.add_argument("--cases", default="full,demo", help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--cpu-time", action="store_true",
                   help="one thread, timed with time.thread_time: CPU time, robust to other jobs on a shared machine")
    args = p.parse_args(argv)
    if args.cpu_time:
        args.threads = 1
        CLOCK["clock"] = time.thread_time
    torch.set_num_threads(args.threads)
    names = [c for c in args.cases.split(",") if c]
    bad = [c for c in names if c not in CASES]
    if bad:
        print(f"bench_backbone: unknown case(s) {bad}; choose from {', '.join(CASES)}", file=sys.stderr)
        return 2
    mm_before = matmul_gflops(args.repeats * 2)
    cases = [run_case(n, *CASES[n], args.repeats, args.compile) for n in names]
    mm_after = matmul_gflops(args.repeats * 2)
    peak = statistics.median([mm_before, mm_after])
    result = {
        "torch": torch.__version__, "threads": args.threads, "repeats": args.repeats,
        "clock": "thread CPU time" if args.cpu_time else "wall",
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "matmul_2048_fp32_gflop_s": {"before": round(mm_before, 1), "after": round(mm_after, 1),
                                     "used": round(peak, 1)},
        "cases": [add_rates(c, peak) for c in cases],
        "targets": {"train_step_vs_matmul_width_1": 0.45, "inference_vs_matmul": 0.70},
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
