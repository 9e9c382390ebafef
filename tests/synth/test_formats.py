"""The written files follow the AVA and JHMDB formats exactly (shared/specs/formats-and-metrics.md)."""

from __future__ import annotations

import csv
import json
import pickle
import re
from collections import defaultdict

import av
import cv2
import numpy as np
import pytest

from acrn.synth.presets import CATALOGUE

SPLITS = ("train", "val", "test")


def rows(path):
    with open(path, newline="") as f:
        return [r for r in csv.reader(f)]


def official_labelmap(path) -> dict[int, str]:
    """The AVA evaluator's line-by-line parse: '  name:' sets the name, '  id:' / '  label_id:' closes."""
    out, name = {}, None
    for line in open(path):
        if line.startswith("  name:"):
            name = line.split('"')[1]
        elif line.startswith("  id:") or line.startswith("  label_id:"):
            out[int(line.strip().split(" ")[-1])] = name
    return out


def iou(a, b):
    w = np.clip(np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]), 0, None)
    h = np.clip(np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]), 0, None)
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_meta_and_labelmap(tiny_root):
    meta = json.loads((tiny_root / "meta.json").read_text())
    for key in ("format", "version", "preset", "seed", "fps", "width", "height", "frames_per_video", "classes",
                "splits"):
        assert key in meta
    assert (meta["format"], meta["version"], meta["preset"], meta["seed"]) == ("acrn-synth", 1, "tiny", 3)
    assert meta["frames_per_video"] == 5 * 8 and meta["width"] % 2 == 0 and meta["height"] % 2 == 0
    # +-0.5 s at 8 fps: the longest clip whose actor crop cannot tell the relational twins apart
    assert meta["recommended_clip"] == {"num_frames": 8, "sample_rate": 1} and meta["timestamps"] == [1, 2, 3, 4]
    ids = [c["id"] for c in meta["classes"]]
    assert ids == list(range(1, len(ids) + 1))
    by_name = {c["name"]: c for c in meta["classes"]}
    for c in meta["classes"]:
        assert (c["kind"], c["pair"]) == CATALOGUE[c["name"]]
        if c["pair"]:
            assert by_name[c["pair"]]["pair"] == c["name"]  # twins point at each other
    all_vids = sum((meta["splits"][s] for s in SPLITS), [])
    assert sorted(all_vids) == [f"synth_{i:05d}" for i in range(8)]  # a partition of the videos
    assert all(meta["splits"][s] for s in SPLITS)
    assert official_labelmap(tiny_root / "annotations" / "labelmap.pbtxt") == {c["id"]: c["name"]
                                                                               for c in meta["classes"]}


@pytest.mark.parametrize("split", SPLITS)
def test_ground_truth_csv(tiny_root, split):
    meta = json.loads((tiny_root / "meta.json").read_text())
    kinds = {c["id"]: c["kind"] for c in meta["classes"]}
    ann = tiny_root / "annotations"
    gt = rows(ann / f"{split}.csv")
    excluded = {(v, t) for v, t in rows(ann / f"{split}_excluded_timestamps.csv")}
    assert gt, "every split has ground truth"
    actors = defaultdict(list)
    for r in gt:
        assert len(r) == 8
        vid, ts, *box, aid, pid = r
        assert vid in meta["splits"][split] and re.fullmatch(r"[A-Za-z0-9_]{11}", vid)
        assert re.fullmatch(r"\d{4}", ts) and 1 <= int(ts) < 5
        assert all(re.fullmatch(r"[01]\.\d{3}", x) for x in box)
        x1, y1, x2, y2 = map(float, box)
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert (vid, ts) not in excluded, "excluded key frames have no ground truth"
        actors[(vid, ts, pid)].append((tuple(box), kinds[int(aid)]))
    for key, labs in actors.items():
        assert len({b for b, _ in labs}) == 1, f"{key}: one box per actor"
        k = [kind for _, kind in labs]
        assert k.count("pose") == 1 and k.count("relational") <= 1 and k.count("actor") <= 1, key
    assert gt == sorted(gt, key=lambda r: (r[0], r[1], int(r[7]), int(r[6])))
    for v, t in excluded:
        assert v in meta["splits"][split] and 1 <= int(t) < 5


def test_excluded_timestamps_exist(tiny_root):
    n = sum(len(rows(tiny_root / "annotations" / f"{s}_excluded_timestamps.csv")) for s in SPLITS)
    assert n > 0, "the knobs of this fixture make some excluded key frames"


@pytest.mark.parametrize("split", SPLITS)
def test_relations_match_ground_truth(tiny_root, split):
    meta = json.loads((tiny_root / "meta.json").read_text())
    kinds = {c["id"]: c["kind"] for c in meta["classes"]}
    pair = {c["id"]: c["pair"] for c in meta["classes"]}
    names = {c["id"]: c["name"] for c in meta["classes"]}
    ann = tiny_root / "annotations"
    rel_gt = {(r[0], r[1], r[7], r[6]) for r in rows(ann / f"{split}.csv") if kinds[int(r[6])] == "relational"}
    rel = rows(ann / f"{split}_relations.csv")
    assert len(rel) == len(rel_gt)
    at = defaultdict(list)
    for r in rel:
        assert len(r) == 8
        vid, ts, pid, aid, *box = r
        assert (vid, ts, pid, aid) in rel_gt
        x1, y1, x2, y2 = map(float, box)
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        at[(vid, ts, tuple(box))].append(names[int(aid)])
    # twins share their deciding entity: a ball in flight is one actor's throw and the other's catch;
    # the walkers point at each other
    actor_box = {(r[0], r[1], r[7]): tuple(r[2:6]) for r in rows(ann / f"{split}.csv")}
    for (vid, ts, box), labs in at.items():
        if labs[0] in ("catch", "throw", "give", "receive"):
            assert sorted(labs) == sorted([labs[0], pair[[i for i, n in names.items() if n == labs[0]][0]]])
            assert box not in {b for (v, t, _), b in actor_box.items() if (v, t) == (vid, ts)}
    for vid, ts, pid, aid, *box in rel:
        if names[int(aid)] in ("follow", "lead"):  # the deciding entity is the other walker, a GT actor
            others = {b for (v, t, p), b in actor_box.items() if (v, t) == (vid, ts) and p != pid}
            assert tuple(box) in others


@pytest.mark.parametrize("split", SPLITS)
def test_proposals_csv_equals_pickle_and_cover_actors(tiny_root, split):
    ann = tiny_root / "annotations"
    props = pickle.loads((ann / f"{split}_proposals.pkl").read_bytes())
    from_csv = defaultdict(list)
    for r in rows(ann / f"{split}_proposals.csv"):
        assert len(r) == 8 and r[6] == "-1" and re.fullmatch(r"\d{4}", r[1])
        from_csv[f"{r[0]},{r[1]}"].append([float(x) for x in r[2:6]] + [float(r[7])])
    assert sorted(props) == sorted(from_csv)
    for key, arr in props.items():
        assert arr.dtype == np.float32 and arr.shape[1] == 5
        np.testing.assert_allclose(arr, np.array(from_csv[key], np.float32), atol=1e-6)
        assert (arr[:, :4] >= 0).all() and (arr[:, :4] <= 1).all() and (arr[:, 4] >= 0).all() and (arr[:, 4] <= 1).all()
        assert (arr[:, 0] < arr[:, 2]).all() and (arr[:, 1] < arr[:, 3]).all()
    for r in rows(ann / f"{split}.csv"):  # every ground-truth actor has a proposal at IoU >= 0.5
        arr = props[f"{r[0]},{r[1]}"]
        box = np.array([float(x) for x in r[2:6]])
        assert max(iou(box, p[:4]) for p in arr) >= 0.5


def test_gt_pickle_tubes_match_csv_and_frames(tiny_root):
    meta = json.loads((tiny_root / "meta.json").read_text())
    gt = pickle.loads((tiny_root / "gt.pkl").read_bytes())
    assert set(gt) == {"labels", "train_videos", "test_videos", "nframes", "resolution", "gttubes"}
    assert gt["labels"] == [c["name"] for c in meta["classes"]]
    assert gt["train_videos"] == [meta["splits"]["train"]] and gt["test_videos"] == [meta["splits"]["test"]]
    w, h, n = meta["width"], meta["height"], meta["frames_per_video"]
    csv_boxes = {}
    for s in SPLITS:
        for r in rows(tiny_root / "annotations" / f"{s}.csv"):
            csv_boxes[(r[0], int(r[1]), int(r[6]) - 1)] = csv_boxes.get((r[0], int(r[1]), int(r[6]) - 1), []) + \
                [np.array([float(x) for x in r[2:6]])]
    checked = 0
    for vid in sum(meta["splits"].values(), []):
        assert gt["nframes"][vid] == n and gt["resolution"][vid] == (h, w)
        for label, tubes in gt["gttubes"][vid].items():
            assert 0 <= label < len(gt["labels"])
            for tube in tubes:
                assert tube.dtype == np.float32 and tube.shape[1] == 5
                f = tube[:, 0]
                assert f.min() >= 1 and f.max() <= n and (np.diff(f) == 1).all()  # 1-based, consecutive
                assert (tube[:, 1] <= tube[:, 3]).all() and tube[:, 3].max() <= w - 1 + 1e-4
                for t in range(1, 5):  # the tube box at a key frame is the CSV box (inclusive pixels)
                    hit = np.flatnonzero(f == round(t * meta["fps"]) + 1)
                    if len(hit) and (vid, t, label) in csv_boxes:
                        b = (tube[hit[0], 1:] + [0, 0, 1, 1]) / [w, h, w, h]
                        assert min(np.abs(b - c).max() for c in csv_boxes[(vid, t, label)]) < 6e-4
                        checked += 1
    assert checked > 20


def test_video_and_frames(tiny_root):
    meta = json.loads((tiny_root / "meta.json").read_text())
    vid = meta["splits"]["train"][0]
    files = sorted((tiny_root / "frames" / vid).iterdir())
    n = meta["frames_per_video"]
    assert [p.name for p in files] == [f"{vid}_{i:06d}.jpg" for i in range(1, n + 1)]
    jpg = cv2.imread(str(files[0]))
    assert jpg.shape == (meta["height"], meta["width"], 3)
    with av.open(str(tiny_root / "videos" / f"{vid}.mp4")) as c:
        st = c.streams.video[0]
        assert st.codec_context.name in ("h264", "mpeg4") and float(st.average_rate) == meta["fps"]
        decoded = [fr.to_ndarray(format="rgb24") for fr in c.decode(st)]
    assert len(decoded) == n and decoded[0].shape == (meta["height"], meta["width"], 3)
    # the mp4 and the JPEG frames hold the same pictures (up to compression)
    k = 2 * meta["fps"]
    jpg_k = cv2.imread(str(files[k]))[..., ::-1].astype(float)
    assert np.abs(decoded[k].astype(float) - jpg_k).mean() < 12
