"""Evaluation equal to the official protocols: AVA frame-AP, ACT frame-AP / video-AP, tube linking.

In-memory API (numpy arrays in, JSON-able dict out; boxes are x1, y1, x2, y2)::

    evaluate_ava(gt_keys, gt_boxes, gt_labels, det_keys, det_boxes, det_labels, det_scores, class_ids,
                 *, protocol="2018", excluded_keys=None, gt_keyframes=None, iou_threshold=0.5,
                 class_names=None) -> dict
        AVA frame-AP; boxes normalised to [0, 1]; labels are label-map ids; keys identify keyframes (ints,
        or strings such as "video,0902"). Result: {"protocol": "ava-2018", "iou", "mAP",
        "per_class": {"<id>": AP or None}, "num_gt", "num_tp", "num_det", "names", "warnings"}.

    act_frame_ap(gt, videos, det_video, det_frame, det_label, det_score, det_boxes, iou_threshold=0.5) -> dict
        ACT frame-AP; ``gt`` from :func:`load_gt_file` / :func:`normalize_gt`; ``videos`` the evaluated list
        (:func:`split_videos`); det_video indexes it; frames 1-based; pixel boxes; labels index gt["labels"].
        Result: {"mAP", "per_class": {"<label index>": AP}, "num_gt", "num_tp", "num_det", "warnings"}.

    act_video_ap(gt, videos, tubes: Tubes, thresholds=(0.2, 0.5, 0.75), nms_threshold=0.3) -> dict
        ACT video-AP at several thresholds ("0.5:0.95" adds the COCO-style mean). Result: {"video_mAP":
        {"0.5": m, ...}, "video_per_class": {"0.5": {"<label>": AP}}, "video_num_gt", ...}.

    link_tubes(video, frame, label, score, boxes, *, iou_weight=1.0, max_tubes=None, trim=None, top_k=None)
        -> {video index: [{"label", "score", "boxes": float[n, 5] (frame, x1, y1, x2, y2)}]}
    linked_to_tubes(linked) -> Tubes;  Tubes.from_list([(video, label, score, rows[n, 5]), ...])

Files: :func:`evaluate_ava_files`, :func:`evaluate_act_files` (what ``acrn evaluate`` runs; AVA detections are
streamed in keyframe segments through :class:`acrn.eval.ava.AvaAccumulator`, so memory does not grow with the
file; empty files and ACT videos outside the split are scored as the official tools do, with a warning),
:func:`read_labelmap` and :data:`AVA_V21_60_CLASS_IDS`, :func:`safe_load_pickle` (restricted unpickler).

Tie order everywhere: score descending, then input order (the official code's unstable sort is replaced by
a stable one). Example (ACT, synthetic ground truth)::

    import numpy as np
    from acrn.eval import act_frame_ap, act_video_ap, link_tubes, linked_to_tubes, normalize_gt, split_videos

    gt = normalize_gt({"labels": ["wave"], "nframes": {"v": 3}, "test_videos": [["v"]],
                       "gttubes": {"v": {0: [np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9], [3, 0, 0, 9, 9]])]}}})
    videos = split_videos(gt, 1)
    vid, frame, label = np.zeros(3, int), np.array([1, 2, 3]), np.zeros(3, int)
    score, boxes = np.array([0.9, 0.8, 0.7]), np.tile([0.0, 0, 9, 9], (3, 1))
    act_frame_ap(gt, videos, vid, frame, label, score, boxes)["mAP"]            # 1.0
    tubes = linked_to_tubes(link_tubes(vid, frame, label, score, boxes))
    act_video_ap(gt, videos, tubes, [0.5])["video_mAP"]["0.5"]                  # 1.0
"""

import importlib

# names -> defining modules, imported on first use (PEP 562): ``from acrn.eval.files import ...`` then loads
# only what ACT or AVA evaluation needs (a command's start-up time is part of its end-to-end time)
_WHERE = {
    "act_frame_ap": "act", "act_video_ap": "act", "split_videos": "act", "evaluate_ava": "ava",
    "evaluate_act_files": "files", "evaluate_ava_files": "files", "load_gt_file": "io", "normalize_gt": "io",
    "safe_load_pickle": "io", "AVA_V21_60_CLASS_IDS": "labelmap", "read_labelmap": "labelmap",
    "Tubes": "tube_iou", "link_tubes": "tubes", "linked_to_tubes": "tubes",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"acrn.eval.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AVA_V21_60_CLASS_IDS", "Tubes", "act_frame_ap", "act_video_ap", "evaluate_act_files", "evaluate_ava",
    "evaluate_ava_files", "link_tubes", "linked_to_tubes", "load_gt_file", "normalize_gt", "read_labelmap",
    "safe_load_pickle", "split_videos",
]
