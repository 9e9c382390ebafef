"""Data pipeline speed: clips/s (32-frame clips, 2 DataLoader workers) from mp4 and from frame folders at
320x240 and 1280x720, and DIS flow pairs/s at 340x256. Prints JSON to stdout.

Targets (issue 4): >= 30 clips/s from frame folders and >= 20 clips/s from mp4 at 320x240; >= 100 DIS
frame pairs/s at 340x256 on 2 cores. Each figure comes with a baseline measured in the same run:
clips are compared with a bare single-process read of the same 32 frames (no transforms, no
DataLoader), parallel flow with single-process flow. With ``--baseline-src DIR/src`` (an exported older
revision) the clip figures of that revision are measured too, alternating repeat by repeat with this
one, and reported as speedups. CPU ms per clip (one process, user + system) do not depend on the load
of the machine: "in order" reads consecutive key frames (evaluation order, where clips overlap and the
reader decodes forward), "shuffled" random ones (training order); "shared memory" is what handing a
float32 clip from a worker to the main process costs at least (allocate, write, free), included in the
projection for 2 idle cores.

    .venv/bin/python benchmarks/bench_data.py [--repeats 3] [--clips 48] [--keep DIR] [--baseline-src DIR/src]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from acrn.config import Config
from acrn.data import build_dataset, collate
from acrn.data.flow import extract_video, make_flow_fn
from acrn.data.video import FrameFolder, VideoReader

LABELMAP = 'item {\n  name: "act"\n  id: 1\n}\n'


def frame(i: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A moving textured frame (compresses like real video, not like a flat colour)."""
    base = np.sin(np.arange(w)[None, :] / 7.0 + i * 0.3) * np.cos(np.arange(h)[:, None] / 5.0) * 60 + 128
    img = np.repeat(base[..., None], 3, 2) + rng.normal(0, 8, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


def make_dataset(root: Path, h: int, w: int, videos: int = 2, seconds: int = 10) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for v in range(videos):
        vid = f"v{v}"
        (root / "frames" / vid).mkdir(parents=True, exist_ok=True)
        (root / "videos").mkdir(parents=True, exist_ok=True)
        with av.open(str(root / "videos" / f"{vid}.mp4"), "w") as c:
            s = c.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.options = {"g": "30", "preset": "veryfast", "crf": "23"}  # 1 s GOP, typical of web video
            for i in range(seconds * 30):
                img = frame(i, h, w, rng)
                cv2.imwrite(str(root / "frames" / vid / f"{vid}_{i + 1:06d}.jpg"), img[..., ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        rows += [f"{vid},{t:04d},0.1,0.1,0.6,0.9,1,0" for t in range(1, seconds)]
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / "val.csv").write_text("\n".join(rows) + "\n")
    (root / "annotations" / "labelmap.pbtxt").write_text(LABELMAP)


def clips_per_s(root: Path, frames: str, n_clips: int, repeats: int) -> float:
    cfg = Config()
    d = cfg.data
    d.dataset, d.root, d.frames, d.num_frames, d.sample_rate = "custom", str(root), frames, 32, 2
    ds = build_dataset(cfg, "val", train=False)
    idx = [i % len(ds) for i in range(n_clips + 2)]
    rates = []
    for _ in range(repeats):
        loader = DataLoader(torch.utils.data.Subset(ds, idx), batch_size=1, num_workers=2, collate_fn=collate,
                            persistent_workers=False, prefetch_factor=4)
        it = iter(loader)
        next(it), next(it)  # worker start-up is not throughput
        t0 = time.perf_counter()
        n = sum(len(b) for b in it)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def cpu_ms_per_clip(root: Path, frames: str, n: int = 8, shuffled: bool = False) -> float:
    """CPU time of one clip in one process (load-independent; 2 idle cores give ~2000 / this clips/s).
    In order: consecutive key frames (evaluation); shuffled: random key frames (training order)."""
    cfg = Config()
    d = cfg.data
    d.dataset, d.root, d.frames, d.num_frames, d.sample_rate = "custom", str(root), frames, 32, 2
    ds = build_dataset(cfg, "val", train=False)
    order = list(range(1, n + 1))
    if shuffled:
        order = [int(i) for i in np.random.default_rng(0).permutation(len(ds))[:n]]
    ds[0]
    t0 = time.process_time()
    for i in order:
        ds[i % len(ds)]
    return (time.process_time() - t0) / n * 1000


def measure(root: Path, frames: str, n_clips: int, repeats: int) -> dict:
    """The clip figures of the code on ``sys.path`` (this process)."""
    return {"clips_per_s": clips_per_s(root, frames, n_clips, repeats),
            "cpu_ms_in_order": cpu_ms_per_clip(root, frames),
            "cpu_ms_shuffled": cpu_ms_per_clip(root, frames, shuffled=True)}


def measure_baseline(src: str, root: Path, frames: str, n_clips: int) -> dict:
    """:func:`measure` with the package from ``src`` (e.g. an exported older revision) in a subprocess."""
    env = dict(os.environ, PYTHONPATH=src)
    cmd = [sys.executable, __file__, "--measure", f"{root}:{frames}", "--clips", str(n_clips), "--repeats", "1"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def shared_memory_ms_per_clip(shape: tuple[int, ...], n: int = 10) -> float:
    """CPU ms to allocate, fill and free one float32 clip in shared memory: what a DataLoader worker pays
    at least once per clip to hand it to the main process (the floor under the 2-worker figures)."""
    numel = 1
    for d in shape:
        numel *= d
    t0 = time.process_time()
    for _ in range(n):
        x = torch.empty(0).set_(torch.UntypedStorage._new_shared(numel * 4), 0, shape)
        x.fill_(1.0)
        del x
    return (time.process_time() - t0) / n * 1000


def bare_read_per_s(root: Path, frames: str, repeats: int) -> float:
    """Baseline: one process reading 32 frames at stride 2 (no transform, no normalisation)."""
    rates = []
    for _ in range(repeats):
        t0, n = time.perf_counter(), 0
        for t in range(2, 9):
            key = t * 30
            idx = list(range(key - 32, key + 32, 2))
            src = FrameFolder(root / "frames" / "v0", "v0_{num:06d}.jpg") if frames == "folder" \
                else VideoReader(root / "videos" / "v0.mp4")
            src.read(idx)
            n += 1
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def _flow_job(args: tuple) -> int:
    cv2.setNumThreads(1)
    folder, out = args
    return extract_video(FrameFolder(folder, Path(folder).name + "_{num:06d}.jpg").iter_frames(), Path(out), "dis")


def flow_pairs_per_s(tmp: Path, repeats: int) -> dict:
    root = tmp / "flow340"
    make_dataset(root, 256, 340, videos=2, seconds=3)
    rng = np.random.default_rng(1)
    a, b = (cv2.cvtColor(frame(i, 256, 340, rng), cv2.COLOR_RGB2GRAY) for i in (0, 1))
    cv2.setNumThreads(1)
    fn = make_flow_fn("dis")
    single = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(50):
            fn(a, b)
        single.append(50 / (time.perf_counter() - t0))
    jobs = [(str(root / "frames" / v), str(tmp / "flowout" / v)) for v in ("v0", "v1")]
    par = []
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_flow_job, jobs)  # warm-up (imports)
        for _ in range(repeats):
            t0 = time.perf_counter()
            pairs = sum(pool.map(_flow_job, jobs))
            par.append(pairs / (time.perf_counter() - t0))
    return {"dis_pairs_per_s_2proc_with_io": round(statistics.median(par), 1),
            "baseline_dis_pairs_per_s_1proc_compute_only": round(statistics.median(single), 1),
            "ratio": round(statistics.median(par) / statistics.median(single), 2), "target": 100}


def clip_figures(root: Path, frames: str, key: str, w: int, h: int, args: argparse.Namespace) -> dict:
    """Clips/s and CPU ms of this code, alternated repeat by repeat with the baseline revision (if
    ``--baseline-src``), so that both see the same machine load; and the bare read."""
    new, old = [], []
    for _ in range(args.repeats):
        new.append(measure(root, frames, args.clips, 1))
        if args.baseline_src:
            old.append(measure_baseline(args.baseline_src, root, frames, args.clips))
    med = {k: statistics.median(m[k] for m in new) for k in new[0]}
    base = bare_read_per_s(root, frames, args.repeats)
    shm = shared_memory_ms_per_clip((3, 32, 256, round(256 * w / h)))
    fig = {"clips_per_s": round(med["clips_per_s"], 2), "target": {"320x240_frames": 30, "320x240_mp4": 20}.get(key),
           "baseline_bare_read_1proc": round(base, 2), "ratio_to_bare_read": round(med["clips_per_s"] / base, 2),
           "cpu_ms_per_clip_1proc_in_order": round(med["cpu_ms_in_order"], 1),
           "cpu_ms_per_clip_1proc_shuffled": round(med["cpu_ms_shuffled"], 1),
           "cpu_ms_shared_memory_per_clip": round(shm, 1),
           "projected_clips_per_s_2_idle_cores": round(2000 / (med["cpu_ms_in_order"] + shm), 1)}
    if old:
        om = {k: statistics.median(m[k] for m in old) for k in old[0]}
        fig["baseline_revision"] = {k: round(v, 2) for k, v in om.items()}
        fig["speedup_vs_baseline_revision"] = {k: round(om[k] / med[k] if k.startswith("cpu") else med[k] / om[k], 2)
                                               for k in om}
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--keep", default="", help="keep the generated data in this folder")
    ap.add_argument("--sizes", default="320x240,1280x720", help="frame sizes WxH, comma-separated")
    ap.add_argument("--no-flow", action="store_true", help="skip the flow measurement")
    ap.add_argument("--baseline-src", default="", help="a src/ folder of another revision (`git archive REV src | "
                    "tar -x -C DIR`, then DIR/src) measured in the same run, repeat by repeat")
    ap.add_argument("--measure", default="", help=argparse.SUPPRESS)  # ROOT:MODE, one measurement (baseline child)
    args = ap.parse_args()
    if args.measure:
        root, frames = args.measure.rsplit(":", 1)
        print(json.dumps(measure(Path(root), frames, args.clips, args.repeats)))
        return
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench_data_"))
    out = {"machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
           "clip": {"num_frames": 32, "sample_rate": 2, "test_short_side": 256, "workers": 2, "batch_size": 1},
           "baseline_revision": args.baseline_src or None, "clips_per_s": {}}
    try:
        for w, h in (tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")):
            root = tmp / f"d{w}x{h}"
            if not (root / "annotations").is_dir():
                make_dataset(root, h, w)
            for frames in ("folder", "video"):
                key = f"{w}x{h}_{'frames' if frames == 'folder' else 'mp4'}"
                out["clips_per_s"][key] = clip_figures(root, frames, key, w, h, args)
        if not args.no_flow:
            out["flow_340x256"] = flow_pairs_per_s(tmp, args.repeats)
        out["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
