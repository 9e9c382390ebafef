"""``generate``: build a whole synthetic dataset folder, in parallel and atomically.

Videos are simulated, rendered and encoded in worker processes (one video per task, its own random
generator seeded by (seed, index), so the output does not depend on scheduling). Everything is written
into a hidden temporary folder next to the target, ``meta.json`` last, and the folder is renamed into
place: an interrupted run never leaves a dataset that looks finished.

The JPEG frames are written from the rendered pixels, not decoded from the mp4, so they differ from a
decode of the mp4 by the compression of each (a few grey levels).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.synth import writers
from acrn.synth.presets import CROP_AMBIGUOUS_S, Preset, class_table, resolve_preset
from acrn.synth.render import render
from acrn.synth.world import VideoSim, simulate

FORMAT, VERSION = "acrn-synth", 1
SPLITS = ("train", "val", "test")


def video_id(index: int) -> str:
    """11 characters like a YouTube id, CSV-safe: ``synth_00042``."""
    return f"synth_{index:05d}"


def _make_video(p: Preset, seed: int, index: int, root: str) -> VideoSim:
    """Worker: simulate, render and write one video (mp4 + frames); return its tracks and labels."""
    import cv2

    cv2.setNumThreads(1)
    vid = video_id(index)
    sim = simulate(p, seed, index, vid)
    frames = render(sim, p.clutter, p.noise, seed)
    writers.write_mp4(Path(root) / "videos" / f"{vid}.mp4", frames, p.fps)
    writers.write_jpegs(Path(root) / "frames" / vid, vid, frames, p.jpeg_quality)
    for a in sim.actors:  # the joints are only needed for drawing; keep the result small
        a.joints = a.joints[:0]
    return sim


def split_videos(n: int, seed: int, fractions: tuple) -> dict[str, list[int]]:
    """Deterministic train/val/test partition of video indices (each non-empty when n >= 3)."""
    order = np.random.default_rng([seed, 7]).permutation(n)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if n >= 3:
        n_val, n_test = max(1, n_val), max(1, n_test)
        n_val = min(n_val, n - n_test - 1)
    n_train = n - n_val - n_test
    parts = np.split(order, [n_train, n_train + n_val])
    return {s: sorted(int(i) for i in part) for s, part in zip(SPLITS, parts, strict=True)}


def _identity(p: Preset, seed: int) -> dict:
    return {"format": FORMAT, "version": VERSION, "preset": p.name, "seed": int(seed), "params": p.params()}


def read_meta(root: str | Path) -> dict | None:
    """meta.json of a finished synthetic dataset, or None when ``root`` is not one."""
    path = Path(root) / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable meta.json ({e})") from e
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def generate(out_dir: str | Path, preset: str | Preset = "tiny", seed: int = 0, videos: int | None = None, *,
             workers: int | None = None, overwrite: bool = False, log=None, **knobs) -> Path:
    """Generate (or reuse) the synthetic dataset at ``out_dir`` and return its path.

    ``preset`` is "tiny", "demo", "wide", "full" or "relational"; ``videos`` and ``knobs`` (any :class:`Preset` field:
    distractors, object_scale, clutter, noise, jitter, seconds, fps, width, height, classes, ...)
    override it. A finished dataset with the same preset, seed and knobs is returned as is; a different
    finished one is replaced only with ``overwrite=True``. ``workers``: processes (default 2, 0 = in
    this process). ``log``: optional callable taking one progress string.
    """
    p = resolve_preset(preset, videos, **knobs)
    out = Path(out_dir)
    ident = _identity(p, seed)
    meta = read_meta(out)
    if meta is not None and all(meta.get(k) == v for k, v in ident.items()):
        return out
    if out.exists() and not overwrite and (meta is not None or any(out.iterdir())):
        what = "a synthetic dataset with other settings" if meta else "not a finished synthetic dataset"
        raise InputError(f"{out}: exists and is {what}; pass overwrite=True (--overwrite) or another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "videos").mkdir(parents=True)
        (tmp / "frames").mkdir()
        sims = _run_videos(p, seed, tmp, workers, log)
        write_annotations(tmp, p, seed, sims)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _run_videos(p: Preset, seed: int, root: Path, workers: int | None, log) -> list[VideoSim]:
    n_workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
    n_workers = min(n_workers, p.videos)
    sims: list[VideoSim] = []
    if n_workers <= 1:
        for i in range(p.videos):
            sims.append(_make_video(p, seed, i, str(root)))
            if log:
                log(f"video {i + 1}/{p.videos}")
        return sims
    # fork where there is one: spawn would re-import the caller's __main__ (an unguarded script would
    # run again in each worker, `python -` fails) and starts slower. The workers only use numpy, OpenCV
    # (one thread, set first) and PyAV, none of the OpenMP state a forked torch parent may hold.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(n_workers, mp_context=mp.get_context(method)) as pool:
        futures = [pool.submit(_make_video, p, seed, i, str(root)) for i in range(p.videos)]
        for i, f in enumerate(futures):
            sims.append(f.result())
            if log and (i + 1) % max(1, p.videos // 10) == 0:
                log(f"video {i + 1}/{p.videos}")
    return sims


def _swap_into_place(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


def write_annotations(root: Path, p: Preset, seed: int, sims: list[VideoSim]) -> None:
    """Every annotation file plus gt.pkl, then meta.json (last: it marks the dataset finished)."""
    classes = class_table(tuple(p.classes))
    ids = {c.name: c.id for c in classes}
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    (ann / "labelmap.pbtxt").write_text(writers.labelmap_text(classes))
    parts = split_videos(len(sims), seed, p.splits)
    counts = {}
    for split, idx in parts.items():
        gt, rel, exc, props = [], [], [], {}
        for i in idx:
            g, r, e = writers.keyframe_rows(sims[i], ids)
            gt, rel, exc = gt + g, rel + r, exc + e
            props.update(writers.proposals(sims[i], seed, p.false_proposals))
        for name, rows in ((f"{split}.csv", gt), (f"{split}_relations.csv", rel),
                           (f"{split}_excluded_timestamps.csv", exc),
                           (f"{split}_proposals.csv", writers.proposal_rows(props))):
            (ann / name).write_text("".join(r + "\n" for r in rows))
        (ann / f"{split}_proposals.pkl").write_bytes(writers.pickle_bytes(props))
        cols = [r.split(",") for r in gt]
        per_class = {c.name: sum(1 for r in cols if int(r[6]) == c.id) for c in classes}
        counts[split] = {"videos": len(idx), "rows": len(gt), "keyframes": len({(r[0], r[1]) for r in cols}),
                         "actor_keyframes": len({(r[0], r[1], r[7]) for r in cols}),
                         "excluded": len(exc), "per_class": per_class}
    vids = {s: [sims[i].vid for i in idx] for s, idx in parts.items()}
    names = [c.name for c in classes]
    (root / "gt.pkl").write_bytes(writers.gt_pickle_bytes(sims, names, vids["train"], vids["test"]))
    meta = _identity(p, seed) | {
        "fps": p.fps, "width": p.width, "height": p.height, "frames_per_video": p.seconds * p.fps,
        "classes": [{"id": c.id, "name": c.name, "kind": c.kind, "pair": c.pair} for c in classes],
        "splits": vids,
        "keyframe_rule": "timestamp t (integer seconds) is 0-based frame index round(t * fps)",
        "timestamps": list(range(1, p.seconds)),
        "crop_ambiguous_window_s": CROP_AMBIGUOUS_S,
        # a clip longer than +-crop_ambiguous_window_s would show the ball reaching or leaving the hands
        # inside the actor's box, i.e. let an actor-only model see what should need the relation
        "recommended_clip": {"num_frames": int(2 * CROP_AMBIGUOUS_S * p.fps), "sample_rate": 1},
        "gt_pickle": "train_videos=[train split], test_videos=[test split]; frames 1-based, inclusive boxes",
        "codec": writers.video_codec(),
        "counts": counts,
    }
    if p.layout == "relational":  # only here: the classic presets' meta.json stays byte-identical
        from acrn.synth.stats import relational_stats

        meta["relational_stats"] = relational_stats(sims)
    (root / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
