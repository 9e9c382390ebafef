"""File-level evaluation: what ``acrn evaluate ava|act`` runs (also usable from Python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.eval.act import act_frame_ap, act_video_ap, split_videos
from acrn.eval.act_io import read_frame_dets, read_tubes
from acrn.eval.ava import evaluate_ava
from acrn.eval.ava_csv import read_ava_csv, read_exclusions, small_pages
from acrn.eval.io import load_gt_file
from acrn.eval.labelmap import read_labelmap


def evaluate_ava_files(gt: str | Path, det: str | Path, labelmap: str | Path, exclusions: str | Path | None = None,
                       protocol: str = "2018") -> dict:
    """AVA frame-AP from the official file formats (ground truth CSV, detections CSV, pbtxt label map)."""
    with small_pages():
        return _evaluate_ava_files(gt, det, labelmap, exclusions, protocol)


def _evaluate_ava_files(gt, det, labelmap, exclusions, protocol) -> dict:
    categories, class_ids = read_labelmap(labelmap)
    videos: dict[str, int] = {}
    g = read_ava_csv(gt, protocol, videos, allow_empty_rows=protocol == "2020")
    nvid_gt = len(videos)
    d = read_ava_csv(det, protocol, videos)
    warnings = g.warnings + d.warnings
    if len(videos) > nvid_gt:
        names = sorted(videos, key=videos.get)[nvid_gt:]
        warnings.append(f"{det}: {len(names)} video(s) absent from the ground truth (e.g. {names[0]}): their "
                        + ("detections are ignored (protocol 2020)" if protocol == "2020" else
                           "detections count as false positives, as in the official evaluator"))
    ex = read_exclusions(exclusions, protocol, videos) if exclusions else np.zeros(0, np.int64)
    res = evaluate_ava(g.keys, g.boxes, g.labels, d.keys, d.boxes, d.labels, d.scores, sorted(class_ids),
                       protocol=protocol, excluded_keys=ex, gt_keyframes=np.concatenate([g.keys, g.empty_keys]),
                       class_names={c["id"]: c["name"] for c in categories})
    res["warnings"] = warnings + res["warnings"]
    res["files"] = {"gt": str(gt), "det": str(det), "labelmap": str(labelmap),
                    "exclusions": str(exclusions) if exclusions else None}
    return res


def evaluate_act_files(gt: str | Path, split: int = 1, frame_dets: str | Path | None = None,
                       tubes: str | Path | None = None, iou: float = 0.5,
                       video_iou=(0.2, 0.5, 0.75)) -> dict:
    """ACT frame-AP (from a frame-detections CSV) and/or video-AP (from a tubes JSON)."""
    if frame_dets is None and tubes is None:
        raise InputError("give --frame-dets and/or --tubes: there is nothing to evaluate")
    g = load_gt_file(gt)
    videos = split_videos(g, split)
    labels = g["labels"]
    res: dict = {"protocol": "act", "split": split, "labels": labels, "warnings": [], "mAP": None}
    if frame_dets is not None:
        fd = read_frame_dets(frame_dets)
        index = {v: i for i, v in enumerate(videos)}
        missing = [v for v in fd.names if v not in index]
        if missing:
            raise InputError(f"{frame_dets}: video {missing[0]!r} is not in test split {split} of {gt}"
                             + (f" ({len(missing)} such videos)" if len(missing) > 1 else ""))
        remap = np.array([index[v] for v in fd.names], dtype=np.int64)
        if fd.label.size and (fd.label.min() < 0 or fd.label.max() >= len(labels)):
            raise InputError(f"{frame_dets}: label {int(fd.label[(fd.label < 0) | (fd.label >= len(labels))][0])}"
                             f" is not an index into the {len(labels)} ground-truth labels")
        fr = act_frame_ap(g, videos, remap[fd.video], fd.frame, fd.label, fd.score, fd.boxes, iou)
        res.update(frame_iou=iou, frame_mAP=fr["mAP"], per_class=fr["per_class"], num_gt=fr["num_gt"],
                   num_tp=fr["num_tp"], num_det=fr["num_det"], mAP=fr["mAP"])
        res["warnings"] += fr["warnings"]
    if tubes is not None:
        vr = act_video_ap(g, videos, read_tubes(tubes, videos, len(labels)), video_iou)
        res.update({k: v for k, v in vr.items() if k != "warnings"})
        res["warnings"] += vr["warnings"]
        if res["mAP"] is None:
            first = next(iter(vr["video_mAP"]))
            res["mAP"], res["per_class"] = vr["video_mAP"][first], vr["video_per_class"].get(first)
    return res
