"""File-level evaluation: what ``acrn evaluate ava|act`` runs (also usable from Python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.eval.act import act_frame_ap, act_video_ap, split_videos
from acrn.eval.act_io import read_frame_dets, read_tubes
from acrn.eval.csv_blocks import small_pages
from acrn.eval.io import load_gt_file


def evaluate_ava_files(gt: str | Path, det: str | Path, labelmap: str | Path, exclusions: str | Path | None = None,
                       protocol: str = "2018") -> dict:
    """AVA frame-AP from the official file formats (ground truth CSV, detections CSV, pbtxt label map)."""
    with small_pages():
        return _evaluate_ava_files(gt, det, labelmap, exclusions, protocol)


class _Videos(dict):
    """Video id -> index, shared by the AVA readers; ``seen`` records the ids looked up (the readers add
    names with ``setdefault``), so the detections' videos are known without keeping their keys."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def setdefault(self, key, default=None):
        self.seen.add(key)
        return super().setdefault(key, default)


def _evaluate_ava_files(gt, det, labelmap, exclusions, protocol) -> dict:
    from acrn.eval.ava import AvaAccumulator  # (the AVA modules: not loaded for ACT)
    from acrn.eval.ava_csv import read_ava_csv, read_exclusions
    from acrn.eval.ava_stream import Ungrouped, expected_rows, stream_detections
    from acrn.eval.labelmap import read_labelmap

    categories, class_ids = read_labelmap(labelmap)
    videos = _Videos()
    g = read_ava_csv(gt, protocol, videos, allow_empty_rows=protocol == "2020", allow_empty=True)
    nvid_gt = len(videos)
    ex = read_exclusions(exclusions, protocol, videos) if exclusions else np.zeros(0, np.int64)
    videos.seen.clear()  # from here on: the videos named by detections
    gt_keyframes = np.concatenate([g.keys, g.empty_keys])
    names = {c["id"]: c["name"] for c in categories}

    def accumulator(capacity: int) -> AvaAccumulator:
        return AvaAccumulator(g.keys, g.boxes, g.labels, sorted(class_ids), protocol=protocol, excluded_keys=ex,
                              gt_keyframes=gt_keyframes, class_names=names, capacity=capacity)

    try:  # 2018 keeps every row: preallocate (class, score) for all (untouched pages cost nothing)
        acc = accumulator(expected_rows(det) if protocol == "2018" else 0)
        det_empty, det_warnings = stream_detections(det, protocol, videos, acc)
    except Ungrouped:  # rows of a keyframe scattered over the file: read it whole (same numbers, more memory)
        d = read_ava_csv(det, protocol, videos, allow_empty=True)
        acc = accumulator(d.keys.size)
        acc.add(d.keys, d.boxes, d.labels, d.scores)
        det_empty, det_warnings = d.empty_file, d.warnings
        del d
    warnings = _empty_warnings(gt, g.empty_file, det, det_empty) + g.warnings + det_warnings
    det_videos = sorted((v for v in videos.seen if videos[v] >= nvid_gt), key=videos.get)
    if det_videos:
        warnings.append(f"{det}: {len(det_videos)} video(s) absent from the ground truth (e.g. {det_videos[0]}): "
                        "their " + ("detections are ignored (protocol 2020)" if protocol == "2020" else
                                    "detections count as false positives, as in the official evaluator"))
    res = acc.result()
    res["warnings"] = warnings + res["warnings"]
    res["files"] = {"gt": str(gt), "det": str(det), "labelmap": str(labelmap),
                    "exclusions": str(exclusions) if exclusions else None}
    return res


def _empty_warnings(gt, gt_empty: bool, det, det_empty: bool) -> list[str]:
    """One line per empty AVA file, saying what the official evaluator makes of it (it scores both)."""
    out = []
    if gt_empty:
        out.append(f"{gt}: ground-truth file is empty (no data rows): no class has ground truth, so every AP and "
                   "the mAP are undefined (null here, nan in the official evaluator)")
    if det_empty:
        out.append(f"{det}: detection file is empty (no data rows): every class with ground truth scores AP 0, "
                   "as in the official evaluator")
    return out


def evaluate_act_files(gt: str | Path, split: int = 1, frame_dets: str | Path | None = None,
                       tubes: str | Path | None = None, iou: float = 0.5,
                       video_iou=(0.2, 0.5, 0.75)) -> dict:
    """ACT frame-AP (from a frame-detections CSV) and/or video-AP (from tubes: JSON, .npz or a folder of ACT's
    own <video>_tubes.pkl files)."""
    with small_pages():  # ~4x cheaper first touch of the arrays of a few million rows (see small_pages)
        return _evaluate_act_files(gt, split, frame_dets, tubes, iou, video_iou)


def _evaluate_act_files(gt, split, frame_dets, tubes, iou, video_iou) -> dict:
    if frame_dets is None and tubes is None:
        raise InputError("give --frame-dets and/or --tubes: there is nothing to evaluate")
    g = load_gt_file(gt)
    videos = split_videos(g, split)
    labels = g["labels"]
    res: dict = {"protocol": "act", "split": split, "labels": labels, "warnings": [], "mAP": None}
    if frame_dets is not None:
        fr = _frame_ap_file(g, gt, split, videos, frame_dets, iou, res["warnings"])
        res.update(frame_iou=iou, frame_mAP=fr["mAP"], per_class=fr["per_class"], num_gt=fr["num_gt"],
                   num_tp=fr["num_tp"], num_det=fr["num_det"], mAP=fr["mAP"])
        res["warnings"] += fr["warnings"]
    if tubes is not None:
        tb = read_tubes(tubes, videos, len(labels), res["warnings"], f"test split {split} of {gt}")
        vr = act_video_ap(g, videos, tb, video_iou)
        res.update({k: v for k, v in vr.items() if k != "warnings"})
        res["warnings"] += vr["warnings"]
        if res["mAP"] is None:
            first = next(iter(vr["video_mAP"]))
            res["mAP"], res["per_class"] = vr["video_mAP"][first], vr["video_per_class"].get(first)
    return res


def _frame_ap_file(g: dict, gt, split: int, videos: list[str], frame_dets, iou: float, warnings: list[str]) -> dict:
    """ACT frame-AP of a frame-detections CSV; rows on videos outside the split are ignored (ACT loads only the
    split's videos), an empty file scores AP 0 everywhere (ACT's PR table then holds only its first row)."""
    fd = read_frame_dets(frame_dets)
    nlab = len(g["labels"])
    if fd.label.size and (fd.label.min() < 0 or fd.label.max() >= nlab):  # malformed anywhere: refused
        raise InputError(f"{frame_dets}: label {int(fd.label[(fd.label < 0) | (fd.label >= nlab)][0])}"
                         f" is not an index into the {nlab} ground-truth labels")
    index = {v: i for i, v in enumerate(videos)}
    remap = np.array([index.get(v, -1) for v in fd.names], dtype=np.int64)
    vid = remap[fd.video]
    if fd.video.size == 0:
        warnings.append(f"{frame_dets}: no detections (empty file): every label scores frame-AP 0, as in ACT")
    outside = [v for v, i in zip(fd.names, remap, strict=True) if i < 0]
    if outside:
        keep = vid >= 0
        warnings.append(f"{frame_dets}: {int(keep.size - keep.sum())} detections on {len(outside)} video(s) not in "
                        f"test split {split} of {gt} ignored (e.g. {outside[0]!r}), as ACT evaluates only the "
                        "split's videos")
        vid, frame, label, score, boxes = vid[keep], fd.frame[keep], fd.label[keep], fd.score[keep], fd.boxes[keep]
    else:
        frame, label, score, boxes = fd.frame, fd.label, fd.score, fd.boxes
    return act_frame_ap(g, videos, vid, frame, label, score, boxes, iou)
