"""Dataset checks (``acrn data check``): missing videos and frames, frame counts and fps that differ
from what the annotations assume, key frames past the end of a video, bad annotation rows.

Frame-extraction differences (ffmpeg version, fps rounding) are a known cause of irreproducible AVA
mAP, so every AVA frame folder is compared with the 27,030 frames of a correct 901 s x 30 fps cut.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from acrn.config import Config
from acrn.data import ava
from acrn.data.build import SPLITS, ava_records, build_dataset, dataset_fps, frame_sources, tube_records
from acrn.data.clips import ClipRecord, FrameSources
from acrn.data.jhmdb import find_ground_truth, load_ground_truth
from acrn.data.video import FrameFolder, VideoReader
from acrn.errors import InputError


@dataclass
class CheckReport:
    """Problems found: ``errors`` make training fail, ``warnings`` may change results."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    videos: int = 0
    keyframes: int = 0
    skipped_rows: int = 0
    skipped_samples: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _folder_gaps(folder: Path, pattern: str) -> tuple[int, list[int]]:
    """``(highest file number, missing numbers below it)`` of a frame folder."""
    rx = re.compile("^" + re.escape(pattern).replace(re.escape("{num:06d}"), r"(\d+)")
                    .replace(re.escape("{num:05d}"), r"(\d+)") + "$")
    nums = sorted(int(m.group(1)) for n in os.listdir(folder) if (m := rx.match(n)))
    if not nums:
        return 0, []
    present = set(nums)
    return nums[-1], [i for i in range(1, nums[-1] + 1) if i not in present]


def check_source(video: str, recs: list[ClipRecord], sources: FrameSources, cfg: Config, rep: CheckReport,
                 expected_frames: int | None = None) -> None:
    """Check one video's frames against its key frames (and the frame count the annotations give)."""
    kind = cfg.data.dataset
    try:
        src = sources.open(video)
    except InputError as e:
        rep.errors.append(f"missing video: {e}")
        return
    if isinstance(src, FrameFolder):
        top, gaps = _folder_gaps(src.path, src.pattern)
        if gaps:
            show = ", ".join(str(g) for g in gaps[:5]) + (" ..." if len(gaps) > 5 else "")
            rep.errors.append(f"{src.path}: {len(gaps)} missing frame file(s) below number {top}: {show}")
        if expected_frames is not None and top != expected_frames:
            rep.warnings.append(f"{src.path}: {top} frames, the ground truth says nframes = {expected_frames}")
        if kind == "ava" and top != ava.SEGMENT_FRAMES:
            rep.warnings.append(f"{src.path}: {top} frames, the annotations assume {ava.SEGMENT_FRAMES:,} "
                                f"(901 s x {ava.FPS} fps from second 900): key frames will be misaligned")
    elif isinstance(src, VideoReader):
        if kind == "ava":
            if abs(src.fps - ava.FPS) > 0.01:
                rep.warnings.append(f"{src.path}: {src.fps:.3f} fps, the annotations assume {ava.FPS} (key frames "
                                    "are located by time, but frame counts differ from the usual extraction)")
            if not (src.duration > 1740 or abs(src.duration - 901) < 2 or abs(src.duration - 900) < 2):
                rep.warnings.append(f"{src.path}: {src.duration:.1f} s long; expected a 900-901 s cut segment "
                                    "or a whole movie (> 1800 s)")
        if src.start_time:
            rep.warnings.append(f"{src.path}: stream starts at {src.start_time:.3f} s (offset handled)")
    need = max(sources.key_frame(r, src) for r in recs)
    if need >= src.num_frames:
        late = sum(sources.key_frame(r, src) >= src.num_frames for r in recs)
        rep.errors.append(f"{src.path}: {src.num_frames} frames ({src.fps:.3f} fps) but {late} key frame(s) need "
                          f"frames up to {need}: the video is shorter than the annotations assume")
    if kind == "ava":
        bad = sorted({r.timestamp for r in recs if r.timestamp not in ava.VALID_KEYFRAMES})
        if bad:
            rep.warnings.append(f"video {video}: timestamps outside {ava.FIRST_KEYFRAME}..{ava.LAST_KEYFRAME}: "
                                f"{bad[:5]}")


def check_dataset(cfg: Config, splits: tuple[str, ...] = ("train", "val"), decode: bool = False,
                  progress: bool = False, optional_splits: bool = True) -> CheckReport:
    """Check the dataset of ``cfg.data`` for ``splits`` (with ``optional_splits``, splits without an
    annotation file are skipped as long as one split has one).

    ``decode``: also load every sample through the Dataset (finds unreadable frames and videos;
    with ``cfg.data.skip_bad`` they are counted instead of raised).
    """
    rep = CheckReport()
    d = cfg.data
    by_video: dict[str, list[ClipRecord]] = {}
    checked = []
    for split in splits:
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        try:
            if d.dataset in ("jhmdb", "ucf24"):
                records, _, _, sources = tube_records(d, split)
            else:
                problems = ava.RowProblems(skip_bad=d.skip_bad)
                records, _, _ = ava_records(d, split, problems)
                rep.skipped_rows += problems.count
                sources = frame_sources(d, dataset_fps(d))
        except InputError as e:
            if optional_splits and "annotation CSV" in str(e) and "not found" in str(e):
                continue  # a split the dataset does not have
            raise
        checked.append(split)
        rep.keyframes += len(records)
        for r in records:
            by_video.setdefault(r.video, []).append(r)
    if not checked:
        raise InputError(f"{d.root}: no annotations found for splits {', '.join(splits)}")
    rep.videos = len(by_video)
    nframes = {}
    if d.dataset in ("jhmdb", "ucf24"):
        nframes = load_ground_truth(find_ground_truth(Path(d.root), d.dataset)).nframes
    for video, recs in _progress(sorted(by_video.items()), progress, "videos"):
        check_source(video, recs, sources, cfg, rep, nframes.get(video))
    if decode:
        for split in checked:
            ds = build_dataset(cfg, split, train=False)
            for i in _progress(range(len(ds)), progress, f"{split} samples"):
                if ds[i] is None:
                    rep.skipped_samples += 1
    return rep


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, unit="", leave=False)


def config_for(kind: str, root: str, skip_bad: bool = False, base: Config | None = None) -> Config:
    """A config for dataset ``kind`` at ``root`` (other data fields from ``base`` or the defaults)."""
    cfg = base or Config()
    cfg.data = dataclasses.replace(cfg.data, dataset=kind, root=root, skip_bad=skip_bad or cfg.data.skip_bad)
    return cfg


__all__ = ["CheckReport", "check_dataset", "check_source", "config_for"]
