"""Running a detector over a dataset or over videos, and writing AVA-format files.

:func:`predict` returns one :class:`~acrn.structures.Detections` per dataset item, in index order;
under torchrun every rank runs its share (items ``rank, rank + world, ...``) and the results are
gathered on every rank. :func:`video_dataset` turns user videos into a dataset of key frames every
``every`` seconds (no annotations). Writers produce the AVA detection CSV (one row per box and class)
and the two AVA proposal formats (CSV with action -1, and the ``"video,%04d"`` pickle).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset
from tqdm import tqdm

from acrn.cli.common import atomic_write_bytes, atomic_write_text
from acrn.config import Config
from acrn.engine.distributed import DistInfo, gather_sharded, shard_indices
from acrn.errors import InputError
from acrn.structures import Batch, Detections

PostProcessFn = Callable[[dict, Batch], list[Detections]]


@torch.inference_mode()
def predict(model: nn.Module, postprocess: PostProcessFn, dataset: Dataset, collate_fn: Callable, *,
            device: torch.device, info: DistInfo | None = None, batch_size: int = 1, num_workers: int = 0,
            limit: int = 0, amp: bool = False, progress: bool = False, desc: str = "infer",
            columns: torch.Tensor | None = None) -> list[Detections | None]:
    """Detections for items ``0 .. n-1`` of ``dataset`` (``n = limit`` or all); ``None`` for skipped items.

    ``columns`` (from :func:`class_columns`): keep only these score (and heatmap) columns, in this order.
    """
    info = info or DistInfo(device=device)
    n = min(limit, len(dataset)) if limit else len(dataset)
    mine = shard_indices(n, info.rank, info.world_size)
    loader = DataLoader(Subset(dataset, mine), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=_KeepSamples(collate_fn))
    model.eval()
    out: list[Detections | None] = []
    bar = tqdm(total=len(mine), desc=desc, disable=not (progress and info.is_main), dynamic_ncols=True)
    for samples, batch in loader:
        dets = iter([] if batch is None else _run(model, postprocess, batch.to(device), amp))
        out.extend(None if s is None else select_columns(next(dets), columns) for s in samples)
        bar.update(len(samples))
    bar.close()
    return gather_sharded(out, n)


class _KeepSamples:
    """Collate that also returns the raw list, so skipped (``None``) samples keep their slot."""

    def __init__(self, collate_fn: Callable) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: list) -> tuple[list, Batch | None]:
        return samples, self.collate_fn(samples)


def _run(model: nn.Module, postprocess: PostProcessFn, batch: Batch, amp: bool) -> list[Detections]:
    if getattr(model, "channels_last_input", False):  # see optimize_for_inference
        batch.clips = batch.clips.contiguous(memory_format=torch.channels_last_3d)
    with torch.autocast(batch.clips.device.type, dtype=torch.bfloat16, enabled=amp and batch.clips.is_cuda):
        outputs = model(batch)
    return [_cpu(d) for d in postprocess(outputs, batch)]


def class_columns(model_ids: Sequence[int], dataset_ids: Sequence[int], by_id: bool = True) -> torch.Tensor | None:
    """Score columns of a checkpoint with class ids ``model_ids`` that give the dataset's ``dataset_ids``.

    ``None`` when they are the same list (nothing to do), or when ``by_id`` is false (a checkpoint that stores
    no class ids: columns follow the dataset's label map, as before). Otherwise ``Tensor[len(dataset_ids)]`` of
    column indices: the model's scores of ids the dataset does not evaluate are dropped (e.g. the 80-class
    MMAction2 checkpoint on a 60-class AVA label map). A dataset id the checkpoint lacks is an InputError.
    """
    model_ids, dataset_ids = [int(c) for c in model_ids], [int(c) for c in dataset_ids]
    if model_ids == dataset_ids or not by_id:
        return None
    index = {c: i for i, c in enumerate(model_ids)}
    missing = [c for c in dataset_ids if c not in index]
    if missing:
        raise InputError(f"class id {missing[0]} of the dataset's label map is not predicted by the checkpoint "
                         f"({len(missing)} such ids; the checkpoint has {len(model_ids)} classes, ids "
                         f"{min(model_ids)}..{max(model_ids)})")
    return torch.tensor([index[c] for c in dataset_ids], dtype=torch.long)


def select_columns(d: Detections, columns: torch.Tensor | None) -> Detections:
    """``d`` with only the score / heatmap columns ``columns`` (``Tensor[K']``), in that order."""
    if columns is None:
        return d
    heat = None if d.heatmaps is None else d.heatmaps[:, columns]
    return Detections(d.boxes, d.scores[:, columns], d.actor_scores, d.meta, heat)


def _cpu(d: Detections) -> Detections:
    return Detections(d.boxes.float().cpu(), d.scores.float().cpu(), d.actor_scores.float().cpu(), dict(d.meta),
                      None if d.heatmaps is None else d.heatmaps.float().cpu())


# ---------------------------------------------------------------------------------------------
# User videos as a dataset of key frames


def video_dataset(cfg: Config, videos: Sequence[str | Path], every: float, class_ids: list[int],
                  class_names: list[str], proposals: dict | None = None) -> Dataset:
    """Key frames every ``every`` seconds of each video, as a test-time dataset (no ground truth).

    ``proposals``: ``{(video, timestamp): float32 [P, 5]}`` normalised boxes + score, looked up with the
    key frame's timestamp rounded to whole seconds (AVA key frames are 1 Hz). The dataset has
    ``keyframes`` and the class attributes like the annotated datasets.
    """
    from acrn.data import ClipDataset, ClipRecord, FrameSources
    from acrn.data import transforms as T
    from acrn.data.video import VideoReader
    from acrn.detect.decode import keyframe_times

    paths = [Path(v) for v in videos]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InputError("videos must have distinct file names (their stem is the video id in the CSV)")
    parts, keyframes = [], []
    empty_labels = np.zeros((0, len(class_ids)), np.float32)
    for p in paths:
        reader = VideoReader(p)
        times = keyframe_times(reader.num_frames / float(reader.rate), every)
        recs = []
        for t in times:
            props = None
            if proposals is not None:
                props = proposals.get((p.stem, int(round(t))), np.zeros((0, 5), np.float32))
            recs.append(ClipRecord(p.stem, t, np.zeros((0, 4), np.float32), empty_labels, time=t, proposals=props))
        keyframes += [(p.stem, t) for t in times]
        parts.append(ClipDataset(recs, FrameSources("video", p.parent), class_ids=class_ids, class_names=class_names,
                                 multilabel=cfg.model.multilabel, num_frames=cfg.data.num_frames,
                                 sample_rate=cfg.data.sample_rate, transform=T.TestTransform(cfg.data.test_short_side),
                                 mean=cfg.data.mean, std=cfg.data.std))
    ds = ConcatDataset(parts)
    ds.keyframes, ds.class_ids, ds.class_names = keyframes, list(class_ids), list(class_names)
    ds.multilabel = cfg.model.multilabel
    return ds


# ---------------------------------------------------------------------------------------------
# AVA-format writers


def format_timestamp(t: float | int) -> str:
    """AVA's ``%04d`` for whole seconds; decimals (accepted by the 2020 evaluator) otherwise."""
    return f"{int(round(t)):04d}" if float(t) == round(float(t)) else f"{float(t):.3f}"


def normalised(boxes: torch.Tensor, orig_size: tuple[int, int]) -> np.ndarray:
    """xyxy original pixels ``Tensor[N, 4]`` -> normalised ``[0, 1]`` (AVA file convention)."""
    h, w = orig_size
    return (boxes.double().numpy() / np.array([w, h, w, h], np.float64)).clip(0.0, 1.0)


def detection_rows(dets: Sequence[Detections | None], class_ids: list[int], min_score: float = 0.0,
                   top_k: int = 0) -> list[str]:
    """AVA detection CSV rows ``video,timestamp,x1,y1,x2,y2,action_id,score`` (one per box and class).

    ``top_k > 0`` keeps only each box's ``top_k`` classes; rows below ``min_score`` are dropped.
    """
    rows = []
    for d in dets:
        if d is None or not len(d):
            continue
        video, ts = d.meta["video"], format_timestamp(d.meta["timestamp"])
        boxes = normalised(d.boxes, d.meta["orig_size"])
        scores = d.scores.double().numpy()
        for i in range(len(d)):
            classes = np.argsort(-scores[i], kind="stable")[:top_k] if top_k else range(scores.shape[1])
            x1, y1, x2, y2 = boxes[i]
            for c in classes:
                if scores[i, c] >= min_score:
                    rows.append(f"{video},{ts},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},{class_ids[c]},{scores[i, c]:.6f}")
    return rows


def write_detections_csv(path: str | Path, dets: Sequence[Detections | None], class_ids: list[int],
                         min_score: float = 0.0, top_k: int = 0) -> int:
    """Write the AVA detection CSV atomically; return the number of rows."""
    rows = detection_rows(dets, class_ids, min_score, top_k)
    atomic_write_text(path, "".join(r + "\n" for r in rows))
    return len(rows)


def proposal_arrays(dets: Sequence[Detections | None]) -> dict[str, np.ndarray]:
    """``{"video,%04d": float32 [n, 5]}`` normalised ``x1, y1, x2, y2, score`` (AVA proposals pickle)."""
    out = {}
    for d in dets:
        if d is None:
            continue
        key = f"{d.meta['video']},{format_timestamp(d.meta['timestamp'])}"
        arr = np.zeros((len(d), 5), np.float32)
        if len(d):
            arr[:, :4] = normalised(d.boxes, d.meta["orig_size"])
            arr[:, 4] = d.actor_scores.numpy()
        out[key] = arr
    return out


def write_proposals(path: str | Path, dets: Sequence[Detections | None]) -> int:
    """Write person proposals: ``.pkl`` (pickle of :func:`proposal_arrays`) or ``.csv`` (AVA detection
    format with action ``-1`` and the person score last). Returns the number of boxes."""
    arrays = proposal_arrays(dets)
    n = sum(len(a) for a in arrays.values())
    if str(path).endswith(".pkl"):
        buf = io.BytesIO()
        pickle.dump(arrays, buf, protocol=4)
        atomic_write_bytes(path, buf.getvalue())
        return n
    if not str(path).endswith(".csv"):
        raise InputError(f"{path}: proposals file must end in .csv or .pkl")
    lines = [f"{key},{a[0]:.3f},{a[1]:.3f},{a[2]:.3f},{a[3]:.3f},-1,{a[4]:.6f}\n"
             for key, arr in arrays.items() for a in arr]
    atomic_write_text(path, "".join(lines))
    return n


# ---------------------------------------------------------------------------------------------
# Loading a trained detector


def load_detector(path: str | Path, overrides: Sequence[str] = (), device: torch.device | str = "cpu",
                  actors: str | None = None) -> tuple[Config, nn.Module, PostProcessFn, dict]:
    """``(cfg, model, postprocess, extra)`` from an acrn checkpoint, the model in eval mode on ``device``.

    The config is the one stored in the checkpoint with ``overrides`` applied. ``actors="file"`` swaps
    the RPN for proposals read from a file (the RPN weights are then not needed). Import paths of
    pre-trained weights are cleared: the checkpoint already holds every weight.
    """
    from acrn.config import apply_overrides, from_dict, validate
    from acrn.engine.checkpoint import load_checkpoint
    from acrn.models import build_model

    payload = load_checkpoint(path)
    cfg = from_dict(payload["config"])
    apply_overrides(cfg, list(overrides))
    if actors is not None:
        cfg.model.actors = actors
    cfg.model.pretrained, cfg.model.rpn.pretrained, cfg.model.init_from = "", "", ""
    validate(cfg)
    model, _, postprocess = build_model(cfg)
    missing, unexpected = model.load_state_dict(payload["model"], strict=False)
    swapped = actors is not None
    bad = [k for k in missing + unexpected if not (swapped and k.startswith("actors."))]
    if bad:
        raise InputError(f"{path}: weights do not fit the model built from its config ({len(bad)} keys, e.g. "
                         f"{bad[0]!r}); was it written by another acrn version?")
    model = optimize_for_inference(model.to(device).eval(), cfg.runtime.channels_last, cfg.runtime.compile,
                                   cfg.runtime.cpu_bf16)
    extra = dict(payload.get("extra", {}))
    extra["class_ids_stored"] = "class_ids" in extra  # only stored ids are mapped by id (class_columns)
    extra.setdefault("class_ids", list(range(1, cfg.model.num_classes + 1)))
    extra.setdefault("class_names", [f"class {i}" for i in extra["class_ids"]])
    extra["step"] = payload["step"]
    return cfg, model, postprocess, extra


def optimize_for_inference(model: nn.Module, channels_last: bool = False, compile: bool = False,
                           cpu_bf16: bool = False) -> nn.Module:
    """``runtime.channels_last``: backbone weights in ``channels_last_3d``; ``runtime.compile``: inductor
    with ``freezing`` (weights folded as constants, BN fused) on the dense parts (backbone, temporal
    flatten, actor ResNet); the RPN's NMS and the ROI loop stay eager. Inference only: BNs that sit right
    after a conv in one module (``fold_bn()``, e.g. SlowFast's and MMAction2's ACRN head's ConvBN) are always
    folded into that conv. ``runtime.cpu_bf16`` (CPU models only): the forward runs under bf16 autocast and
    returns float32 tensors; not float-exact (see docs/mmaction2.md)."""
    for m in list(model.modules()):
        if hasattr(m, "fold_bn"):
            m.fold_bn()
    if cpu_bf16 and next(model.parameters()).device.type == "cpu":
        model.forward = _bf16_forward(model.forward)
    if channels_last and hasattr(model, "backbone"):
        # Measured on 2 CPU cores (benchmarks/bench_train.py): a 32x256x256 clip through the full-width ACRN
        # detector: 0.93 s vs 5.0 s contiguous in one run, 2.8 s vs 7.2 s in another (shared machine).
        model.backbone.to(memory_format=torch.channels_last_3d)
        model.channels_last_input = True
    if compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        for name in ("backbone", "flatten"):
            if hasattr(model, name):
                setattr(model, name, torch.compile(getattr(model, name)))
        if hasattr(getattr(model, "actors", None), "resnet"):
            model.actors.resnet = torch.compile(model.actors.resnet)
    return model


def _bf16_forward(forward: Callable) -> Callable:
    """``forward`` under CPU bf16 autocast, its top-level floating tensors returned as float32."""

    def run(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = forward(*args, **kwargs)
        return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()}

    return run
