"""Safe ground-truth loading, interchange files and tube linking."""

import json
import pickle

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval.act_io import FRAME_HEADER, read_frame_dets, read_tubes
from acrn.eval.io import load_gt_file, safe_load_pickle
from acrn.eval.tubes import link_class, link_tubes

GT = {"labels": ["run", "jump"], "test_videos": [["run/v1"]], "nframes": {"run/v1": 3},
      "resolution": {"run/v1": (240, 320)},
      "gttubes": {"run/v1": {0: [np.array([[1, 0, 0, 9, 9], [2, 1, 0, 10, 9]], np.float32)]}}}


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_safe_unpickler_accepts_arrays_and_py2_protocol(tmp_path):
    for proto in (2, 4):
        p = tmp_path / f"gt{proto}.pkl"
        p.write_bytes(pickle.dumps(GT, protocol=proto))
        g = safe_load_pickle(p)
        assert g["labels"] == ["run", "jump"] and g["gttubes"]["run/v1"][0][0].dtype == np.float32
    # a Python-2 style latin1 byte string inside the pickle (protocol 0 str)
    p = tmp_path / "py2.pkl"
    p.write_bytes(b"(dp0\nS'labels'\np1\n(lp2\nS'caf\\xe9'\np3\naS'b'\np4\nas.")
    assert safe_load_pickle(p)["labels"] == ["caf\xe9", "b"]


@pytest.mark.parametrize("payload, match", [
    (pickle.dumps({"x": Evil()}), "refusing global builtins.print"),
    (pickle.dumps({"x": np.random.default_rng}), "refusing global numpy.random"),
    (b"", "file is empty"),
    (b"not a pickle", "not a valid pickle|unsafe or invalid"),
])
def test_safe_unpickler_refuses(tmp_path, payload, match):
    p = tmp_path / "bad.pkl"
    p.write_bytes(payload)
    with pytest.raises(InputError, match=match):
        safe_load_pickle(p)


def test_json_ground_truth_same_structure(tmp_path):
    p = tmp_path / "gt.json"
    p.write_text(json.dumps({**GT, "gttubes": {"run/v1": {"0": [GT["gttubes"]["run/v1"][0][0].tolist()]}}}))
    g = load_gt_file(p)
    assert g["gttubes"]["run/v1"][0][0].shape == (2, 5)
    p.write_text(json.dumps({**GT, "gttubes": {"run/v1": {"5": [[[1, 0, 0, 1, 1]]]}}}))
    with pytest.raises(InputError, match="label 5 outside"):
        load_gt_file(p)


def test_frame_dets_csv_and_tubes_json_errors(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(FRAME_HEADER + "\nrun/v1,1,0,0.9,0,0,9,9\nrun/v1,2,0,0.8,1,0,10,9\n")
    d = read_frame_dets(p)
    assert d.frame.tolist() == [1, 2] and d.score.tolist() == [0.9, 0.8] and d.names == ["run/v1"]
    p.write_text(FRAME_HEADER + "\nrun/v1,1,0,nan,0,0,9,9\n")
    with pytest.raises(InputError, match=r"d.csv:2: column 4 \(score\) must be finite"):
        read_frame_dets(p)
    p.write_text("run/v1,1,0,0.9,0,0,9,9\n")
    with pytest.raises(InputError, match="d.csv:1: expected the header"):
        read_frame_dets(p)
    t = tmp_path / "t.json"
    t.write_text(json.dumps({"other": [{"label": 0, "score": 1, "boxes": [[1, 0, 0, 9, 9]]}]}))
    with pytest.raises(InputError, match="not in the ground truth"):
        read_tubes(t, ["run/v1"], 2)
    t.write_text(json.dumps({"run/v1": [{"label": 0, "score": 1, "boxes": [[1, 0, 0, 9, 9], [3, 0, 0, 9, 9]]}]}))
    tubes = read_tubes(t, ["run/v1"], 2)
    assert tubes.length.tolist() == [3] and np.isnan(tubes.boxes[1]).all()  # a skipped frame counts as IoU 0


def _box(x, y):
    return [x, y, x + 20, y + 40]


def test_crossing_actors_keep_their_identity():
    # A moves right, B left; they cross around frame 5. Scores alternate, so per-frame best score would zig-zag.
    f, b, s = [], [], []
    for t in range(1, 10):
        f += [t, t]
        b += [_box(10 * t, 0), _box(100 - 10 * t, 15)]
        s += [0.9, 0.8] if t % 2 else [0.8, 0.9]
    tubes = link_class(np.array(f), np.array(b, float), np.array(s), iou_weight=2.0)
    assert len(tubes) == 2
    xs = sorted([t["boxes"][:, 1].tolist() for t in tubes])
    assert xs == [[10.0 * t for t in range(1, 10)], [100.0 - 10 * t for t in range(1, 10)]]
    assert all(t["score"] == pytest.approx((5 * 0.9 + 4 * 0.8) / 9) or
               t["score"] == pytest.approx((4 * 0.9 + 5 * 0.8) / 9) for t in tubes)


def test_missed_frame_is_bridged_and_interpolated():
    f = [1, 2, 4, 5]
    b = [_box(10 * t, 0) for t in f]
    (tube,) = link_class(np.array(f), np.array(b, float), np.full(4, 0.7))
    assert tube["boxes"][:, 0].tolist() == [1, 2, 3, 4, 5]
    assert tube["boxes"][2, 1:].tolist() == _box(30, 0)


def test_two_instances_of_a_class_and_trimming():
    f, b, s = [], [], []
    for t in range(1, 7):
        f += [t, t]
        b += [_box(0, 0), _box(200, 0)]
        s += [0.9, 0.2 if t < 4 else 0.8]  # second instance only acts from frame 4
    out = link_tubes(np.zeros(len(f)), np.array(f), np.zeros(len(f)), np.array(s), np.array(b, float), trim=0.5)
    tubes = out[0]
    assert [t["boxes"][0, 1] for t in tubes] == [0.0, 200.0]
    assert tubes[1]["boxes"][:, 0].tolist() == [4, 5, 6] and tubes[1]["score"] == pytest.approx(0.8)
    assert tubes[0]["boxes"][:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    # top_k=1 keeps only the best box per frame: one tube
    assert len(link_tubes(np.zeros(len(f)), np.array(f), np.zeros(len(f)), np.array(s), np.array(b, float),
                          top_k=1)[0]) == 1
