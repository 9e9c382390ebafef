"""Benchmark acrn's PyTorch FastestDet person detector against onnxruntime on the published graph, same run.

Prints one JSON object: forward frames/s at 352 x 352 on CPU (medians over repeats) at batch 1 and 8 for
the network as FastestDetPersons runs it (BatchNorm folded, channels-last) and for onnxruntime (its graph
has a fixed batch of 1, so batch 8 is 8 calls), their ratio, a few other PyTorch variants, the whole
detector (resize + network + decoding) on demo.mp4, and the largest output and box differences to
onnxruntime over demo.mp4's frames.

    .venv/bin/python benchmarks/bench_persons.py [--threads 2] [--repeats 30] [--frames 280] [--compile]
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

import numpy as np
import torch

from acrn.persons.fastestdet import FastestDet, FastestDetPersons, decode_fastestdet, fuse_batchnorm, load_fastestdet

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WEIGHTS = SHARED / "models" / "FastestDet-AP05-0.2532.pth"
ONNX = SHARED / "models" / "FastestDet.onnx"
DEMO = SHARED / "videos" / "demo.mp4"


def median_s(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def read_frames(n: int) -> list[np.ndarray]:
    import av

    with av.open(str(DEMO)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return frames[:n] if n > 0 else frames


def ort_session(threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(ONNX), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:  # the graph's batch is fixed at 1
        return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(x.shape[0])])

    return run, ort.__version__


def bench_forward(net: torch.nn.Module, ort_run, x8: torch.Tensor, repeats: int) -> dict:
    res = {}
    for b in (1, 8):
        x = x8[:b].contiguous(memory_format=torch.channels_last)
        xn = np.ascontiguousarray(x8[:b].numpy())
        with torch.inference_mode():
            ours = b / median_s(lambda x=x: net(x), repeats)
        theirs = b / median_s(lambda xn=xn: ort_run(xn), repeats)
        res[f"batch{b}"] = {"acrn_fps": round(ours, 1), "onnxruntime_fps": round(theirs, 1),
                            "ratio_acrn_over_onnxruntime": round(ours / theirs, 3)}
    return res


def bench_variants(model: FastestDet, x8: torch.Tensor, repeats: int, compile_too: bool) -> dict:
    """frames/s at batch 8 of other ways to run the same network (why FastestDetPersons runs what it runs)."""
    fused = fuse_batchnorm(model)
    nhwc = x8.contiguous(memory_format=torch.channels_last)
    fused_cl = fuse_batchnorm(model).to(memory_format=torch.channels_last)
    res = {}
    with torch.inference_mode():
        res["eager"] = 8 / median_s(lambda: model(x8), repeats)
        res["bn_folded"] = 8 / median_s(lambda: fused(x8), repeats)
        res["bn_folded_channels_last"] = 8 / median_s(lambda: fused_cl(nhwc), repeats)
        with torch.backends.mkldnn.flags(enabled=False):
            res["bn_folded_channels_last_no_mkldnn"] = 8 / median_s(lambda: fused_cl(nhwc), repeats)
        t0 = time.perf_counter()
        traced = torch.jit.freeze(torch.jit.trace(fused_cl, nhwc))
        traced(nhwc)
        res["jit_trace_freeze_first_call_s"] = time.perf_counter() - t0
        res["jit_trace_freeze"] = 8 / median_s(lambda: traced(nhwc), repeats)
    if compile_too:
        t0 = time.perf_counter()
        compiled = torch.compile(fused_cl)
        with torch.inference_mode():
            compiled(nhwc)
            res["torch_compile_first_call_s"] = time.perf_counter() - t0
            res["torch_compile"] = 8 / median_s(lambda: compiled(nhwc), repeats)
    return {k: round(v, 2 if k.endswith("_s") else 1) for k, v in res.items()}


def parity(model: FastestDet, det: FastestDetPersons, ort_run, frames: list[np.ndarray]) -> dict:
    """Largest |ours - onnxruntime| over all frames: raw outputs, and decoded person boxes (normalised)."""
    out_diff = fast_diff = box_diff = 0.0
    n_boxes = mismatched = 0
    with torch.inference_mode():
        for start in range(0, len(frames), 8):
            x = det.preprocess(frames[start:start + 8])
            ref = torch.from_numpy(ort_run(np.ascontiguousarray(x.numpy())))
            out, fast = model(x), det.net(x)
            out_diff = max(out_diff, (out - ref).abs().max().item())
            fast_diff = max(fast_diff, (fast - ref).abs().max().item())
            for (b1, s1), (b2, s2) in zip(decode_fastestdet(fast, det.score_thresh),
                                          decode_fastestdet(ref, det.score_thresh)):
                if b1.shape != b2.shape:
                    mismatched += 1
                    continue
                n_boxes += len(b1)
                if len(b1):
                    box_diff = max(box_diff, (b1 - b2).abs().max().item(), (s1 - s2).abs().max().item())
    return {"frames": len(frames), "max_abs_output_diff_eager": out_diff, "max_abs_output_diff_fast": fast_diff,
            "person_boxes_compared": n_boxes, "frames_with_different_box_count": mismatched,
            "max_box_or_score_diff_normalised": box_diff, "score_thresh": det.score_thresh}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads (default 2)")
    p.add_argument("--repeats", type=int, default=30, help="timed calls per measurement (median reported)")
    p.add_argument("--frames", type=int, default=0, help="demo.mp4 frames for parity and pipeline (0: all)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (first call ~20 s)")
    a = p.parse_args()
    for path in (WEIGHTS, ONNX, DEMO):
        if not path.is_file():
            sys.exit(f"{path}: absent (the shared models/videos folder must be beside the checkout)")
    torch.set_num_threads(a.threads)
    load_avg_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    model = load_fastestdet(WEIGHTS)
    det = FastestDetPersons(model)
    startup = time.perf_counter() - t0
    ort_run, ort_version = ort_session(a.threads)
    frames = read_frames(a.frames)
    x8 = det.preprocess(frames[:8]).contiguous()
    out = {
        "device": "cpu",
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "threads": a.threads,
        "python": platform.python_version(),
        "load_avg_1min_start": load_avg_start,
        "note": "frames/s = batch / median seconds per forward call, 352x352 demo.mp4 frames; acrn = the "
                "BN-folded channels-last network FastestDetPersons runs; onnxruntime batch 8 = 8 batch-1 calls",
        "startup_s_load_and_prepare": round(startup, 3),
        "forward": bench_forward(det.net, ort_run, x8, a.repeats),
        "variants_batch8_fps": bench_variants(model, x8, max(5, a.repeats // 2), a.compile),
    }
    t0 = time.perf_counter()
    det(frames)
    out["detector_end_to_end_fps"] = {"frames": len(frames), "frame_size": list(frames[0].shape[:2]),
                                      "fps": round(len(frames) / (time.perf_counter() - t0), 1),
                                      "includes": "resize, BGR, network, decoding, NMS (batch 8)"}
    out["parity_vs_onnxruntime"] = parity(model, det, ort_run, frames)
    out["load_avg_1min_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
