"""JHMDB-21 and UCF101-24: the ACT-style ground-truth pickle, splits and frame folders.

The pickle (``JHMDB-GT.pkl``, ``UCF101v2-GT.pkl``; Python 2, latin1) is a dict with ``labels``,
``train_videos``, ``test_videos`` (one list per split), ``nframes``, ``resolution`` ``(h, w)`` and
``gttubes`` ``{video: {label_index: [array (n, 5) frame, x1, y1, x2, y2]}}``; frames are 1-based,
boxes are 0-based pixels with ACT's inclusive convention. Boxes are passed on unchanged (the ACT
evaluator adds its +1 to areas itself), so detections and ground truth stay in the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acrn.errors import InputError

GT_FILES = {"jhmdb": ("JHMDB-GT.pkl",), "ucf24": ("UCF101v2-GT.pkl", "UCF101-GT.pkl")}
FRAME_DIRS = {"jhmdb": ("Frames", "{num:05d}.png"), "ucf24": ("rgb-images", "{num:05d}.jpg")}
NUM_SPLITS = {"jhmdb": 3, "ucf24": 1}
REQUIRED_KEYS = ("labels", "test_videos", "nframes", "resolution", "gttubes")


@dataclass
class TubeGroundTruth:
    """The parsed pickle. ``gttubes[video][label]`` is a list of ``float32 [n, 5]`` tubes."""

    path: Path
    labels: list[str]
    train_videos: list[list[str]]
    test_videos: list[list[str]]
    nframes: dict[str, int]
    resolution: dict[str, tuple[int, int]]
    gttubes: dict[str, dict[int, list[np.ndarray]]]

    def videos(self, split: int, train: bool) -> list[str]:
        """Videos of 1-based ``split`` (``train_videos[split-1]`` or ``test_videos[split-1]``)."""
        lists = self.train_videos if train else self.test_videos
        if not 1 <= split <= len(lists):
            raise InputError(f"{self.path}: split {split} requested but the file has {len(lists)} "
                             f"{'train' if train else 'test'} split(s)")
        return list(lists[split - 1])

    def frame_boxes(self, video: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Every annotated frame of ``video``: ``{frame (1-based): (boxes float32 [K, 4], labels int64 [K])}``."""
        per: dict[int, list[tuple[np.ndarray, int]]] = {}
        for label, tubes in self.gttubes.get(video, {}).items():
            for tube in tubes:
                for row in tube:
                    per.setdefault(int(row[0]), []).append((row[1:5], label))
        return {f: (np.stack([b for b, _ in v]).astype(np.float32), np.array([lab for _, lab in v], np.int64))
                for f, v in sorted(per.items())}


def _str(x) -> str:
    return x.decode("latin1") if isinstance(x, bytes) else str(x)


def load_ground_truth(path: str | Path) -> TubeGroundTruth:
    """Load and validate a JHMDB/UCF101-24 ground-truth pickle with the restricted unpickler.

    Raises: :class:`InputError` naming the file and key when the structure differs from ACT's.
    """
    from acrn.eval.io import safe_load_pickle  # the one restricted unpickler of the library

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ground-truth pickle not found")
    d = safe_load_pickle(path)
    if not isinstance(d, dict):
        raise InputError(f"{path}: expected a dict, got {type(d).__name__}")
    d = {_str(k): v for k, v in d.items()}
    for key in REQUIRED_KEYS:
        if key not in d:
            raise InputError(f"{path}: key {key!r} missing (expected {', '.join(REQUIRED_KEYS)})")
    labels = [_str(x) for x in d["labels"]]
    test = [[_str(v) for v in s] for s in d["test_videos"]]
    train = [[_str(v) for v in s] for s in d.get("train_videos", [[] for _ in test])]
    nframes = {_str(k): int(v) for k, v in d["nframes"].items()}
    resolution = {}
    for k, v in d["resolution"].items():
        if len(v) != 2:
            raise InputError(f"{path}: resolution[{_str(k)!r}] = {v!r}, expected (h, w)")
        resolution[_str(k)] = (int(v[0]), int(v[1]))
    tubes: dict[str, dict[int, list[np.ndarray]]] = {}
    for video, per_label in d["gttubes"].items():
        video = _str(video)
        if not isinstance(per_label, dict):
            raise InputError(f"{path}: gttubes[{video!r}] is {type(per_label).__name__}, expected a dict "
                             "label -> list of tubes")
        tubes[video] = {}
        for label, tube_list in per_label.items():
            where = f"{path}: gttubes[{video!r}][{label!r}]"
            if not isinstance(label, (int, np.integer)) or not 0 <= int(label) < len(labels):
                raise InputError(f"{where}: label must be an index 0..{len(labels) - 1}")
            arrs = []
            for j, t in enumerate(tube_list):
                a = np.asarray(t, np.float32)
                if a.ndim != 2 or a.shape[1] != 5:
                    raise InputError(f"{where}[{j}]: expected an array (n, 5) frame,x1,y1,x2,y2, got {a.shape}")
                if video in nframes and len(a) and (a[:, 0].min() < 1 or a[:, 0].max() > nframes[video]):
                    raise InputError(f"{where}[{j}]: frames {int(a[:, 0].min())}..{int(a[:, 0].max())} outside "
                                     f"1..{nframes[video]} (nframes)")
                arrs.append(a)
            tubes[video][int(label)] = arrs
    return TubeGroundTruth(path, labels, train, test, nframes, resolution, tubes)


def find_ground_truth(root: Path, kind: str) -> Path:
    """The dataset's ground-truth pickle under ``root`` (standard name, or the only ``*GT*.pkl``)."""
    for name in GT_FILES[kind]:
        for p in (root / name, root / "annotations" / name):
            if p.is_file():
                return p
    found = sorted(root.glob("*GT*.pkl")) + sorted(root.glob("annotations/*GT*.pkl"))
    if len(found) == 1:
        return found[0]
    raise InputError(f"{root}: no ground-truth pickle ({' or '.join(GT_FILES[kind])}) found")


__all__ = ["FRAME_DIRS", "GT_FILES", "NUM_SPLITS", "TubeGroundTruth", "find_ground_truth", "load_ground_truth"]
