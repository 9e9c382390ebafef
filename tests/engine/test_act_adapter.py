"""JHMDB-style scoring from Detections: perfect detections score 1, a wrong class scores 0 for it."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from acrn.config import load_config
from acrn.engine.act_adapter import frame_rows, score
from acrn.structures import Detections


def _gt(tmp_path: Path) -> dict:
    tube = np.array([[f, 10 + f, 20, 60 + f, 90] for f in range(1, 6)], np.float32)
    gt = {"labels": ["a", "b"], "train_videos": [["v0"]], "test_videos": [["v1", "v2"]],
          "nframes": {"v0": 5, "v1": 5, "v2": 5}, "resolution": {v: (120, 160) for v in ("v0", "v1", "v2")},
          "gttubes": {"v0": {0: [tube]}, "v1": {0: [tube]}, "v2": {1: [tube + 5]}}}
    (tmp_path / "JHMDB-GT.pkl").write_bytes(pickle.dumps(gt, protocol=2))
    return gt


def _dets(gt: dict, swap: bool = False) -> list[Detections]:
    out = []
    for v in ("v1", "v2"):
        label, tube = next(iter(gt["gttubes"][v].items()))
        for row in tube[0]:
            s = torch.zeros(1, 2)
            s[0, (1 - label) if swap and v == "v2" else label] = 0.9
            meta = {"video": v, "timestamp": int(row[0])}
            out.append(Detections(torch.tensor(row[None, 1:]), s, torch.ones(1), meta))
    return out


def test_frame_rows_one_per_box_and_class(tmp_path: Path) -> None:
    gt = _gt(tmp_path)
    v, f, lab, s, b = frame_rows(_dets(gt), ["v1", "v2"])
    assert len(v) == 2 * 5 * 2 and list(lab[:2]) == [0, 1] and list(f[:2]) == [1, 1]
    assert b[0].tolist() == [11, 20, 61, 90]


def test_perfect_and_swapped(tmp_path: Path) -> None:
    gt = _gt(tmp_path)
    cfg = load_config(None, ["data.dataset=jhmdb", f"data.root={tmp_path}", "model.multilabel=false",
                             "eval.video_iou=[0.5]"])
    res = score(cfg, _dets(gt), None)
    assert res["frame_ap"] == pytest.approx(1.0) and res["video_ap@0.5"] == pytest.approx(1.0)
    bad = score(cfg, _dets(gt, swap=True), None)
    assert bad["frame"]["per_class"]["0"] == pytest.approx(1.0)  # v1 TPs rank before the tied v2 FPs
    # Class 1: ten score-0 rows (one per box and class), v1's five FPs first (ties in input order), then
    # v2's five TPs: ACT trapezoid from (0, 1) = 0.1 * (2/6 + 4/7 + 6/8 + 8/9 + 1/2).
    assert bad["frame"]["per_class"]["1"] == pytest.approx(0.1 * (2 / 6 + 4 / 7 + 6 / 8 + 8 / 9 + 1 / 2), abs=1e-6)
    assert bad["video_ap@0.5"] < 1.0
