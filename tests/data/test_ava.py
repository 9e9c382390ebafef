"""AVA-format parsing on the real rows quoted in the spec, and bad rows."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from acrn.data import ava
from acrn.errors import InputError

IDS = [12, 79, 80]


def test_constants():
    assert ava.FPS == 30 and ava.SEGMENT_FRAMES == 27_030
    assert ava.VALID_KEYFRAMES[0] == 902 and ava.VALID_KEYFRAMES[-1] == 1798 and len(ava.VALID_KEYFRAMES) == 897
    assert ava.ava_frame_index(902) == 60 and ava.ava_frame_index(1798) == 26_940
    assert ava.keyframe_index(3, 30000 / 1001) == 90  # round(89.91)
    assert ava.image_key("-5KQ66BBWC4", 902) == "-5KQ66BBWC4,0902"


def test_ground_truth_groups_rows_per_person_box(tmp_path, media):
    p = tmp_path / "gt.csv"
    p.write_text(media.AVA_ROWS)
    gt = ava.read_ground_truth(p, IDS)
    assert list(gt) == [("-5KQ66BBWC4", 902), ("1j20qq1JyX4", 902), ("0f39OWEqJ24", 902)]
    kf = gt[("1j20qq1JyX4", 902)]
    assert kf.actions == [[12, 79]] and kf.person_ids == [1]  # two rows, one actor
    np.testing.assert_allclose(kf.boxes, [[0.002, 0.118, 0.714, 0.977]], rtol=1e-6)
    assert gt[("-5KQ66BBWC4", 902)].actions == [[80]]
    assert gt[("0f39OWEqJ24", 902)].person_ids == [0]


def test_two_people_same_keyframe_and_keyframe_without_actors(tmp_path):
    p = tmp_path / "gt.csv"
    p.write_text("v,902,0.1,0.1,0.5,0.5,12,0\nv,902,0.1,0.1,0.5,0.5,12,1\nv,0903\n\n")
    gt = ava.read_ground_truth(p, IDS)
    assert gt[("v", 902)].actions == [[12], [12]] and gt[("v", 902)].person_ids == [0, 1]
    assert gt[("v", 903)].boxes.shape == (0, 4)


def test_ids_outside_a_60_class_map_are_dropped_for_ava_only(tmp_path, media):
    p = tmp_path / "gt.csv"
    p.write_text(media.AVA_ROWS)
    gt = ava.read_ground_truth(p, [12, 80], drop_ids={79})
    assert gt[("1j20qq1JyX4", 902)].actions == [[12]]
    with pytest.raises(InputError, match=r"gt\.csv: row 3: action id 79 is not in the label map"):
        ava.read_ground_truth(p, [12, 80])


@pytest.mark.parametrize("row, message", [
    ("v,0902,0.1,0.2,0.3", "expected 8 columns"),
    ("v,902.0,0.1,0.1,0.5,0.5,12,1", "timestamp '902.0' is not an integer"),
    ("v,0902,0.1,0.1,1.5,0.5,12,1", r"box 0.1,0.1,1.5,0.5 is outside \[0, 1\]"),
    ("v,0902,-0.1,0.1,0.5,0.5,12,1", r"box -0.1,0.1,0.5,0.5 is outside \[0, 1\]"),
    ("v,0902,0.5,0.1,0.2,0.5,12,1", "box 0.5,0.1,0.2,0.5 has x1 >= x2"),
    ("v,0902,a,0.1,0.2,0.5,12,1", "box 'a,0.1,0.2,0.5' is not four numbers"),
    ("v,0902,0.1,0.1,0.5,0.5,x,1", "action id 'x' is not a positive integer"),
    ("v,0902,0.1,0.1,0.5,0.5,99,1", "action id 99 is not in the label map"),
    ("v,0902,0.1,0.1,0.5,0.5,12,p", "person id 'p' is not an integer"),
])
def test_bad_rows_name_file_and_row(tmp_path, row, message):
    p = tmp_path / "bad.csv"
    p.write_text("v,0902,0.1,0.1,0.5,0.5,12,1\n" + row + "\n")
    with pytest.raises(InputError, match=rf"bad\.csv: row 2: {message}") as e:
        ava.read_ground_truth(p, IDS)
    assert "\n" not in str(e.value)
    # --skip-bad: the good row is kept, the bad one counted
    problems = ava.RowProblems(skip_bad=True)
    gt = ava.read_ground_truth(p, IDS, problems=problems)
    assert problems.count == 1 and gt[("v", 902)].actions == [[12]]


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: empty annotation file"):
        ava.read_ground_truth(tmp_path / "empty.csv", IDS)
    with pytest.raises(InputError, match=r"none\.csv: file not found"):
        ava.read_ground_truth(tmp_path / "none.csv", IDS)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match=r"bin\.csv"):
        ava.read_ground_truth(tmp_path / "bin.csv", IDS)


def test_exclusions(tmp_path):
    p = tmp_path / "ex.csv"
    p.write_text("0f39OWEqJ24,0903\n0f39OWEqJ24,904\n")
    assert ava.read_exclusions(p) == {("0f39OWEqJ24", 903), ("0f39OWEqJ24", 904)}
    p.write_text("0f39OWEqJ24\n")
    with pytest.raises(InputError, match=r"ex\.csv: row 1: expected 2 columns"):
        ava.read_exclusions(p)


def test_proposals_csv_detection_format(tmp_path):
    p = tmp_path / "props.csv"
    p.write_text("1j20qq1JyX4,0902,0.022,0.113,0.493,0.987,,0.9\n"
                 "1j20qq1JyX4,0902,0.022,0.113,0.493,0.987,-1,0.95\n"
                 "1j20qq1JyX4,0902,0.5,0.1,0.9,0.9,-1,0.3\n"
                 "3reY9zJKhqN,1774,0.230,0.215,0.781,0.534,1,0.949\n")
    props = ava.read_proposals(p)
    a = props[("1j20qq1JyX4", 902)]
    assert a.shape == (2, 5)
    np.testing.assert_allclose(a, [[0.022, 0.113, 0.493, 0.987, 0.95], [0.5, 0.1, 0.9, 0.9, 0.3]], rtol=1e-6)
    assert props[("3reY9zJKhqN", 1774)].shape == (1, 5)


def test_proposals_pickle_safe(tmp_path):
    p = tmp_path / "props.pkl"
    data = {"1j20qq1JyX4,0902": np.array([[0.1, 0.2, 0.5, 0.9, 0.8]], np.float32),
            "1j20qq1JyX4,0903": np.zeros((0, 5), np.float32),
            "abc,1000": np.array([[0.1, 0.2, 0.5, 0.9]], np.float64)}
    with open(p, "wb") as f:
        pickle.dump(data, f)
    props = ava.read_proposals(p)
    np.testing.assert_allclose(props[("1j20qq1JyX4", 902)], data["1j20qq1JyX4,0902"])
    assert props[("1j20qq1JyX4", 903)].shape == (0, 5)
    np.testing.assert_allclose(props[("abc", 1000)][:, 4], [1.0])
    # a pickle that would run code is refused by the restricted unpickler
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'echo hacked'\ntR.")
    with pytest.raises(InputError, match=r"evil\.pkl"):
        ava.read_proposals(evil)
    with open(p, "wb") as f:
        pickle.dump({"k,0902": np.zeros((2, 3))}, f, protocol=2)
    with pytest.raises(InputError, match=r"key 'k,0902': expected an array \[n, 5\]"):
        ava.read_proposals(p)


def test_label_map_both_styles(tmp_path, media):
    p = tmp_path / "lm.pbtxt"
    p.write_text(media.LABELMAP_V21)
    ids, names = ava.read_class_map(p)
    assert ids == [12, 79, 80] and names[0] == "stand" and names[2] == "watch (a person)"
    p.write_text('label {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n')
    assert ava.read_class_map(p) == ([1], ["bend/bow (at the waist)"])
    p.write_text("")
    with pytest.raises(InputError, match=r"lm\.pbtxt: "):
        ava.read_class_map(p)
