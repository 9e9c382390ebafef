"""The clip Dataset shared by every dataset kind, and ``collate``.

Clip sampling (paper section 4.1: clips centred on the key frame): for key frame ``k`` (0-based frame
index), ``T`` frames at stride ``r`` are the frames ``k + (j - T // 2) * r`` for ``j = 0 .. T-1``. The key
frame is always clip position ``T // 2``: for odd ``T`` the exact middle, for even ``T`` the later of
the two middle positions (``T = 4, r = 1``: ``k-2, k-1, k, k+1``). Indices outside the video are
clamped to ``[0, n - 1]``, i.e. the edge frame is repeated.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from acrn.data import transforms as T
from acrn.data.flow import FlowCache, make_flow_fn, online_flow, pair_indices
from acrn.data.video import FrameFolder, VideoReader, find_video
from acrn.errors import InputError
from acrn.structures import Batch, Sample

log = logging.getLogger("acrn.data")


class DataLoadError(InputError):
    """A sample failed to load. Re-raised from a DataLoader worker, torch rebuilds the exception from
    ``"Caught ... Original Traceback ... <last line>"``; we keep only the original one-line message so
    that the user sees one line, not a worker traceback."""

    def __init__(self, message: str = ""):
        if message.startswith("Caught ") and "Original Traceback" in message:
            head = message.split("\n", 1)[0].removeprefix("Caught DataLoadError ").rstrip(".")
            last = [ln for ln in message.strip().splitlines() if ln.strip()][-1]
            message = last.split(": ", 1)[1] if "DataLoadError: " in last else last
            message = f"{message} [{head}]"
        super().__init__(message)


_OPENCV_THREADS_SET = False


def _single_threaded_opencv() -> None:
    """One OpenCV thread inside DataLoader workers (the workers are the parallelism). Safe after a
    fork thanks to the fork guard in :mod:`acrn.data.video`."""
    global _OPENCV_THREADS_SET
    if not _OPENCV_THREADS_SET and get_worker_info() is not None:
        cv2.setNumThreads(1)
        _OPENCV_THREADS_SET = True


def clip_indices(key: int, num_frames: int, rate: int, length: int) -> list[int]:
    """Frame indices of a clip of ``num_frames`` at stride ``rate`` centred on ``key`` in a video of
    ``length`` frames; edge frames repeated (see module docstring)."""
    half = num_frames // 2
    return [min(max(key + (j - half) * rate, 0), length - 1) for j in range(num_frames)]


@dataclass
class ClipRecord:
    """One key frame of the dataset.

    Attributes:
        video: video id (folder / file stem relative to the frame root).
        timestamp: the key frame's id in the annotation (AVA seconds, or a 1-based frame number).
        boxes: ``float32 [K, 4]`` xyxy, normalised ``[0, 1]`` if ``normalised`` else original pixels.
        labels: ``float32 [K, C]`` multi-hot or ``int64 [K]`` class indices.
        frame: 0-based key frame index, or ``None`` to derive it from ``time``.
        time: seconds from the start of the frame source (``frame = round(time * fps)``).
        proposals: ``float32 [P, 5]`` ``x1, y1, x2, y2, score`` in the units of ``boxes``, or ``None``.
    """

    video: str
    timestamp: int
    boxes: np.ndarray
    labels: np.ndarray
    frame: int | None = None
    time: float | None = None
    proposals: np.ndarray | None = None
    normalised: bool = True


class FrameSources:
    """Opens the frame source of a video by id: ``<folder>/<video>.<ext>`` videos (``mode="video"``) or
    ``<folder>/<video>/<pattern>`` frame folders (``mode="folder"``, ``pattern`` may use ``{video}``).

    ``ava_movies``: an AVA video longer than 1740 s is a whole movie, so key times (relative to second
    900) get 900 s added back; a cut 15-minute segment is used as is. Sources are cached per process.
    """

    LIVE = 2  # sources that keep an open decoder and the frames of their last read

    def __init__(self, mode: str, folder: str | Path, pattern: str = "{video}_{num:06d}.jpg", fps: float = 30.0,
                 ava_movies: bool = False):
        if mode not in ("video", "folder"):
            raise ValueError(f"mode must be 'video' or 'folder', got {mode!r}")
        self.mode, self.folder, self.pattern, self.fps = mode, Path(folder), pattern, fps
        self.ava_movies = ava_movies
        self._cache: OrderedDict[str, VideoReader | FrameFolder] = OrderedDict()
        self._live: OrderedDict[str, VideoReader | FrameFolder] = OrderedDict()

    def open(self, video: str) -> VideoReader | FrameFolder:
        src = self._cache.get(video)
        if src is None:
            if self.mode == "video":
                path = find_video(self.folder, video)
                if path is None:
                    raise InputError(f"{self.folder / video}.mp4: video file not found (also tried .mkv, .webm, "
                                     ".avi, .mov, .m4v)")
                src = VideoReader(path)
            else:
                src = FrameFolder(self.folder / video, self.pattern.replace("{video}", video.split("/")[-1]),
                                  fps=self.fps)
            self._cache[video] = src
            if len(self._cache) > 256:
                self._cache.popitem(last=False)[1].close()
        # Only the most recently used sources keep an open decoder and their last frames: clips of
        # one video come in runs (consecutive key frames), and each kept source holds a clip of frames.
        self._live[video] = src
        self._live.move_to_end(video)
        if len(self._live) > self.LIVE:
            self._live.popitem(last=False)[1].close()
        return src

    def key_frame(self, rec: ClipRecord, src: VideoReader | FrameFolder) -> int:
        if rec.frame is not None:
            return rec.frame
        t = rec.time + (900.0 if self.ava_movies and isinstance(src, VideoReader) and src.duration > 1740 else 0.0)
        return int(round(t * src.fps))


class ClipDataset(Dataset):
    """Clips centred on annotated key frames -> :class:`acrn.structures.Sample`.

    Args:
        records: the key frames, in index order.
        sources: opens frames of a video.
        class_ids / class_names: label-map ids and names (index = contiguous class index).
        multilabel: labels are ``Tensor[K, C]`` multi-hot (True) or ``Tensor[K]`` long (False).
        num_frames / sample_rate: ``T`` and ``r``.
        transform: ``(orig_size, rng) -> Geometry`` (:class:`TrainTransform` or :class:`TestTransform`).
        mean / std: RGB normalisation in [0, 1] units.
        flow: ``None``, a :class:`FlowCache`, or ``"online"`` (computed with ``flow_method``).
        crop_only: the crop-only control (issue #17): every pixel outside the key frame's annotated and
            proposed boxes is blanked, in every frame, so nothing outside an actor's box reaches the model.
        skip_bad: a sample that fails to load logs a warning and gives ``None`` (dropped by
            :func:`collate`, counted in ``Batch.num_skipped``) instead of raising.
    """

    def __init__(self, records: list[ClipRecord], sources: FrameSources, *, class_ids: list[int],
                 class_names: list[str], multilabel: bool, num_frames: int, sample_rate: int,
                 transform: Callable[[tuple[int, int], np.random.Generator], T.Geometry],
                 mean: list[float], std: list[float], flow: FlowCache | str | None = None,
                 flow_method: str = "dis", skip_bad: bool = False, crop_only: bool = False):
        self.records, self.sources = records, sources
        self.class_ids, self.class_names, self.multilabel = list(class_ids), list(class_names), multilabel
        self.num_frames, self.sample_rate = num_frames, sample_rate
        self.transform, self.mean, self.std = transform, list(mean), list(std)
        self.flow, self.flow_method, self.skip_bad = flow, flow_method, skip_bad
        self.crop_only = crop_only
        self.num_skipped = 0  # in this process; workers report theirs through collate
        self._one_sample_batch = False
        self._flow_fn = None

    @property
    def keyframes(self) -> list[tuple[str, int]]:
        """``(video, timestamp)`` of every sample, in index order."""
        return [(r.video, r.timestamp) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitems__(self, indices: list[int]) -> list[Sample | None]:
        """The samples of one batch (torch's DataLoader fetches a batch through this). A batch of one
        sample is built in shared memory inside a worker, where :func:`collate` uses it without a copy;
        in bigger batches each clip is copied into the batch anyway, so it stays in private memory."""
        self._one_sample_batch = len(indices) == 1
        try:
            return [self[i] for i in indices]
        finally:
            self._one_sample_batch = False

    def __getitem__(self, index: int) -> Sample | None:
        rec = self.records[index]
        try:
            return self.load(rec)
        except Exception as e:  # one line naming the sample; never a raw traceback from a worker
            detail = str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}"
            msg = f"sample {index} (video {rec.video!r}, timestamp {rec.timestamp}): {detail}"
            if not self.skip_bad:
                raise DataLoadError(msg) from None
            self.num_skipped += 1
            log.warning("skipped %s", msg)
            return None

    def load(self, rec: ClipRecord) -> Sample:
        """Read, transform and normalise one key frame's clip (raises :class:`InputError`)."""
        _single_threaded_opencv()
        src = self.sources.open(rec.video)
        n = src.num_frames
        key = self.sources.key_frame(rec, src)
        if not 0 <= key < n:
            raise InputError(f"{src.path}: has {n} frames ({src.duration:.2f} s at {src.fps:.3f} fps) but the key "
                             f"frame needs frame {key}: the video is shorter than the annotations assume")
        idx = clip_indices(key, self.num_frames, self.sample_rate, n)
        # Python's `random` is seeded per DataLoader worker by torch (and cheaper than torch.randint).
        rng = np.random.default_rng(random.getrandbits(63))
        g = self.transform(tuple(src.size), rng)
        frames = src.read(idx, size=g.resized, required=key)
        frames = T.apply_frames(frames, g)
        oh, ow = src.size
        norm = np.array([ow, oh, ow, oh], np.float32) if rec.normalised else np.ones(4, np.float32)
        boxes, keep = T.apply_boxes(rec.boxes * norm, g)
        labels = torch.from_numpy(np.ascontiguousarray(rec.labels[keep]))
        proposals = scores = None
        if rec.proposals is not None:
            pb, pkeep = T.apply_boxes(rec.proposals[:, :4] * norm, g)
            proposals, scores = torch.from_numpy(pb), torch.from_numpy(rec.proposals[pkeep, 4].copy())
        if self.crop_only:
            from acrn.synth.controls import crop_only

            kept = np.concatenate([boxes.reshape(-1, 4)] + ([] if proposals is None else [pb.reshape(-1, 4)]))
            # blanked to the normalisation mean: exactly 0 at the network's input, the same in every clip
            frames = crop_only(frames, kept, np.round(np.asarray(self.mean) * 255).astype(np.uint8))
        shape = (3, *frames.shape[:3])
        clip = T.to_tensor(frames, self.mean, self.std, out=_new_tensor(shape) if self._one_sample_batch else None)
        flow = self._flow(rec, src, idx, g) if self.flow is not None else None
        meta = {"video": rec.video, "timestamp": rec.timestamp, "orig_size": (oh, ow), "scale": g.scale,
                "offset": g.offset, "flipped": g.flipped, "frame_index": key, "input_size": g.size}
        return Sample(clip=clip, boxes=torch.from_numpy(boxes), labels=labels, meta=meta, flow=flow,
                      proposals=proposals, proposal_scores=scores)

    def _flow(self, rec: ClipRecord, src, idx: list[int], g: T.Geometry) -> Tensor:
        n = src.num_frames
        if isinstance(self.flow, FlowCache):
            u8 = self.flow.read(rec.video, idx, n)
        else:  # online: decode each pair (p, p + 1) and run the flow method
            if self._flow_fn is None:
                self._flow_fn = make_flow_fn(self.flow_method)
            pairs = pair_indices(idx, n)
            both = [i for p in pairs for i in (p, min(p + 1, n - 1))]
            u8 = online_flow(src.read(both), self._flow_fn)
        return T.apply_flow(u8, g)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_flow_fn"] = None  # OpenCV objects do not pickle; rebuilt in each worker
        return state


def _new_tensor(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
    """An uninitialised tensor; inside a DataLoader worker it is allocated in shared memory directly
    (as torch's default_collate does), since sending a tensor to the main process would otherwise copy
    it there."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = 1
    for d in shape:
        numel *= d
    storage = torch.UntypedStorage._new_shared(numel * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


def _padded_stack(xs: list[Tensor], h: int, w: int) -> Tensor:
    """``Tensor[B, *xs[0].shape[:-2], h, w]``, each ``x`` copied once into its zero-padded slot (in
    shared memory inside a DataLoader worker). One sample that needs no padding and is already where
    it has to go (shared memory in a worker, anywhere in the main process) is used without a copy."""
    x0 = xs[0]
    if len(xs) == 1 and x0.shape[-2:] == (h, w) and x0.is_contiguous() and (
            get_worker_info() is None or x0.is_shared()):
        return x0.unsqueeze(0)
    out = _new_tensor((len(xs), *x0.shape[:-2], h, w), x0.dtype)
    if any(x.shape[-2:] != (h, w) for x in xs):
        out.zero_()  # the padding
    for i, x in enumerate(xs):
        out[i, ..., : x.shape[-2], : x.shape[-1]] = x
    return out


def _is_middle_frame(keyframe: Tensor, clip: Tensor) -> bool:
    """``keyframe`` is the view ``clip[:, T // 2]`` (as :class:`Sample` makes it by default)."""
    mid = clip[:, clip.shape[1] // 2]
    return keyframe.data_ptr() == mid.data_ptr() and keyframe.shape == mid.shape and keyframe.stride() == mid.stride()


def collate(samples: list[Sample | None]) -> Batch | None:
    """Stack samples into a :class:`Batch`, zero-padding clips (and flows) bottom/right to the largest
    ``H, W``; ``image_sizes`` keeps each unpadded ``(h, w)``. ``None`` samples (skipped bad inputs) are
    dropped and counted in ``batch.num_skipped``; a batch with no sample left is ``None``."""
    kept = [s for s in samples if s is not None]
    if not kept:
        return None
    h = max(s.clip.shape[-2] for s in kept)
    w = max(s.clip.shape[-1] for s in kept)
    clips = _padded_stack([s.clip for s in kept], h, w)
    if all(_is_middle_frame(s.keyframe, s.clip) for s in kept):
        keyframes = clips[:, :, clips.shape[2] // 2]  # a view: one tensor fewer to pass between processes
    else:
        keyframes = _padded_stack([s.keyframe for s in kept], h, w)
    flows = _padded_stack([s.flow for s in kept], h, w) if all(s.flow is not None for s in kept) else None
    has_props = all(s.proposals is not None for s in kept)
    batch = Batch(
        clips=clips, image_sizes=torch.tensor([list(s.clip.shape[-2:]) for s in kept], dtype=torch.long),
        boxes=[s.boxes for s in kept], labels=[s.labels for s in kept], metas=[s.meta for s in kept],
        keyframes=keyframes, flows=flows, proposals=[s.proposals for s in kept] if has_props else None,
        proposal_scores=[s.proposal_scores for s in kept] if has_props else None)
    batch.num_skipped = len(samples) - len(kept)
    return batch


__all__ = ["ClipDataset", "ClipRecord", "DataLoadError", "FrameSources", "clip_indices", "collate"]
