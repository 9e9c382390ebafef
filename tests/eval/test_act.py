"""ACT frame-AP / video-AP: hand-computed rules and equivalence with the naive ACT reference."""

import numpy as np
import pytest
from reference_act import iou3dt, ref_frame_ap, ref_video_ap

from acrn.eval.act import act_frame_ap, act_video_ap
from acrn.eval.ap import act_ap, act_pr_curve
from acrn.eval.io import normalize_gt
from acrn.eval.tube_iou import Tubes, iou_plus1, pair_tube_iou, tube_nms


def make_gt(tubes, labels=("a", "b", "c")):
    """tubes: {video: {label: [array[n, 5]]}}."""
    return normalize_gt({"labels": list(labels), "gttubes": tubes, "nframes": {v: 10 for v in tubes},
                         "test_videos": [sorted(tubes)]})


def tube(f0, n, box, dx=0.0):
    return np.array([[f0 + i, box[0] + dx * i, box[1], box[2] + dx * i, box[3]] for i in range(n)], dtype=float)


def frame_ap(gt, rows, iou=0.5):
    d = np.array(rows, dtype=float).reshape(-1, 8)
    return act_frame_ap(gt, sorted(gt["gttubes"]), d[:, 0], d[:, 1], d[:, 2], d[:, 3], d[:, 4:8], iou)


def test_trapezoid_ap_from_recall0_precision1():
    # TP, FP, TP over 2 GT: points (1,0) (1,.5) (.5,.5) (.667,1): .5*(1+1)*.5 + 0 + .5*(.5+.6667)*.5
    pr = act_pr_curve(np.array([True, False, True]), 2)
    assert act_ap(pr) == pytest.approx(0.5 + 0.25 * (0.5 + 2 / 3), abs=1e-6)
    assert pr.dtype == np.float32


def test_plus_one_areas():
    a, b = np.array([[0.0, 0, 9, 9]]), np.array([[0.0, 0, 4, 9]])
    assert iou_plus1(a, b)[0] == 0.5  # 50/100 with inclusive pixels; 40/90 without
    gt = make_gt({"v": {0: [np.array([[1, 0, 0, 9, 9]], float)]}})
    assert frame_ap(gt, [[0, 1, 0, 0.9, 0, 0, 4, 9]])["per_class"]["0"] == 1.0


def test_matched_gt_is_removed_so_detections_fall_back():
    # two GT in one frame; both detections overlap GT A best, the second still matches B (>= 0.5)
    ga, gb = [0, 0, 19, 19], [4, 0, 23, 19]
    gt = make_gt({"v": {0: [np.array([[1, *ga]], float), np.array([[1, *gb]], float)]}})
    r = frame_ap(gt, [[0, 1, 0, 0.9, *ga], [0, 1, 0, 0.8, 1, 0, 20, 19]])
    assert r["num_tp"]["0"] == 2 and r["per_class"]["0"] == 1.0


def test_map_is_over_all_labels_including_those_without_gt():
    gt = make_gt({"v": {0: [tube(1, 2, [0, 0, 9, 9])]}})
    r = frame_ap(gt, [[0, 1, 0, 0.9, 0, 0, 9, 9], [0, 2, 0, 0.8, 0, 0, 9, 9], [0, 1, 2, 0.7, 0, 0, 9, 9]])
    assert r["per_class"] == {"0": 1.0, "1": 0.0, "2": 0.0}
    assert r["mAP"] == pytest.approx(1 / 3)
    assert any("no ground truth" in w for w in r["warnings"])  # label 2: ACT would divide by zero


def test_equal_scores_keep_input_order():
    gt = make_gt({"v": {0: [tube(1, 1, [0, 0, 9, 9])]}})
    fp_first = frame_ap(gt, [[0, 1, 0, 0.5, 50, 50, 60, 60], [0, 1, 0, 0.5, 0, 0, 9, 9]])["per_class"]["0"]
    tp_first = frame_ap(gt, [[0, 1, 0, 0.5, 0, 0, 9, 9], [0, 1, 0, 0.5, 50, 50, 60, 60]])["per_class"]["0"]
    assert (fp_first, tp_first) == (0.25, 1.0)  # raw trapezoid: (0+0.5)/2 over recall 0..1


def test_iou3dt_hand_computed():
    g = Tubes.from_list([(0, 0, 0.0, tube(1, 4, [0, 0, 9, 9]))])
    d = Tubes.from_list([(0, 0, 1.0, tube(3, 4, [0, 0, 4, 9]))])
    # temporal 2/6, spatial 0.5 on frames 3-4
    assert pair_tube_iou(g, np.array([0]), d, np.array([0]))[0] == pytest.approx(0.5 * 2 / 6)
    assert iou3dt(tube(1, 4, [0, 0, 9, 9]), tube(3, 4, [0, 0, 4, 9])) == pytest.approx(1 / 6)
    far = Tubes.from_list([(0, 0, 1.0, tube(8, 2, [0, 0, 9, 9]))])
    assert pair_tube_iou(g, np.array([0]), far, np.array([0]))[0] == 0.0


def test_tube_nms_at_0_3():
    t = Tubes.from_list([(0, 0, 0.9, tube(1, 4, [0, 0, 9, 9])), (0, 0, 0.8, tube(1, 4, [0, 0, 6, 9])),
                         (0, 0, 0.7, tube(1, 4, [0, 0, 2, 9])), (0, 1, 0.6, tube(1, 4, [0, 0, 9, 9]))])
    # IoU(0,1) = 70/100 > 0.3 -> 1 dropped; IoU(0,2) = 30/100 = 0.3, not > 0.3 -> kept; other label kept
    assert tube_nms(t, 0.3).tolist() == [0, 2, 3]


def test_video_ap_thresholds_and_range():
    gt = make_gt({"v": {0: [tube(1, 5, [0, 0, 9, 9])]}, "w": {1: [tube(1, 5, [0, 0, 9, 9])]}})
    det = Tubes.from_list([(0, 0, 0.9, tube(1, 5, [0, 0, 9, 9])), (1, 1, 0.9, tube(1, 5, [0, 0, 6, 9]))])
    r = act_video_ap(gt, ["v", "w"], det, [0.5, "0.5:0.95"])
    assert r["video_per_class"]["0.5"] == {"0": 1.0, "1": 1.0, "2": 0.0}
    assert r["video_per_class"]["0.75"]["1"] == 0.0 and r["video_per_class"]["0.7"]["1"] == 1.0
    assert r["video_mAP"]["0.5:0.95"] == pytest.approx(np.mean([r["video_mAP"][f"{t:g}"]
                                                                for t in np.arange(10) * 0.05 + 0.5]))


def _random_problem(rng):
    vids = [f"v{i}" for i in range(int(rng.integers(1, 4)))]
    gtt = {}
    for v in vids:
        for _ in range(int(rng.integers(1, 3))):
            x, y = rng.integers(0, 50, 2)
            gtt.setdefault(v, {}).setdefault(int(rng.integers(0, 3)), []).append(
                tube(int(rng.integers(1, 5)), int(rng.integers(2, 6)), [x, y, x + 30, y + 40], dx=1))
    return vids, make_gt(gtt)


def test_frame_and_video_ap_equal_naive_reference():
    rng = np.random.default_rng(0)
    for _ in range(40):
        vids, gt = _random_problem(rng)
        rows, items, per_video = [], [], {}
        for iv, v in enumerate(vids):
            for c, tl in gt["gttubes"][v].items():
                for t in tl:
                    for r in t:
                        for _ in range(int(rng.integers(0, 3))):
                            lab = c if rng.random() < 0.8 else int(rng.integers(0, 3))
                            s = rng.choice([0.2, 0.5, 0.9, rng.random()])
                            rows.append([iv, r[0], lab, s, *(r[1:5] + rng.integers(-12, 12, 4))])
                    for _ in range(int(rng.integers(0, 4))):
                        a = t.copy()
                        a[:, 1:5] += rng.integers(-8, 8, 4)
                        a = a[1:] if rng.random() < 0.3 and len(a) > 2 else a
                        lab, s = (c if rng.random() < 0.8 else int(rng.integers(0, 3))), float(rng.choice([0.3, 0.6]))
                        per_video.setdefault(v, {}).setdefault(lab, []).append((a.astype(np.float32), s))
        for v in vids:
            for c in range(3):
                items += [(vids.index(v), c, s, a) for a, s in per_video.get(v, {}).get(c, [])]
        d = np.array(rows, np.float32).reshape(-1, 8)
        got = act_frame_ap(gt, vids, d[:, 0], d[:, 1], d[:, 2], d[:, 3], d[:, 4:8])
        assert [got["per_class"][str(c)] for c in range(3)] == ref_frame_ap(gt, vids, d)
        res = act_video_ap(gt, vids, Tubes.from_list(items), [0.2, 0.5])
        for th in (0.2, 0.5):
            ref = ref_video_ap(gt, vids, per_video, th)
            assert [res["video_per_class"][f"{th:g}"][str(c)] for c in range(3)] == pytest.approx(ref, abs=1e-6)
