"""AVA evaluation in keyframe segments (bounded memory) equals the one-shot evaluation, bit for bit."""

import numpy as np
import pytest
from reference import ref_ava

from acrn.eval import ava_stream
from acrn.eval.ava import evaluate_ava
from acrn.eval.ava_csv import read_ava_csv
from acrn.eval.files import evaluate_ava_files

CLASSES = [1, 2, 3]


def _case(rng, nk=40, per_kf=(1, 70)):
    """Ground truth and detections grouped by keyframe; coarse scores give ties inside and across keyframes."""
    gk, gb, gl = [], [], []
    dk, db, dl, ds = [], [], [], []
    for k in range(nk):
        boxes = np.sort(rng.random((3, 4)) * 0.5, axis=1)[:, [0, 1, 2, 3]]
        boxes[:, 2:] = boxes[:, :2] + 0.2 + rng.random((3, 2)) * 0.3
        for b in boxes:
            gk.append(k), gb.append(b), gl.append(int(rng.integers(1, 4)))
        n = int(rng.integers(*per_kf))
        src = boxes[rng.integers(0, 3, n)] + rng.normal(0, 0.04, (n, 4))
        dk += [k + (5 if k % 9 == 0 else 0)] * n  # some keyframes without ground truth
        db += list(src)
        dl += rng.integers(0, 5, n).tolist()  # 0 and 4 are outside the label map
        ds += np.round(rng.random(n), 1).tolist()
    return (np.array(gk), np.array(gb), np.array(gl), np.array(dk), np.array(db), np.array(dl), np.array(ds))


@pytest.mark.parametrize("protocol", ["2018", "2019", "2020"])
def test_segments_equal_one_shot_and_the_reference(protocol, monkeypatch):
    gk, gb, gl, dk, db, dl, ds = _case(np.random.default_rng(1))
    whole = evaluate_ava(gk, gb, gl, dk, db, dl, ds, CLASSES, protocol=protocol)
    monkeypatch.setattr("acrn.eval.ava.SEGMENT_ROWS", 37)  # many segments, cut between keyframes
    seg = evaluate_ava(gk, gb, gl, dk, db, dl, ds, CLASSES, protocol=protocol)
    assert seg == whole
    ref = ref_ava([(int(k), *b, int(lab)) for k, b, lab in zip(gk, gb, gl, strict=True)],
                  [(int(k), *b, int(lab), float(s)) for k, b, lab, s in zip(dk, db, dl, ds, strict=True)],
                  CLASSES, protocol)
    assert [seg["per_class"][str(c)] for c in CLASSES] == [None if np.isnan(ref[c]) else ref[c] for c in CLASSES]
    assert whole["num_det"]["1"] > 0 and whole["num_tp"]["1"] > 0


def _write(tmp_path, gk, gb, gl, dk, db, dl, ds, order=None):
    (tmp_path / "m.pbtxt").write_text("".join(f'item {{\n  name: "a{c}"\n  id: {c}\n}}\n' for c in CLASSES))
    (tmp_path / "gt.csv").write_text("".join(f"v{k // 10},{902 + k % 10:04d},{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},"
                                             f"{b[3]:.3f},{lab},1\n" for k, b, lab in zip(gk, gb, gl, strict=True)))
    idx = range(dk.size) if order is None else order
    (tmp_path / "det.csv").write_text("".join(f"v{dk[i] // 10},{902 + dk[i] % 10:04d},{db[i, 0]:.3f},{db[i, 1]:.3f},"
                                              f"{db[i, 2]:.3f},{db[i, 3]:.3f},{dl[i]},{ds[i]:.1f}\n" for i in idx))
    return [tmp_path / n for n in ("gt.csv", "det.csv", "m.pbtxt")]


def _in_memory(gt, det, lm, protocol):
    videos = {}
    g, d = read_ava_csv(gt, protocol, videos), read_ava_csv(det, protocol, videos)
    return evaluate_ava(g.keys, g.boxes, g.labels, d.keys, d.boxes, d.labels, d.scores, CLASSES, protocol=protocol)


@pytest.mark.parametrize("protocol", ["2018", "2019", "2020"])
def test_streamed_file_equals_in_memory(tmp_path, monkeypatch, protocol):
    rng = np.random.default_rng(2)
    gt, det, lm = _write(tmp_path, *_case(rng))
    want = _in_memory(gt, det, lm, protocol)
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 512)  # keyframes split across blocks
    monkeypatch.setattr(ava_stream, "SEGMENT_ROWS", 50)
    calls = []
    real = ava_stream.KeyframeSegments.flush
    monkeypatch.setattr(ava_stream.KeyframeSegments, "flush", lambda s, final=True: calls.append(final) or
                        real(s, final))
    got = evaluate_ava_files(gt, det, lm, protocol=protocol)
    assert calls.count(False) >= 5  # it did stream
    assert {k: got[k] for k in want if k not in ("warnings", "names")} == {k: v for k, v in want.items()
                                                                          if k not in ("warnings", "names")}


def test_ungrouped_file_falls_back_to_reading_it_whole(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    case = _case(rng, nk=12)
    order = rng.permutation(case[3].size)  # keyframes scattered over the file
    gt, det, lm = _write(tmp_path, *case, order=order)
    want = _in_memory(gt, det, lm, "2019")
    monkeypatch.setattr("acrn.eval.csv_blocks.CHUNK_BYTES", 512)
    monkeypatch.setattr(ava_stream, "SEGMENT_ROWS", 50)
    raised = []
    real = ava_stream.KeyframeSegments.flush

    def flush(s, final=True):
        try:
            return real(s, final)
        except ava_stream.Ungrouped:
            raised.append(1)
            raise

    monkeypatch.setattr(ava_stream.KeyframeSegments, "flush", flush)
    got = evaluate_ava_files(gt, det, lm, protocol="2019")
    assert raised == [1] and got["per_class"] == want["per_class"] and got["num_tp"] == want["num_tp"]


def test_equal_scores_across_segments_keep_file_order(monkeypatch):
    # One GT; two keyframe-mates would be the same keyframe, so use two detections of one keyframe split by a
    # boundary-free layout: the earlier row (lower index) must win the GT on equal scores, as in one pass.
    gk, gb, gl = np.array([0]), np.array([[0.1, 0.1, 0.5, 0.5]]), np.array([1])
    dk = np.array([0, 0, 1, 1, 2, 2])
    db = np.tile([0.1, 0.1, 0.5, 0.5], (6, 1))
    ds = np.full(6, 0.5)
    whole = evaluate_ava(gk, gb, gl, dk, db, np.ones(6, int), ds, [1])
    monkeypatch.setattr("acrn.eval.ava.SEGMENT_ROWS", 2)
    assert evaluate_ava(gk, gb, gl, dk, db, np.ones(6, int), ds, [1]) == whole
    assert whole["per_class"]["1"] == 1.0  # rank 1 is the first row (the TP); the other five follow


@pytest.mark.parametrize("values", [3, 40, 10_000])  # heavy ties at the 50th score .. almost none
def test_cap_of_equal_sized_keyframes_equals_the_heap_loop(values, monkeypatch):
    from acrn.eval import ava_cap

    rng = np.random.default_rng(values)
    kf = np.repeat(np.arange(30), 80)
    scores = rng.integers(0, values, kf.size) / values
    labels, boxes = rng.integers(1, 5, kf.size), rng.random((kf.size, 4))
    fast = ava_cap.cap_per_keyframe(kf, scores, labels, boxes, 50)
    monkeypatch.setattr(ava_cap, "_equal_groups", lambda keep, s, first, n, cap, groups: groups)
    loop = ava_cap.cap_per_keyframe(kf, scores, labels, boxes, 50)
    assert np.array_equal(fast, loop) and np.bincount(kf[fast]).tolist() == [50] * 30
