"""The written files pass the library's own parsers, data loader and evaluators (the AVA frame-AP
evaluator and the ACT frame/video-AP evaluator): the ground truth used as detections scores AP 1."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from acrn.config import load_config

SPLITS = ("train", "val", "test")


def rows(path):
    with open(path, newline="") as f:
        return [r for r in csv.reader(f)]


def test_data_parsers_read_every_file(tiny_root):
    from acrn.data import ava
    from acrn.data.jhmdb import load_ground_truth

    meta = json.loads((tiny_root / "meta.json").read_text())
    ann = tiny_root / "annotations"
    ids, names = ava.read_class_map(ann / "labelmap.pbtxt")
    assert names == [c["name"] for c in meta["classes"]] and ids == [c["id"] for c in meta["classes"]]
    for split in SPLITS:
        gt = ava.read_ground_truth(ann / f"{split}.csv", ids)
        n_actors = len({(r[0], r[1], r[7]) for r in rows(ann / f"{split}.csv")})
        assert sum(len(kf.actions) for kf in gt.values()) == n_actors
        excluded = ava.read_exclusions(ann / f"{split}_excluded_timestamps.csv")
        assert not excluded & set(gt)
        from_csv, from_pkl = ava.read_proposals(ann / f"{split}_proposals.csv"), ava.read_proposals(
            ann / f"{split}_proposals.pkl")
        assert from_csv.keys() == from_pkl.keys() and set(gt) <= set(from_pkl)
        for k in from_pkl:
            a, b = from_csv[k], from_pkl[k]
            np.testing.assert_allclose(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])], atol=1e-6)
    tubes = load_ground_truth(tiny_root / "gt.pkl")  # the restricted unpickler accepts it
    assert tubes.labels == names and tubes.videos(1, train=False) == meta["splits"]["test"]


def test_clip_dataset_builds_on_it(tiny_root):
    from acrn.data import build_dataset

    cfg = load_config(None, [f"data.root={tiny_root}", "data.dataset=synthetic", "data.num_frames=8"])
    ds = build_dataset(cfg, "val", train=False)
    meta = json.loads((tiny_root / "meta.json").read_text())
    n_key = len({(r[0], r[1]) for r in rows(tiny_root / "annotations" / "val.csv")})
    assert len(ds) == n_key and ds.multilabel and ds.class_names == [c["name"] for c in meta["classes"]]
    s = ds[0]
    assert s.clip.shape[1] == 8 and s.meta["orig_size"] == (meta["height"], meta["width"])


def _gt_as_detections(gt_csv, out, swap: dict[int, int] | None = None) -> None:
    swap = swap or {}
    with open(out, "w") as f:
        for v, t, x1, y1, x2, y2, aid, _pid in rows(gt_csv):
            f.write(f"{v},{t},{x1},{y1},{x2},{y2},{swap.get(int(aid), int(aid))},1.0\n")


@pytest.mark.parametrize("protocol", ["2018", "2019"])
def test_ava_evaluator_gives_ap_1_to_the_ground_truth(tiny_root, tmp_path, protocol):
    from acrn.eval.files import evaluate_ava_files

    ann = tiny_root / "annotations"
    meta = json.loads((tiny_root / "meta.json").read_text())
    ids = {c["name"]: c["id"] for c in meta["classes"]}
    for split in SPLITS:
        _gt_as_detections(ann / f"{split}.csv", tmp_path / "det.csv")
        res = evaluate_ava_files(ann / f"{split}.csv", tmp_path / "det.csv", ann / "labelmap.pbtxt",
                                 ann / f"{split}_excluded_timestamps.csv", protocol=protocol)
        assert res["mAP"] == 1.0 and all(ap in (1.0, None) for ap in res["per_class"].values()), res
    # the twins are really told apart: a relational label swapped with its twin scores 0
    twin = {c["id"]: ids[c["pair"]] for c in meta["classes"] if c["pair"]}
    present = sorted({int(r[6]) for r in rows(ann / "train.csv")} & set(twin))
    assert present, "the fixture's train split has relational labels"
    _gt_as_detections(ann / "train.csv", tmp_path / "det.csv", twin)
    res = evaluate_ava_files(ann / "train.csv", tmp_path / "det.csv", ann / "labelmap.pbtxt",
                             ann / "train_excluded_timestamps.csv", protocol=protocol)
    assert all(res["per_class"][str(c)] == 0.0 for c in present) and res["per_class"][str(ids["stand"])] == 1.0


def test_act_evaluator_gives_ap_1_to_the_ground_truth_tubes(tiny_root, tmp_path):
    from acrn.eval.files import evaluate_act_files
    from acrn.eval.io import load_gt_file

    gt = load_gt_file(tiny_root / "gt.pkl")
    lines, tubes = ["video,frame,label,score,x1,y1,x2,y2"], {}
    for vid in gt["test_videos"][0]:
        for label, tube_list in gt["gttubes"][vid].items():
            for tube in tube_list:
                lines += [f"{vid},{int(r[0])},{label},1.0,{r[1]!r},{r[2]!r},{r[3]!r},{r[4]!r}"
                          for r in tube.astype(float).tolist()]
                tubes.setdefault(vid, []).append({"label": int(label), "score": 1.0,
                                                  "boxes": tube.astype(float).tolist()})
    (tmp_path / "frames.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "tubes.json").write_text(json.dumps(tubes))
    res = evaluate_act_files(tiny_root / "gt.pkl", 1, tmp_path / "frames.csv", tmp_path / "tubes.json")
    with_gt = [str(c) for c, n in res["num_gt"].items() if n > 0]
    assert len(with_gt) >= 3
    assert all(res["per_class"][c] == pytest.approx(1.0) for c in with_gt)
    for th, per_class in res["video_per_class"].items():
        assert all(per_class[c] == pytest.approx(1.0) for c in with_gt), th
