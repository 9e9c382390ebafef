"""Smoke tests of ``acrn evaluate ava|act`` and ``acrn link`` on tiny files."""

import json
import pickle

import numpy as np
import pytest

from acrn.cli.main import main

LABELMAP = 'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "walk"\n  id: 3\n}\n'


def test_evaluate_ava_cli(tmp_path, capsys):
    (tmp_path / "m.pbtxt").write_text(LABELMAP)
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,1\nv,0902,0.1,0.1,0.5,0.5,3,1\n")
    (tmp_path / "det.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.6,0.6,0.9,0.9,3,0.8\n"
                                      "v,0902,0.1,0.1,0.5,0.5,3,0.7\n")
    out = tmp_path / "r.json"
    rc = main(["evaluate", "ava", "--gt", str(tmp_path / "gt.csv"), "--det", str(tmp_path / "det.csv"),
               "--labelmap", str(tmp_path / "m.pbtxt"), "--json", str(out), "--plot", str(tmp_path / "ap.png")])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["protocol"] == "ava-2018" and res["per_class"] == {"1": 1.0, "3": 0.5} and res["mAP"] == 0.75
    assert res["num_gt"] == {"1": 1, "3": 1} and res["num_tp"] == {"1": 1, "3": 1}
    assert "mAP@0.5 (ava-2018): 75.00" in capsys.readouterr().out
    assert (tmp_path / "ap.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_ava_cli_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "m.pbtxt").write_text(LABELMAP)
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.5,0.5,1,1\n")
    (tmp_path / "det.csv").write_text("v,0902,0.1,0.1,0.5\n")
    rc = main(["evaluate", "ava", "--gt", str(tmp_path / "gt.csv"), "--det", str(tmp_path / "det.csv"),
               "--labelmap", str(tmp_path / "m.pbtxt"), "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "det.csv:1: expected 7 or 8" in err
    assert not (tmp_path / "r.json").exists()


def test_link_then_evaluate_act_cli(tmp_path, capsys):
    gt = {"labels": ["run", "jump"], "train_videos": [[]], "test_videos": [["run/v1", "jump/v2"]],
          "nframes": {"run/v1": 5, "jump/v2": 5},
          "gttubes": {"run/v1": {0: [np.array([[f, 10 + f, 10, 60 + f, 80] for f in range(1, 6)], np.float32)]},
                      "jump/v2": {1: [np.array([[f, 100, 50, 150, 120] for f in range(1, 6)], np.float32)]}}}
    (tmp_path / "gt.pkl").write_bytes(pickle.dumps(gt, protocol=2))
    rows = ["video,frame,label,score,x1,y1,x2,y2"]
    for f in range(1, 6):
        rows += [f"run/v1,{f},0,0.9,{11 + f},10,{61 + f},80", f"run/v1,{f},1,0.2,{11 + f},10,{61 + f},80"]
        if f != 3:
            rows.append(f"jump/v2,{f},1,0.8,100,50,150,120")
    (tmp_path / "fd.csv").write_text("\n".join(rows) + "\n")
    assert main(["link", str(tmp_path / "fd.csv"), "-o", str(tmp_path / "tubes.json")]) == 0
    tubes = json.loads((tmp_path / "tubes.json").read_text())
    assert [t["label"] for t in tubes["run/v1"]] == [0, 1] and len(tubes["jump/v2"][0]["boxes"]) == 5
    out = tmp_path / "act.json"
    assert main(["evaluate", "act", "--gt", str(tmp_path / "gt.pkl"), "--split", "1", "--frame-dets",
                 str(tmp_path / "fd.csv"), "--tubes", str(tmp_path / "tubes.json"), "--video-iou", "0.2", "0.5:0.95",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["frame_mAP"] == pytest.approx(0.9) and res["per_class"] == {"0": 1.0, "1": pytest.approx(0.8)}
    assert res["video_mAP"]["0.2"] == 1.0 and res["video_mAP"]["0.5:0.95"] == 1.0
    assert "frame-mAP@0.5: 90.00" in capsys.readouterr().out
    assert main(["evaluate", "act", "--gt", str(tmp_path / "gt.pkl"), "--split", "2", "--tubes",
                 str(tmp_path / "tubes.json")]) == 2
    assert "split 2 does not exist" in capsys.readouterr().err
