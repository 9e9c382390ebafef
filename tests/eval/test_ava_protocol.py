"""AVA frame-AP: one hand-computed case per rule, plus equivalence with the naive reference."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference import ref_ava

from acrn.eval.ap import voc_ap_from_tp_ranks
from acrn.eval.ava import evaluate_ava

A = [0.1, 0.1, 0.4, 0.4]
B = [0.5, 0.5, 0.9, 0.9]


def run(gt, det, classes=(1,), **kw):
    """gt rows (key, box, label); det rows (key, box, label, score)."""
    gk = np.array([g[0] for g in gt], dtype=np.int64)
    gb = np.array([g[1] for g in gt], dtype=float).reshape(-1, 4)
    gl = np.array([g[2] for g in gt], dtype=np.int64)
    dk = np.array([d[0] for d in det], dtype=np.int64)
    db = np.array([d[1] for d in det], dtype=float).reshape(-1, 4)
    dl = np.array([d[2] for d in det], dtype=np.int64)
    ds = np.array([d[3] for d in det], dtype=float)
    return evaluate_ava(gk, gb, gl, dk, db, dl, ds, classes, **kw)


def test_voc_all_point_ap_hand_computed():
    # TP, FP, TP with 2 GT: precision 1, 1/2, 2/3 -> envelope 1, 2/3 -> 0.5 * 1 + 0.5 * 2/3
    assert voc_ap_from_tp_ranks(np.array([1, 3]), 2) == pytest.approx(0.5 + 1 / 3, abs=1e-15)
    r = run([(0, A, 1), (0, B, 1)], [(0, A, 1, 0.9), (0, [0, 0, 0.05, 0.05], 1, 0.8), (0, B, 1, 0.7)])
    assert r["per_class"]["1"] == pytest.approx(0.5 + 1 / 3, abs=1e-15)
    assert r["num_gt"]["1"] == 2 and r["num_tp"]["1"] == 2 and r["num_det"]["1"] == 3


def test_no_fallback_to_second_best_gt():
    # Two GT overlap the second detection; its best GT is already taken -> FP (ACT would fall back).
    g1, g2 = [0.0, 0.0, 0.4, 0.4], [0.1, 0.0, 0.5, 0.4]
    r = run([(0, g1, 1), (0, g2, 1)], [(0, g1, 1, 0.9), (0, [0.02, 0.0, 0.42, 0.4], 1, 0.8)])
    assert r["num_tp"]["1"] == 1
    assert r["per_class"]["1"] == pytest.approx(0.5)


def test_iou_threshold_is_inclusive_and_without_plus_one():
    gt = [0.0, 0.0, 0.5, 0.5]
    det = [0.0, 0.0, 0.25, 0.5]  # IoU exactly 0.5 (binary-exact numbers)
    assert run([(0, gt, 1)], [(0, det, 1, 0.5)])["per_class"]["1"] == 1.0


def test_labelmap_filters_rows_and_classes_without_gt_leave_the_mean():
    gt = [(0, A, 1), (0, B, 3)]
    det = [(0, A, 1, 0.9), (0, B, 3, 0.1), (0, A, 2, 0.99), (0, B, 5, 0.95)]  # 2 is not in the map
    r = run(gt, det, classes=(1, 3, 4, 5))
    assert r["per_class"] == {"1": 1.0, "3": 1.0, "4": None, "5": None}
    assert r["mAP"] == 1.0
    assert any("outside the label map" in w for w in r["warnings"])
    r2 = run(gt, det, classes=(1, 2, 3))
    assert r2["per_class"]["2"] is None and r2["mAP"] == 1.0


def test_exclusions_skip_gt_and_detections():
    gt = [(0, A, 1), (1, A, 1)]
    det = [(0, A, 1, 0.9), (1, B, 1, 0.95)]  # the FP sits on excluded keyframe 1
    assert run(gt, det, excluded_keys=[1])["per_class"]["1"] == 1.0
    assert run(gt, det)["per_class"]["1"] == pytest.approx(0.25)
    # 2020 has no exclusions input: ignored with a warning
    r = run(gt, det, protocol="2020", excluded_keys=[1])
    assert r["per_class"]["1"] == pytest.approx(0.25) and any("2020" in w for w in r["warnings"])


def test_cap_50_rows_per_keyframe_2019_2020_only():
    det = [(0, B, 1, 0.5 + i / 1000) for i in range(50)] + [(0, A, 1, 0.1)]  # the TP is the 51st best
    for proto, ap in (("2018", 1 / 51), ("2019", 0.0), ("2020", 0.0)):
        assert run([(0, A, 1)], det, protocol=proto)["per_class"]["1"] == pytest.approx(ap)
    # the cap is across classes: rows of another label-map class count against it
    det2 = [(0, B, 3, 0.5 + i / 1000) for i in range(50)] + [(0, A, 1, 0.1)]
    assert run([(0, A, 1)], det2, classes=(1, 3), protocol="2019")["per_class"]["1"] == 0.0
    # ... but rows dropped by the label map do not
    assert run([(0, A, 1)], det2, classes=(1,), protocol="2019")["per_class"]["1"] == 1.0


def test_cap_ties_follow_the_official_heap():
    # 50 fill rows: 49 at 0.9 and the TP at 0.5 (slot tie), then a later 0.5 FP and a 0.95 FP.
    # heap: min is the TP (0.5); the later 0.5 row is rejected (not strictly greater); the 0.95 row evicts
    # the smallest tuple of score 0.5, the TP -> TP lost.
    det = [(0, B, 1, 0.9)] * 49 + [(0, A, 1, 0.5), (0, B, 1, 0.5), (0, B, 1, 0.95)]
    r = run([(0, A, 1)], det, protocol="2019")
    ref = ref_ava([(0, *A, 1)], [(k, *b, lab, s) for k, b, lab, s in det], [1], "2019")
    assert r["per_class"]["1"] == ref[1] == 0.0


def test_2018_keeps_the_10000_best_per_keyframe_and_class():
    n = 10_003
    scores = 1.0 - np.arange(n) / n  # distinct, descending, all above 1e-6
    for tp_row, ap in ((n - 1, 0.0), (9_999, 1 / 10_000)):  # the worst rows are dropped; the 10,000th is kept
        det = [(0, A if i == tp_row else B, 1, s) for i, s in enumerate(scores)]
        det += [(0, B, 2, 0.5)] * 5 + [(1, B, 1, 1e-6)] * 4  # another class, another keyframe: not capped
        r = run([(0, A, 1)], det, classes=(1, 2), protocol="2018")
        assert r["num_det"] == {"1": 10_000 + 4, "2": 5} and r["num_tp"]["1"] == int(ap > 0)
        assert r["per_class"]["1"] == pytest.approx(ap, abs=1e-15)


def test_degenerate_detections_are_dropped_not_false_positives():
    det = [(0, [0.3, 0.3, 0.3, 0.6], 1, 0.99), (0, [0.3, 0.6, 0.5, 0.2], 1, 0.98), (0, A, 1, 0.5)]
    r = run([(0, A, 1)], det)
    assert r["per_class"]["1"] == 1.0 and r["num_det"]["1"] == 1


def test_2018_drops_scores_at_or_below_minus_10():
    det = [(0, B, 1, -10.0), (0, A, 1, -11.0)]
    assert run([(0, A, 1)], det, protocol="2018")["per_class"]["1"] == 0.0
    assert run([(0, A, 1)], det, protocol="2019")["per_class"]["1"] == 0.5


def test_detections_on_keyframes_without_gt():
    gt = [(0, A, 1)]
    det = [(0, A, 1, 0.5), (7, A, 1, 0.9)]
    assert run(gt, det, protocol="2018")["per_class"]["1"] == 0.5
    assert run(gt, det, protocol="2019")["per_class"]["1"] == 0.5
    assert run(gt, det, protocol="2020")["per_class"]["1"] == 1.0
    # 2020: a keyframe listed in the ground truth without boxes still counts
    assert run(gt, det, protocol="2020", gt_keyframes=[0, 7])["per_class"]["1"] == 0.5


def test_equal_scores_keep_input_order():
    gt = [(0, A, 1)]
    fp_first = run(gt, [(0, B, 1, 0.5), (0, A, 1, 0.5)])["per_class"]["1"]
    tp_first = run(gt, [(0, A, 1, 0.5), (0, B, 1, 0.5)])["per_class"]["1"]
    assert (fp_first, tp_first) == (0.5, 1.0)
    # within a keyframe, the earlier of two equal-score duplicates takes the GT
    r = run(gt, [(0, B, 1, 0.5), (0, A, 1, 0.5), (0, A, 1, 0.5)])
    assert r["per_class"]["1"] == 0.5 and r["num_tp"]["1"] == 1


def test_string_keys_and_bad_input():
    r = evaluate_ava(["v,0902"], [A], [1], ["v,0902"], [A], [1], [0.3], [1])
    assert r["per_class"]["1"] == 1.0
    with pytest.raises(ValueError, match="finite"):
        run([(0, A, 1)], [(0, A, 1, float("nan"))])
    with pytest.raises(ValueError, match="protocol"):
        run([(0, A, 1)], [], protocol="2017")


def _random_case(rng, nk=3, nd=60, scores=(0.1, 0.5, 0.9)):
    gt, det = [], []
    for _ in range(rng.integers(1, 10)):
        x, y = rng.random(2) * 0.6
        gt.append((int(rng.integers(0, nk)), [x, y, x + 0.3, y + 0.3], int(rng.integers(1, 4))))
    for _ in range(nd):
        if rng.random() < 0.6:
            k, b, lab = gt[rng.integers(len(gt))]
            b = list(np.array(b) + rng.normal(0, 0.04, 4))
        else:
            x, y = rng.random(2) * 0.6
            k, b, lab = int(rng.integers(0, nk + 1)), [x, y, x + rng.choice([0, 0.3]), y + 0.3], 0
        det.append((k, b, int(lab or rng.integers(1, 5)), float(rng.choice(scores + (rng.random(),)))))
    return gt, det


@pytest.mark.parametrize("protocol", ["2018", "2019", "2020"])
def test_equals_naive_reference(protocol):
    rng = np.random.default_rng(int(protocol))
    for trial in range(40):
        gt, det = _random_case(rng, nk=2 if trial % 2 else 4, nd=int(rng.integers(0, 140)))
        ex = [1] if trial % 3 == 0 else []
        r = run(gt, det, classes=(1, 2, 3), protocol=protocol, excluded_keys=ex)
        ref = ref_ava([(k, *b, lab) for k, b, lab in gt], [(k, *b, lab, s) for k, b, lab, s in det], [1, 2, 3],
                      protocol, ex)
        for c in (1, 2, 3):
            got = r["per_class"][str(c)]
            assert (got is None and np.isnan(ref[c])) or got == ref[c], (trial, c, got, ref[c])


boxes = st.tuples(st.floats(0, 0.6), st.floats(0, 0.6), st.floats(0.05, 0.4), st.floats(0.05, 0.4)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])
gts = st.lists(st.tuples(st.integers(0, 3), boxes, st.integers(1, 3)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(gts, st.sampled_from(["2018", "2019", "2020"]))
@example(gt=[(0, [0.0, 0.0, 0.25, 0.25], 1), (0, [0.0, 2.5583459401996447e-261, 0.25, 0.25], 1)], protocol="2018")
def test_perfect_detections_give_ap_one(gt, protocol):
    # GT boxes of one keyframe and class that are identical to an earlier one up to rounding (IoU == 1.0 in
    # float64, e.g. y1 = 0 and y1 = 2.6e-261) are excluded: without fall-back the official rule gives the
    # second copy's detection to the (taken) first copy
    from acrn.eval.ava import box_iou_official

    kept = []
    for k, b, lab in gt:
        same = [g[1] for g in kept if g[0] == k and g[2] == lab]
        if not same or (box_iou_official(np.array([b] * len(same)), np.array(same)) < 1.0).all():
            kept.append((k, b, lab))
    gt = kept
    det = [(k, b, lab, 1.0 - 0.01 * i) for i, (k, b, lab) in enumerate(gt)]
    r = run(gt, det, classes=(1, 2, 3), protocol=protocol)
    assert all(v == 1.0 for v in r["per_class"].values() if v is not None)


@settings(max_examples=40, deadline=None)
@given(gts, st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter_without_ties(gt, seed):
    rng = np.random.default_rng(seed)
    _, det = _random_case(rng)
    det = [(k, b, lab, float(s) + 1e-6 * i) for i, (k, b, lab, s) in enumerate(det)]  # distinct scores
    perm = [det[i] for i in rng.permutation(len(det))]
    assert run(gt, det, classes=(1, 2, 3)) == run(gt, perm, classes=(1, 2, 3))


@settings(max_examples=40, deadline=None)
@given(gts, st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_far_lowest_scoring_false_positive_never_raises_ap(gt, seed, label):
    _, det = _random_case(np.random.default_rng(seed))
    before = run(gt, det, classes=(1, 2, 3))["per_class"]
    low = min([d[3] for d in det], default=0.0) - 1.0
    after = run(gt, det + [(0, [0.95, 0.95, 0.99, 0.99], label, low)], classes=(1, 2, 3))["per_class"]
    for c, ap in before.items():
        assert ap is None or after[c] <= ap


@pytest.mark.parametrize("n, tp_rate", [(5000, 0.001), (3000, 0.3)])  # bucketing path, sorting path
def test_tp_ranks_equal_a_full_stable_sort(n, tp_rate):
    from acrn.eval.ap import tp_ranks

    rng = np.random.default_rng(n)
    cls = rng.integers(0, 3, n)
    scores = rng.choice([0.1, 0.2, 0.5], n) + (rng.random(n) < 0.5) * rng.random(n)  # many ties
    tp = rng.random(n) < tp_rate
    got = tp_ranks(cls, scores, tp, 3)
    for c in range(3):
        members = np.flatnonzero(cls == c)
        o = members[np.lexsort((members, -scores[members]))]
        assert got[c].tolist() == (np.flatnonzero(tp[o]) + 1).tolist()
