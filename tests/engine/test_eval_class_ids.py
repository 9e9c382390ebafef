"""`acrn evaluate run` maps score columns by class id: an 80-class checkpoint (MMAction2's converted ACRN,
reduced widths) on an AVA-format dataset whose label map lists the 60 evaluated classes.

Rows are written only for the dataset's ids, the AP numbers equal evaluating the checkpoint's own 80-class
scores picked by id by hand, and a dataset id the checkpoint does not predict is a one-line error.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from acrn.cli.main import main
from acrn.engine.infer import class_columns, select_columns
from acrn.errors import InputError
from acrn.eval.labelmap import AVA_V21_60_CLASS_IDS
from acrn.structures import Detections

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "mmaction2" / "small_acrn.npz"
FPS = 4
# (video, timestamp): boxes and their AVA ids; every id is one of the 60 evaluated classes
GT = {("vid_a", 2): [((0.10, 0.15, 0.45, 0.90), (12, 80)), ((0.50, 0.10, 0.95, 0.85), (14,))],
      ("vid_a", 3): [((0.12, 0.15, 0.47, 0.92), (12,)), ((0.55, 0.20, 0.90, 0.95), (80, 17))]}
SMALL = ["--set", "data.test_short_side=48", "--set", "model.actors=gt"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The reduced-width MMAction2 ACRN (fixture of MMAction2's key layout), converted: 80 classes, ids 1..80."""
    from acrn.models.import_mmaction2 import convert_mmaction2

    spec = importlib.util.spec_from_file_location("mmaction2_equivalence", ROOT / "tools" / "mmaction2_equivalence.py")
    tool = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mmaction2_equivalence", tool)
    spec.loader.exec_module(tool)
    tmp = tmp_path_factory.mktemp("mm")
    torch.save({"meta": {}, "state_dict": tool.unpack_state(dict(np.load(FIXTURE)))}, tmp / "small.pth")
    convert_mmaction2(tmp / "small.pth", tmp / "acrn.pt")
    return tmp / "acrn.pt"


def _labelmap(ids) -> str:
    return "".join(f'item {{\n  name: "class {i}"\n  id: {i}\n}}\n' for i in ids)


def _dataset(root: Path, ids) -> Path:
    """A custom AVA-format dataset: one video as 20 JPEG frames at 4 fps, two annotated key frames."""
    frames = root / "frames" / "vid_a"
    frames.mkdir(parents=True)
    g = np.random.default_rng(0)
    for i in range(20):
        cv2.imwrite(str(frames / f"vid_a_{i + 1:06d}.jpg"), g.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    (root / "meta.json").write_text(json.dumps({"fps": FPS}))
    (root / "annotations").mkdir()
    rows = [f"{v},{t:04d},{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},{b[3]:.3f},{a},{k}\n"
            for (v, t), boxes in GT.items() for k, (b, acts) in enumerate(boxes) for a in acts]
    (root / "annotations" / "val.csv").write_text("".join(rows))
    (root / "annotations" / "labelmap.pbtxt").write_text(_labelmap(ids))
    return root


def test_columns_follow_class_ids_and_ap_matches_by_hand(checkpoint, tmp_path, capsys):
    from acrn.data import build_dataset, collate
    from acrn.engine.evaluate import ava_ground_truth
    from acrn.engine.infer import load_detector, normalised, predict
    from acrn.eval.ava import evaluate_ava

    ids = list(AVA_V21_60_CLASS_IDS)
    data = _dataset(tmp_path / "ava60", ids)
    out = tmp_path / "eval"
    argv = ["evaluate", "run", str(checkpoint), "--data", str(data), "--dataset", "custom", "--out", str(out)]
    assert main(argv + SMALL) == 0
    rows = [r.split(",") for r in (out / "detections.csv").read_text().splitlines()]
    assert len(rows) == 4 * 60 and {int(r[6]) for r in rows} == set(ids)
    metrics = json.loads((out / "metrics.json").read_text())

    # By hand: the checkpoint's 80 columns (ids 1..80), picked by id, scored by the evaluator.
    cfg, model, post, _ = load_detector(checkpoint, ["data.root=" + str(data), "data.dataset=custom",
                                                     "data.test_short_side=48", "model.actors=gt"])
    dataset = build_dataset(cfg, "val", train=False)
    dets = predict(model, post, dataset, collate, device=torch.device("cpu"))
    assert all(d.scores.shape[1] == 80 for d in dets)
    keys, boxes, labels, scores = [], [], [], []
    for d in dets:
        for b, s in zip(normalised(d.boxes, d.meta["orig_size"]), d.scores.double().numpy()):
            for c in ids:
                keys.append(f"{d.meta['video']},{int(d.meta['timestamp']):04d}")
                boxes.append(b)
                labels.append(c)
                scores.append(s[c - 1])
    csv_scores = sorted(float(r[7]) for r in rows)
    np.testing.assert_allclose(csv_scores, sorted(scores), atol=1e-6)
    gk, gb, gl = ava_ground_truth(dataset)
    want = evaluate_ava(gk, gb, gl, np.asarray(keys), np.asarray(boxes), np.asarray(labels), np.asarray(scores),
                        ids, protocol=cfg.eval.protocol, iou_threshold=cfg.eval.iou)
    assert metrics["frame_ap"] == pytest.approx(want["mAP"], abs=1e-9)
    got_per_class = {int(k): v for k, v in metrics["frame"]["per_class"].items()}
    assert got_per_class.keys() == set(ids)
    for c, ap in want["per_class"].items():
        assert got_per_class[int(c)] == (None if ap is None else pytest.approx(ap, abs=1e-9))


def test_dataset_id_the_checkpoint_lacks_is_one_line_error(checkpoint, tmp_path, capsys):
    data = _dataset(tmp_path / "ava81", list(AVA_V21_60_CLASS_IDS) + [81])
    argv = ["evaluate", "run", str(checkpoint), "--data", str(data), "--dataset", "custom", "--out",
            str(tmp_path / "eval")]
    assert main(argv + SMALL) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "class id 81" in err[0], err
    assert not (tmp_path / "eval" / "detections.csv").exists()


def test_class_columns_unit():
    assert class_columns([1, 2, 3], [1, 2, 3]) is None
    assert class_columns([1, 2, 3], [7, 9, 11], by_id=False) is None  # a checkpoint without stored ids
    cols = class_columns(list(range(1, 81)), [80, 12, 1])
    assert cols.tolist() == [79, 11, 0]
    with pytest.raises(InputError, match="class id 99"):
        class_columns([1, 2, 3], [2, 99])
    d = Detections(torch.zeros(2, 4), torch.arange(6.0).reshape(2, 3), torch.ones(2), {},
                   torch.arange(6.0).reshape(2, 3, 1, 1))
    s = select_columns(d, torch.tensor([2, 0]))
    assert s.scores.tolist() == [[2.0, 0.0], [5.0, 3.0]] and s.heatmaps[:, :, 0, 0].tolist() == s.scores.tolist()
