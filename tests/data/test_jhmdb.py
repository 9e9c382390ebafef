"""JHMDB-21 / UCF101-24 ground-truth pickle (protocol 2, real key structure), splits, frame folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from acrn.config import Config
from acrn.data import build_dataset
from acrn.data.jhmdb import load_ground_truth
from acrn.errors import InputError

V1, V2 = "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0", "catch/Ball_hit_catch_f_cm_np1_ri_med_0"


def tube(frames, box):
    return np.array([[f, *box] for f in frames], np.float32)


def jhmdb_gt():
    return {"labels": ["brush_hair", "catch"],
            "train_videos": [[V1], [V2], [V1]], "test_videos": [[V2], [V1], [V2]],
            "nframes": {V1: 10, V2: 8}, "resolution": {V1: (48, 80), V2: (48, 80)},
            "gttubes": {V1: {0: [tube(range(1, 11), (10.0, 5.0, 40.0, 30.0))]},
                        V2: {1: [tube(range(1, 9), (0.0, 0.0, 79.0, 47.0))]}}}


@pytest.fixture
def jhmdb_root(tmp_path, media):
    root = tmp_path / "jhmdb"
    media.write_gt_pickle(root / "JHMDB-GT.pkl", jhmdb_gt())
    media.write_frames(root / "Frames" / V1, 10, "{num:05d}.png")
    media.write_frames(root / "Frames" / V2, 8, "{num:05d}.png")
    return root


def _cfg(root, kind="jhmdb", split=1) -> Config:
    cfg = Config()
    d = cfg.data
    d.dataset, d.root, d.split, d.num_frames, d.sample_rate = kind, str(root), split, 3, 1
    d.test_short_side, d.mean, d.std = 48, [0.0] * 3, [1.0] * 3
    return cfg


def _codes(media, clip):
    frames = (clip.permute(1, 2, 3, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return [media.read_barcode(f) for f in frames]


def test_pickle_structure(jhmdb_root):
    gt = load_ground_truth(jhmdb_root / "JHMDB-GT.pkl")
    assert gt.labels == ["brush_hair", "catch"] and gt.nframes[V1] == 10 and gt.resolution[V2] == (48, 80)
    assert gt.videos(2, train=True) == [V2] and gt.videos(3, train=False) == [V2]
    boxes = gt.frame_boxes(V1)
    assert sorted(boxes) == list(range(1, 11))
    np.testing.assert_allclose(boxes[4][0], [[10, 5, 40, 30]]) and boxes[4][1].tolist() == [0]
    with pytest.raises(InputError, match="split 4 requested but the file has 3"):
        gt.videos(4, train=True)


def test_jhmdb_dataset_every_annotated_frame(jhmdb_root, media):
    ds = build_dataset(_cfg(jhmdb_root, split=1), "train", train=False)
    assert not ds.multilabel and ds.class_names == ["brush_hair", "catch"] and ds.class_ids == [0, 1]
    assert ds.keyframes == [(V1, f) for f in range(1, 11)]
    s = ds[0]  # frame 1 -> 0-based index 0, edges repeated
    assert _codes(media, s.clip) == [0, 0, 1]
    assert _codes(media, ds[9].clip) == [8, 9, 9]
    assert s.labels.dtype == torch.long and s.labels.tolist() == [0]
    torch.testing.assert_close(s.boxes, torch.tensor([[10.0, 5.0, 40.0, 30.0]]))  # pixels, unchanged
    test = build_dataset(_cfg(jhmdb_root, split=1), "val", train=False)
    assert [k[0] for k in test.keyframes] == [V2] * 8 and test[3].labels.tolist() == [1]


def test_ucf24_partial_and_overlapping_tubes(tmp_path, media):
    v = "Basketball/v_Basketball_g01_c01"
    gt = {"labels": ["Basketball"], "train_videos": [[v]], "test_videos": [[v]], "nframes": {v: 7},
          "resolution": {v: (48, 80)},
          "gttubes": {v: {0: [tube(range(2, 5), (1, 1, 20, 20)), tube(range(3, 7), (30, 5, 60, 40))]}}}
    root = tmp_path / "ucf"
    media.write_gt_pickle(root / "UCF101v2-GT.pkl", gt)
    media.write_frames(root / "rgb-images" / v, 7, "{num:05d}.jpg")
    ds = build_dataset(_cfg(root, "ucf24"), "test", train=False)
    assert [t for _, t in ds.keyframes] == [2, 3, 4, 5, 6]  # frames 1 and 7 have no tube
    s = ds[1]
    assert len(s.boxes) == 2 and s.labels.tolist() == [0, 0]
    assert _codes(media, s.clip) == [1, 2, 3]


def test_bad_pickles(tmp_path, media):
    gt = jhmdb_gt()
    del gt["gttubes"]
    media.write_gt_pickle(tmp_path / "a.pkl", gt)
    with pytest.raises(InputError, match=r"a\.pkl: key 'gttubes' missing"):
        load_ground_truth(tmp_path / "a.pkl")
    gt = jhmdb_gt()
    gt["gttubes"][V1][0] = [np.zeros((3, 4), np.float32)]
    media.write_gt_pickle(tmp_path / "b.pkl", gt)
    with pytest.raises(InputError, match=r"b\.pkl: gttubes\['brush_hair/April.*'\]\[0\]\[0\]: expected an array"):
        load_ground_truth(tmp_path / "b.pkl")
    gt = jhmdb_gt()
    gt["gttubes"][V1][0] = [tube(range(5, 12), (1, 1, 2, 2))]
    media.write_gt_pickle(tmp_path / "c.pkl", gt)
    with pytest.raises(InputError, match=r"frames 5\.\.11 outside 1\.\.10"):
        load_ground_truth(tmp_path / "c.pkl")
    with pytest.raises(InputError, match="not found"):
        load_ground_truth(tmp_path / "none.pkl")


def test_missing_frame_file(jhmdb_root):
    (jhmdb_root / "Frames" / V1 / "00005.png").unlink()
    ds = build_dataset(_cfg(jhmdb_root), "train", train=False)
    with pytest.raises(InputError, match=r"sample 4 \(video '.*', timestamp 5\): .*00005\.png: missing frame file"):
        ds[4]
