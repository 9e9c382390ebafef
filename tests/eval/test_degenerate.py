"""Degenerate inputs that the official tools score (issue #18): empty files, videos outside the split.

The expected numbers are the official tools' own, derived from their code (rules stated per test):

* AVA (ActivityNet ``get_ava_performance.py``, 2018/2019/2020): ``read_csv`` of an empty file yields no
  rows; a class with ground truth but no detections gets ``compute_precision_recall`` of empty arrays and
  ``compute_average_precision`` returns 0.0 for an empty precision array; a class without ground truth is
  skipped (AP NaN, our ``None``); mAP = ``np.nanmean`` over the classes, NaN (our ``None``) when every AP is.
* ACT (``frameAP``/``videoAP``): only videos of ``test_videos[split - 1]`` are loaded, so detections or
  tubes of other videos never reach the PR table; with no detections the table is the single row
  (precision 1, recall 0) and ``pr_to_ap`` sums zero trapezoids: AP 0 for every label, mAP the plain mean 0.
"""

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from acrn.cli.main import main
from acrn.errors import InputError
from acrn.eval.files import evaluate_act_files, evaluate_ava_files

LABELMAP = "".join(f'item {{\n  name: "a{c}"\n  id: {c}\n}}\n' for c in (1, 2, 3))
GT_ROWS = "v,0902,0.1,0.1,0.5,0.5,1,1\nv,0902,0.1,0.1,0.5,0.5,3,1\nv,0903,0.2,0.2,0.6,0.6,3,2\n"
DET_ROWS = "v,0902,0.1,0.1,0.5,0.5,1,0.9\nw,0902,0.1,0.1,0.5,0.5,3,0.8\n"
PROTOCOLS = ("2018", "2019", "2020")


def ava(tmp_path, gt: str, det: str, protocol: str) -> dict:
    for name, text in (("m.pbtxt", LABELMAP), ("gt.csv", gt), ("det.csv", det)):
        (tmp_path / name).write_text(text)
    return evaluate_ava_files(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "m.pbtxt", protocol=protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ava_empty_detections_score_zero_for_classes_with_gt(tmp_path, protocol):
    res = ava(tmp_path, GT_ROWS, "", protocol)
    # classes 1 and 3 have ground truth and no detection: AP 0.0; class 2 has none: NaN, left out of the mean
    assert res["per_class"] == {"1": 0.0, "2": None, "3": 0.0} and res["mAP"] == 0.0
    assert res["num_gt"] == {"1": 1, "2": 0, "3": 2} and res["num_det"] == {"1": 0, "2": 0, "3": 0}
    assert [w for w in res["warnings"] if "det.csv: detection file is empty" in w and "AP 0" in w]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ava_empty_ground_truth_leaves_every_class_undefined(tmp_path, protocol):
    res = ava(tmp_path, "", DET_ROWS, protocol)
    assert res["per_class"] == {"1": None, "2": None, "3": None} and res["mAP"] is None  # nanmean of all-NaN
    assert res["num_gt"] == {"1": 0, "2": 0, "3": 0}
    # 2018/2019: detections on keyframes without ground truth are false positives (counted); 2020 ignores them
    assert res["num_det"] == ({"1": 1, "2": 0, "3": 1} if protocol != "2020" else {"1": 0, "2": 0, "3": 0})
    assert [w for w in res["warnings"] if "gt.csv: ground-truth file is empty" in w]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ava_both_empty(tmp_path, protocol):
    res = ava(tmp_path, "", "", protocol)
    assert res["mAP"] is None and len([w for w in res["warnings"] if "is empty" in w]) == 2


@pytest.mark.parametrize("text, match", [
    ("v,0902,0.1,0.1,0.5\n", r"det.csv:1: expected 7 or 8"),  # malformed row: still refused
    ("v,0902,12,30,200,180,1,0.5\n", r"det.csv:1: box .* look like pixels"),  # bad box: still refused
    ("\n", r"det.csv:1: expected 7 or 8"),  # a blank line is a row of 0 columns (the official assert fails)
])
def test_ava_malformed_detections_still_refused(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        ava(tmp_path, GT_ROWS, text, "2018")


OFFICIAL = Path(os.environ.get("ACRN_OFFICIAL", "/tmp/acrn_official"))


@pytest.mark.skipif(not (OFFICIAL / "venv").exists(), reason="no reference copy (tools/setup_official_evaluators.sh)")
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("gt, det", [(GT_ROWS, ""), ("", DET_ROWS), ("", ""), (GT_ROWS, DET_ROWS)])
def test_ava_degenerate_cases_equal_the_official_evaluator(tmp_path, protocol, gt, det):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from run_official_ava import run_official

    ours = ava(tmp_path, gt, det, protocol)
    theirs = run_official(OFFICIAL, protocol, tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "m.pbtxt")
    assert theirs["per_class"] == {f"a{c}": ours["per_class"][str(c)] for c in (1, 2, 3)}
    assert theirs["mAP"] == ours["mAP"]


def test_ava_cli_reports_empty_file_on_stderr_and_in_json(tmp_path, capsys):
    ava(tmp_path, GT_ROWS, "", "2018")
    out = tmp_path / "r.json"
    assert main(["evaluate", "ava", "--gt", str(tmp_path / "gt.csv"), "--det", str(tmp_path / "det.csv"),
                 "--labelmap", str(tmp_path / "m.pbtxt"), "--json", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "det.csv: detection file is empty" in err[0]
    res = json.loads(out.read_text())
    assert res["mAP"] == 0.0 and res["warnings"] == [err[0][len("warning: "):]]


GT = {"labels": ["run", "jump"], "test_videos": [["run/v1"]], "nframes": {"run/v1": 2, "jump/v9": 2},
      "gttubes": {"run/v1": {0: [np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]], np.float32)]},
                  "jump/v9": {1: [np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]], np.float32)]}}}
HEADER = "video,frame,label,score,x1,y1,x2,y2\n"


def act(tmp_path, frame_rows: str | None = None, tubes: dict | None = None, split: int = 1) -> dict:
    (tmp_path / "gt.pkl").write_bytes(pickle.dumps(GT, protocol=2))
    fd = tb = None
    if frame_rows is not None:
        (fd := tmp_path / "fd.csv").write_text(frame_rows)
    if tubes is not None:
        (tb := tmp_path / "tubes.json").write_text(json.dumps(tubes))
    return evaluate_act_files(tmp_path / "gt.pkl", split, fd, tb, video_iou=(0.5,))


@pytest.mark.parametrize("text", ["", HEADER])
def test_act_empty_frame_detections_score_zero(tmp_path, text):
    res = act(tmp_path, text)
    assert res["per_class"] == {"0": 0.0, "1": 0.0} and res["frame_mAP"] == 0.0  # pr = [[1, 0]]: no trapezoid
    assert [w for w in res["warnings"] if "fd.csv: no detections" in w]


def test_act_frame_detections_outside_the_split_are_ignored(tmp_path):
    rows = HEADER + "run/v1,1,0,0.5,0,0,9,9\nrun/v1,2,0,0.4,0,0,9,9\njump/v9,1,1,0.9,0,0,9,9\nx/y,1,0,0.95,0,0,9,9\n"
    res = act(tmp_path, rows)
    # label 0: two TPs on its two GT boxes -> pr (1,0), (1,.5), (1,1): AP 1; label 1 has no GT in split 1 and
    # no detection once jump/v9 is ignored: AP 0 (ACT's plain mean over all labels) -> mAP 0.5
    assert res["per_class"] == {"0": 1.0, "1": 0.0} and res["frame_mAP"] == 0.5
    assert res["num_det"] == {"0": 2, "1": 0}
    assert [w for w in res["warnings"] if "fd.csv: 2 detections on 2 video(s) not in test split 1" in w]


def test_act_unknown_label_refused_even_outside_the_split(tmp_path):
    with pytest.raises(InputError, match="label 7 is not an index"):
        act(tmp_path, HEADER + "run/v1,1,0,0.5,0,0,9,9\nx/y,1,7,0.9,0,0,9,9\n")


def tube_json(video_boxes: dict) -> dict:
    return {v: [{"label": lab, "score": s, "boxes": [[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]]} for lab, s in tubes]
            for v, tubes in video_boxes.items()}


def test_act_tubes_outside_the_split_are_ignored(tmp_path):
    res = act(tmp_path, tubes=tube_json({"run/v1": [(0, 0.3)], "jump/v9": [(1, 0.9), (0, 0.8)]}))
    # label 0: one tube = the GT tube (IoU 1): AP 1; label 1: nothing left: AP 0; mean over both labels 0.5
    assert res["video_per_class"]["0.5"] == {"0": 1.0, "1": 0.0} and res["video_mAP"]["0.5"] == 0.5
    assert res["num_tubes_after_nms"] == 1
    assert [w for w in res["warnings"] if "tubes.json: 2 tubes of 1 video(s) not in test split 1" in w]


@pytest.mark.parametrize("tubes", [{}, {"run/v1": []}])
def test_act_no_tubes_score_zero(tmp_path, tubes):
    res = act(tmp_path, tubes=tubes)
    assert res["video_mAP"]["0.5"] == 0.0 and res["video_per_class"]["0.5"] == {"0": 0.0, "1": 0.0}
    assert [w for w in res["warnings"] if "tubes.json: no tubes" in w]


def test_act_bad_tube_outside_the_split_still_refused(tmp_path):
    with pytest.raises(InputError, match=r"x/y\[0\]: label 5 outside 0..1"):
        act(tmp_path, tubes={"x/y": [{"label": 5, "score": 1.0, "boxes": [[1, 0, 0, 9, 9]]}]})


def test_act_cli_warns_once_per_ignored_file(tmp_path, capsys):
    act(tmp_path, HEADER + "run/v1,1,0,0.5,0,0,9,9\nx/y,1,0,0.9,0,0,9,9\n")
    out = tmp_path / "r.json"
    assert main(["evaluate", "act", "--gt", str(tmp_path / "gt.pkl"), "--frame-dets", str(tmp_path / "fd.csv"),
                 "--json", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "1 detections on 1 video(s) not in test split 1" in err[0]
    assert json.loads(out.read_text())["warnings"] == [err[0][len("warning: "):]]
