"""``acrn flow extract --root DIR [--method dis|tvl1|farneback] [--workers N]``: the 8-bit flow cache.

Finds every video of the dataset (``frames/<vid>/``, ``Frames/<class>/<clip>/``, ``rgb-images/...`` or
``videos/<vid>.mp4``), computes the flow of each consecutive frame pair in parallel worker processes
and writes ``<out>/<video>/flow_{x,y}_%06d.png`` (layout: :mod:`acrn.data.flow`). Resumable: videos
whose cache is finished (``.done`` with the same method) are skipped.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

from acrn.data.flow import FLOW_METHODS, FlowCache, extract_video
from acrn.data.video import VIDEO_EXTENSIONS, FrameFolder, VideoReader
from acrn.errors import InputError

FRAME_LAYOUTS = (("frames", "{video}_{num:06d}.jpg"), ("Frames", "{num:05d}.png"), ("rgb-images", "{num:05d}.jpg"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flow", help="optical flow for the flow stream")
    fsub = p.add_subparsers(dest="flow_command", metavar="ACTION", required=True)
    ex = fsub.add_parser("extract", help="compute and cache 8-bit flow images for every video of a dataset")
    ex.add_argument("--root", required=True, help="dataset root (with frames/, Frames/, rgb-images/ or videos/)")
    ex.add_argument("--method", default="dis", choices=FLOW_METHODS, help="flow algorithm (default: dis)")
    ex.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)), help="worker processes")
    ex.add_argument("--out", default="", help="cache folder (default: <root>/flow)")
    ex.add_argument("--short-side", type=int, default=0, help="resize frames to this short side first (0: native)")
    ex.add_argument("--videos", nargs="*", default=None, help="only these video ids")
    ex.add_argument("--no-progress", action="store_true", help="no progress bar")
    ex.set_defaults(func=run_extract)


def find_videos(root: Path) -> list[tuple[str, str, str]]:
    """``(video id, kind, location)`` of every video under ``root`` (kind ``folder`` or ``video``)."""
    for dirname, pattern in FRAME_LAYOUTS:
        base = root / dirname
        if base.is_dir():
            ext = os.path.splitext(pattern)[1]
            found = []
            for d, _, files in os.walk(base):
                if any(f.endswith(ext) for f in files):
                    vid = Path(d).relative_to(base).as_posix()
                    found.append((vid, "folder", str(base / vid) + "|" + pattern.replace("{video}", Path(d).name)))
            return sorted(found)
    for dirname in ("videos_15min", "videos"):
        base = root / dirname
        if base.is_dir():
            return sorted((p.stem, "video", str(p)) for p in base.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    raise InputError(f"{root}: no frames/, Frames/, rgb-images/ or videos/ folder found")


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already


def _work(job: tuple) -> tuple[str, int, str]:
    """Worker: flow of one video -> ``(video, pairs, error message or '')``."""
    video, kind, where, out, method, short = job
    try:
        if kind == "folder":
            folder, pattern = where.split("|", 1)
            src = FrameFolder(folder, pattern)
        else:
            src = VideoReader(where)
        size = None
        if short:
            from acrn.data.transforms import short_side_size

            size = short_side_size(tuple(src.size), short)
        return video, extract_video(src.iter_frames(), Path(out) / video, method, size), ""
    except InputError as e:
        return video, 0, str(e)
    except Exception as e:  # one line per failed video, never a worker traceback
        return video, 0, f"{where}: {type(e).__name__}: {e}"


def run_extract(args: argparse.Namespace) -> int:
    root = Path(args.root)
    out = Path(args.out) if args.out else root / "flow"
    videos = find_videos(root)
    if args.videos:
        wanted = set(args.videos)
        videos = [v for v in videos if v[0] in wanted]
    cache = FlowCache(out)
    todo = [v for v in videos if (cache.info(v[0]) or {}).get("method") != args.method]
    print(f"flow extract: {len(videos)} videos, {len(videos) - len(todo)} already done, {len(todo)} to do "
          f"({args.method}, {args.workers} workers) -> {out}", file=sys.stderr)
    jobs = [(vid, kind, where, str(out), args.method, args.short_side) for vid, kind, where in todo]
    failed, pairs, t0 = [], 0, time.perf_counter()
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="video", desc="flow")
    # fork is safe with OpenCV thanks to the fork guard in acrn.data.video; spawn where fork is unsafe.
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(args.workers, initializer=_init_worker) if args.workers > 1 else _Serial() as pool:
        for _video, n, err in pool.imap_unordered(_work, jobs):
            pairs += n
            if err:
                failed.append(err)
                print(f"flow extract: failed: {err}", file=sys.stderr)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(pairs_per_s=f"{pairs / max(time.perf_counter() - t0, 1e-9):.0f}")
    if bar is not None:
        bar.close()
    dt = time.perf_counter() - t0
    print(f"flow extract: {len(jobs) - len(failed)} videos, {pairs} frame pairs in {dt:.1f} s "
          f"({pairs / max(dt, 1e-9):.0f} pairs/s); {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


class _Serial:
    """In-process stand-in for a Pool (``--workers 1``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def imap_unordered(self, fn, jobs):
        return map(fn, jobs)
