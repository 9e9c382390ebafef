"""``build_dataset(cfg, split, train)``: the one place that reads ``cfg.data`` for datasets.

Layouts (``docs/data.md``):

* ``ava``: ``root/annotations/ava_{train,val}_v2.1.csv`` (or v2.2), the label map
  ``ava_action_list_v2.1_for_activitynet_2018.pbtxt``, ``ava_{split}_excluded_timestamps_v2.1.csv``;
  frames in ``root/frames/<vid>/<vid>_%06d.jpg`` (the cut 900-1800 s segment at 30 fps) or videos in
  ``root/videos_15min/`` / ``root/videos/`` (cut segments or whole movies).
* ``custom``: ``root/videos/<vid>.mp4`` (any fps) or ``root/frames/<vid>/<vid>_%06d.jpg``, AVA-format
  ``root/annotations/{split}.csv`` (timestamps = seconds from the video start, key frame
  ``round(t * fps)``), ``root/annotations/labelmap.pbtxt``; optional ``{split}_excluded_timestamps.csv``
  and ``{split}_proposals.csv``.
* ``synthetic``: a custom dataset written by ``acrn.synth`` (fps in ``meta.json``).
* ``jhmdb`` / ``ucf24``: ``JHMDB-GT.pkl`` / ``UCF101v2-GT.pkl`` and ``Frames/`` / ``rgb-images/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from acrn.config import Config, DataConfig
from acrn.data import ava
from acrn.data import transforms as T
from acrn.data.clips import ClipDataset, ClipRecord, FrameSources
from acrn.data.flow import FlowCache
from acrn.data.jhmdb import FRAME_DIRS, find_ground_truth, load_ground_truth
from acrn.errors import InputError

SPLITS = ("train", "val", "test")
AVA_LABELMAP = "ava_action_list_v2.1_for_activitynet_2018.pbtxt"


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def ava_files(d: DataConfig, split: str) -> dict[str, Path | None]:
    """Annotation files of an AVA-format dataset for ``split`` (config values override defaults)."""
    root, ann = Path(d.root), Path(d.root) / "annotations"
    given = {"train": d.train_csv, "val": d.val_csv}.get(split, "")
    if d.dataset == "ava":
        if split == "test" and not given:
            raise InputError("AVA has no public test annotations; evaluate on split 'val'")
        csv = Path(given) if given else _first(ann / f"ava_{split}_v2.1.csv", ann / f"ava_{split}_v2.2.csv")
        labelmap = Path(d.labelmap) if d.labelmap else _first(ann / AVA_LABELMAP, ann / "ava_action_list_v2.2.pbtxt")
        excl = _first(ann / f"ava_{split}_excluded_timestamps_v2.1.csv",
                      ann / f"ava_{split}_excluded_timestamps_v2.2.csv")
        props = _first(*sorted(ann.glob(f"ava_dense_proposals_{split}*.pkl")))
    else:
        csv = Path(given) if given else ann / f"{split}.csv"
        labelmap = Path(d.labelmap) if d.labelmap else ann / "labelmap.pbtxt"
        excl = _first(ann / f"{split}_excluded_timestamps.csv")
        props = _first(ann / f"{split}_proposals.csv", ann / f"{split}_proposals.pkl")
    if d.exclusions:
        excl = Path(d.exclusions)
    if d.proposals:
        props = Path(d.proposals)
    if csv is None or not csv.is_file():
        raise InputError(f"{csv or ann / f'ava_{split}_v2.1.csv'}: annotation CSV for split {split!r} not found "
                         f"(set data.{'train' if split == 'train' else 'val'}_csv)")
    if labelmap is None:
        raise InputError(f"{ann / AVA_LABELMAP}: label map not found (set data.labelmap)")
    return {"csv": csv, "labelmap": labelmap, "exclusions": excl, "proposals": props, "root": root}


def frame_sources(d: DataConfig, fps: float | None = None) -> FrameSources:
    """Frames from ``root/frames`` (folders) or ``root/videos*`` (files) as ``data.frames`` says."""
    root = Path(d.root)
    folders = root / "frames"
    videos = _first(root / "videos_15min", root / "videos") if d.dataset == "ava" else root / "videos"
    mode = d.frames
    if mode == "auto":
        mode = "folder" if folders.is_dir() else "video"
    if mode == "folder":
        if not folders.is_dir():
            raise InputError(f"{folders}: frame folder root not found (data.frames=folder)")
        return FrameSources("folder", folders, "{video}_{num:06d}.jpg", fps=fps or ava.FPS)
    if videos is None or not videos.is_dir():
        raise InputError(f"{root}: neither frames/ nor videos/ found")
    return FrameSources("video", videos, ava_movies=d.dataset == "ava")


def ava_records(d: DataConfig, split: str, problems: ava.RowProblems) -> tuple[list[ClipRecord], list[int], list[str]]:
    """Key-frame records of an AVA-format dataset: one per annotated, non-excluded key frame."""
    files = ava_files(d, split)
    class_ids, class_names = ava.read_class_map(files["labelmap"])
    drop = set(range(1, ava.NUM_ACTION_IDS + 1)) - set(class_ids) if d.dataset == "ava" else set()
    gt = ava.read_ground_truth(files["csv"], class_ids, drop_ids=drop, problems=problems)
    excluded = ava.read_exclusions(files["exclusions"]) if files["exclusions"] else set()
    props = ava.read_proposals(files["proposals"], problems) if files["proposals"] else None
    index = {c: i for i, c in enumerate(class_ids)}
    records = []
    for key, kf in gt.items():
        if key in excluded:
            continue
        labels = np.zeros((len(kf.actions), len(class_ids)), np.float32)
        for k, acts in enumerate(kf.actions):
            labels[k, [index[a] for a in acts]] = 1.0
        # AVA key times count from second 900 (the cut segment); custom/synthetic from the video start.
        time = float(kf.timestamp - ava.SEGMENT_START) if d.dataset == "ava" else float(kf.timestamp)
        p = None if props is None else props.get(key, np.zeros((0, 5), np.float32))
        records.append(ClipRecord(kf.video, kf.timestamp, kf.boxes, labels, time=time, proposals=p))
    return records, class_ids, class_names


def tube_records(d: DataConfig, split: str) -> tuple[list[ClipRecord], list[int], list[str], FrameSources]:
    """JHMDB / UCF101-24: every annotated frame of the split's videos is a key frame."""
    root = Path(d.root)
    gt = load_ground_truth(find_ground_truth(root, d.dataset))
    videos = gt.videos(min(d.split, len(gt.test_videos)) if d.dataset == "ucf24" else d.split, split == "train")
    records = []
    for v in videos:
        for f, (boxes, labels) in gt.frame_boxes(v).items():
            records.append(ClipRecord(v, f, boxes, labels, frame=f - 1, normalised=False))
    folder, pattern = FRAME_DIRS[d.dataset]
    if not (root / folder).is_dir():
        raise InputError(f"{root / folder}: frame folder root not found")
    sources = FrameSources("folder", root / folder, pattern)
    return records, list(range(len(gt.labels))), gt.labels, sources


def dataset_fps(d: DataConfig) -> float | None:
    """Frame rate of ``frames/`` from ``root/meta.json`` (required for synthetic, optional for custom)."""
    meta = Path(d.root) / "meta.json"
    if not meta.is_file():
        if d.dataset == "synthetic":
            raise InputError(f"{meta}: not found (is {d.root} a dataset written by `acrn synth`?)")
        return None
    try:
        return float(json.loads(meta.read_text())["fps"])
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{meta}: expected JSON with a numeric 'fps'") from None


def build_dataset(cfg: Config, split: str, train: bool) -> ClipDataset:
    """The dataset of ``cfg.data`` for ``split`` (``train``/``val``/``test``) with training or test
    transforms. JHMDB/UCF101-24: ``train`` is ``train_videos[split-1]``, ``val``/``test`` the test list."""
    d = cfg.data
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    problems = ava.RowProblems(skip_bad=d.skip_bad)
    if d.dataset in ("jhmdb", "ucf24"):
        records, class_ids, class_names, sources = tube_records(d, split)
        multilabel = False
    else:
        fps = dataset_fps(d)
        records, class_ids, class_names = ava_records(d, split, problems)
        sources = frame_sources(d, fps)
        multilabel = True
    if not records:
        raise InputError(f"{d.root}: split {split!r} has no annotated key frames")
    transform = (T.TrainTransform(tuple(d.train_short_side), d.train_crop, d.flip) if train
                 else T.TestTransform(d.test_short_side))
    flow = None
    if d.flow == "cache":
        flow = FlowCache(Path(d.flow_dir) if d.flow_dir else Path(d.root) / "flow")
    elif d.flow == "online":
        flow = "online"
    ds = ClipDataset(records, sources, class_ids=class_ids, class_names=class_names, multilabel=multilabel,
                     num_frames=d.num_frames, sample_rate=d.sample_rate, transform=transform, mean=d.mean,
                     std=d.std, flow=flow, flow_method=d.flow_method, skip_bad=d.skip_bad, crop_only=d.crop_only)
    ds.num_bad_rows = problems.count
    return ds


__all__ = ["ava_files", "build_dataset", "dataset_fps", "frame_sources"]
