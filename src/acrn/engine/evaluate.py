"""Scoring detections against a dataset's ground truth with the in-memory evaluators (acrn.eval).

AVA-format datasets (ava, custom, synthetic): AVA frame-AP at ``cfg.eval.iou`` with the protocol
``cfg.eval.protocol``; the dataset's key frames already exclude the excluded timestamps. Boxes go to the
evaluator normalised, as in the AVA files. JHMDB / UCF101-24: ACT frame-AP and, with
``cfg.eval.link_tubes``, video-AP over linked tubes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from acrn.config import Config
from acrn.engine.distributed import DistInfo
from acrn.engine.infer import PostProcessFn, format_timestamp, normalised, predict
from acrn.structures import Detections

AVA_LIKE = ("ava", "custom", "synthetic")


def _key(video: str, ts: Any) -> str:
    return f"{video},{format_timestamp(ts)}"


def ava_ground_truth(dataset: Dataset, limit: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(keys [N], boxes float64 [N, 4] normalised, label-map ids [N])`` from an AVA-format ClipDataset."""
    keys, boxes, labels = [], [], []
    records = dataset.records[:limit] if limit else dataset.records
    for rec in records:
        lab = np.asarray(rec.labels)
        for k in range(len(rec.boxes)):
            classes = np.flatnonzero(lab[k] > 0) if lab.ndim == 2 else [int(lab[k])]
            for c in classes:
                keys.append(_key(rec.video, rec.timestamp))
                boxes.append(rec.boxes[k])
                labels.append(dataset.class_ids[c])
    return np.asarray(keys, dtype=str), np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(labels, np.int64)


def detection_arrays(dets: Sequence[Detections | None], class_ids: list[int]) -> tuple[np.ndarray, ...]:
    """``(keys, boxes normalised, label-map ids, scores)``: one row per box and class."""
    keys, boxes, labels, scores = [], [], [], []
    ids = np.asarray(class_ids, np.int64)
    for d in dets:
        if d is None or not len(d):
            continue
        b = normalised(d.boxes, d.meta["orig_size"])
        s = d.scores.double().numpy()
        n, c = s.shape
        keys += [_key(d.meta["video"], d.meta["timestamp"])] * (n * c)
        boxes.append(np.repeat(b, c, axis=0))
        labels.append(np.tile(ids, n))
        scores.append(s.reshape(-1))
    if not keys:
        return np.zeros(0, str), np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
    return np.asarray(keys, dtype=str), np.concatenate(boxes), np.concatenate(labels), np.concatenate(scores)


def score_detections(cfg: Config, dets: Sequence[Detections | None], dataset: Dataset) -> dict:
    """Metrics dict (JSON-able) of ``dets`` (index-aligned with ``dataset``) against its ground truth."""
    if cfg.data.dataset in AVA_LIKE:
        from acrn.eval.ava import evaluate_ava

        gk, gb, gl = ava_ground_truth(dataset, limit=len(dets))
        dk, db, dl, ds = detection_arrays(dets, dataset.class_ids)
        names = dict(zip(dataset.class_ids, dataset.class_names))
        res = evaluate_ava(gk, gb, gl, dk, db, dl, ds, dataset.class_ids, protocol=cfg.eval.protocol,
                           iou_threshold=cfg.eval.iou, class_names=names)
        return {"frame_ap": res["mAP"], "frame": res}
    return score_tubes(cfg, dets, dataset)


def score_tubes(cfg: Config, dets: Sequence[Detections | None], dataset: Dataset) -> dict:
    """JHMDB / UCF101-24: ACT frame-AP (+ video-AP over linked tubes)."""
    from acrn.engine import act_adapter

    return act_adapter.score(cfg, dets, dataset)


def make_evaluator(cfg: Config, postprocess: PostProcessFn, dataset: Dataset, info: DistInfo,
                   collate_fn: Callable | None = None) -> Callable[[nn.Module, int], dict]:
    """``evaluate(model, step) -> metrics`` for the training loop: sharded inference, scored on rank 0."""
    if collate_fn is None:
        from acrn.data import collate as collate_fn

    def evaluate(model: nn.Module, step: int) -> dict:
        dets = predict(model, postprocess, dataset, collate_fn, device=info.device, info=info,
                       limit=cfg.eval.max_eval_clips, amp=cfg.runtime.amp, progress=cfg.runtime.progress,
                       desc=f"eval@{step}")
        return score_detections(cfg, dets, dataset) if info.is_main else {}

    return evaluate
