"""JHMDB / UCF101-24 scoring: detections -> ACT frame-AP and (with ``eval.link_tubes``) video-AP.

Frame detections are one row per box and class (``video index, 1-based frame, label index, score, box``)
against the ground-truth pickle of the dataset; video-AP links each video's frame detections into
per-class tubes with the evaluation package's linker and scores them with ACT's video-AP.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from acrn.config import Config
from acrn.structures import Detections


def frame_rows(dets: Sequence[Detections | None], videos: list[str]) -> tuple[np.ndarray, ...]:
    """``(video index, frame, label, score, boxes)`` arrays, one row per box and class (pixels)."""
    index = {v: i for i, v in enumerate(videos)}
    cols: list[list] = [[], [], [], [], []]
    for d in dets:
        if d is None or not len(d) or d.meta["video"] not in index:
            continue
        s = d.scores.double().numpy()
        n, c = s.shape
        cols[0].append(np.full(n * c, index[d.meta["video"]]))
        cols[1].append(np.full(n * c, int(d.meta["timestamp"])))
        cols[2].append(np.tile(np.arange(c), n))
        cols[3].append(s.reshape(-1))
        cols[4].append(np.repeat(d.boxes.double().numpy(), c, axis=0))
    if not cols[0]:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 4))
    return tuple(np.concatenate(x) for x in cols)


def score(cfg: Config, dets: Sequence[Detections | None], dataset: Dataset) -> dict:
    from acrn.data.jhmdb import find_ground_truth
    from acrn.eval.act import act_frame_ap, act_video_ap, split_videos
    from acrn.eval.io import load_gt_file

    gt = load_gt_file(find_ground_truth(Path(cfg.data.root), cfg.data.dataset))
    videos = split_videos(gt, min(cfg.data.split, len(gt.get("test_videos", [[]])) or 1))
    dv, df, dl, ds, db = frame_rows(dets, videos)
    frame = act_frame_ap(gt, videos, dv, df, dl, ds, db, iou_threshold=cfg.eval.iou)
    frame["names"] = {str(i): n for i, n in enumerate(gt["labels"])}
    frame["iou"] = cfg.eval.iou
    out = {"frame_ap": frame["mAP"], "frame": frame}
    if cfg.eval.link_tubes:
        from acrn.eval.tube_iou import Tubes
        from acrn.eval.tubes import link_tubes

        linked = link_tubes(dv, df, dl, ds, db)
        items = [(v, t["label"], t["score"], t["boxes"]) for v, ts in linked.items() for t in ts]
        video = act_video_ap(gt, videos, Tubes.from_list(items, "linked tubes"), thresholds=tuple(cfg.eval.video_iou))
        out["video"] = video
        out.update({f"video_ap@{k}": v for k, v in video["video_mAP"].items()})
    return out
