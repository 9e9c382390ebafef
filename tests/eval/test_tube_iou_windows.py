"""pair_tube_iou (windows of rows, in place) equals the frame-by-frame computation bit for bit."""

import numpy as np
import pytest

from acrn.eval.tube_iou import Tubes, iou_plus1, pair_tube_iou


def _frame_by_frame(t: Tubes, ia, ib) -> np.ndarray:
    """The previous implementation: one row-index pair per frame, iou_plus1, NaN -> 0, reduceat per pair."""
    out = np.zeros(ia.size)
    for p, (i, j) in enumerate(zip(ia, ib, strict=True)):
        lo = max(t.start[i], t.start[j])
        hi = min(t.start[i] + t.length[i], t.start[j] + t.length[j]) - 1
        if hi < lo:
            continue
        ra = t.offset[i] + np.arange(lo, hi + 1) - t.start[i]
        rb = t.offset[j] + np.arange(lo, hi + 1) - t.start[j]
        f = np.nan_to_num(iou_plus1(t.boxes[ra], t.boxes[rb]), nan=0.0)
        union = max(t.start[i] + t.length[i], t.start[j] + t.length[j]) - min(t.start[i], t.start[j])
        out[p] = np.add.reduceat(f, [0])[0] / f.size * ((hi - lo + 1) / union)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_matches_frame_by_frame_with_gaps_and_degenerate_boxes(seed):
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(120):
        n, s = int(rng.integers(1, 25)), int(rng.integers(1, 15))
        fr = np.arange(s, s + n)
        if n > 3 and rng.random() < 0.3:  # a skipped frame: a NaN row
            fr = np.delete(fr, rng.integers(1, n - 1))
        xy, wh = rng.uniform(0, 50, (fr.size, 2)), rng.uniform(-2, 30, (fr.size, 2))
        if rng.random() < 0.1:
            wh[:] = -1.0  # +1 areas 0: 0/0 frame IoUs
        items.append((0, 0, float(rng.random()), np.column_stack([fr, xy, xy + wh]).round(1)))
    t = Tubes.from_list(items)
    ia, ib = rng.integers(0, 120, 3000), rng.integers(0, 120, 3000)
    want = _frame_by_frame(t, ia, ib)
    for block in (1, 7, 1 << 13):
        assert pair_tube_iou(t, ia, t, ib, block=block).tobytes() == want.tobytes()
    sub = t.take(np.arange(0, 120, 3))  # shares the boxes: offsets into the same rows
    ka, kb = rng.integers(0, 40, 500), rng.integers(0, 40, 500)
    assert pair_tube_iou(sub, ka, sub, kb).tobytes() == _frame_by_frame(t, ka * 3, kb * 3).tobytes()


def test_consecutive_frames_give_a_view_of_the_rows():
    rows = np.array([[3, 0, 0, 9, 9], [4, 1, 1, 9, 9], [1, 0, 0, 5, 5]], dtype=np.float64)
    t = Tubes.from_rows(np.zeros(2, int), np.zeros(2, int), np.ones(2), np.array([2, 1]), rows)
    assert np.shares_memory(t.boxes, rows)
    assert t.start.tolist() == [3, 1] and t.offset.tolist() == [0, 2] and t.length.tolist() == [2, 1]
    gaps = Tubes.from_rows(np.zeros(1, int), np.zeros(1, int), np.ones(1), np.array([2]), rows[[0, 2]])
    assert gaps.start.tolist() == [1] and gaps.length.tolist() == [3] and np.isnan(gaps.boxes[1]).all()
