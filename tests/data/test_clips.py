"""The clip Dataset end to end: key-frame timing, centring, edge repetition, boxes, collate, bad samples."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from acrn.config import Config
from acrn.data import DataLoadError, build_dataset, clip_indices, collate
from acrn.errors import InputError

NTSC = Fraction(30000, 1001)
ROWS = ("vidA,0001,0.1,0.2,0.5,0.9,12,0\n"
        "vidA,0001,0.1,0.2,0.5,0.9,80,0\n"
        "vidA,0001,0.6,0.1,0.9,0.5,79,1\n"
        "vidA,0000,0.1,0.2,0.5,0.9,12,0\n"
        "vidB,0003,0.0,0.0,1.0,1.0,80,0\n")


def _cfg(root, kind="custom", **data) -> Config:
    cfg = Config()
    d = cfg.data
    d.dataset, d.root, d.num_frames, d.sample_rate = kind, str(root), 5, 2
    d.test_short_side, d.mean, d.std, d.num_workers = 48, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 0
    for k, v in data.items():
        setattr(d, k, v)
    return cfg


def _codes(media, clip: torch.Tensor) -> list[int]:
    """Frame indices painted in a de-normalised (mean 0, std 1) clip ``Tensor[3, T, H, W]``."""
    frames = (clip.permute(1, 2, 3, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return [media.read_barcode(f) for f in frames]


def test_clip_indices_centring_and_edges():
    assert clip_indices(10, 5, 2, 100) == [6, 8, 10, 12, 14]   # odd T: key frame in the middle
    assert clip_indices(10, 4, 1, 100) == [8, 9, 10, 11]       # even T: key frame at position T // 2
    assert clip_indices(10, 4, 3, 100)[4 // 2] == 10
    assert clip_indices(1, 5, 2, 100) == [0, 0, 1, 3, 5]       # start edge repeated
    assert clip_indices(98, 5, 2, 100) == [94, 96, 98, 99, 99]  # end edge repeated
    assert clip_indices(0, 3, 1, 1) == [0, 0, 0]


@pytest.fixture
def custom_root(tmp_path, media):
    root = tmp_path / "custom"
    media.write_custom(root, {"vidA": (100, 30, 1.5), "vidB": (100, NTSC, 0.5)}, ROWS, split="val")
    (root / "annotations" / "val_proposals.csv").write_text("vidA,0001,0.25,0.5,0.75,1.0,-1,0.8\n")
    return root


def test_custom_videos_key_frame_timing_and_boxes(custom_root, media):
    ds = build_dataset(_cfg(custom_root), "val", train=False)
    assert ds.class_ids == [12, 79, 80] and ds.multilabel
    assert ds.class_names[1].startswith("talk to")
    assert ds.keyframes == [("vidA", 1), ("vidA", 0), ("vidB", 3)]
    s = ds[0]
    assert s.clip.shape == (3, 5, 48, 80)
    # t = 1 s at 30 fps is frame 30 despite the 1.5 s stream offset; stride 2 around it
    assert _codes(media, s.clip) == [26, 28, 30, 32, 34]
    assert media.read_barcode((s.keyframe.permute(1, 2, 0).numpy() * 255).astype(np.uint8)) == 30
    torch.testing.assert_close(s.boxes, torch.tensor([[8.0, 9.6, 40.0, 43.2], [48.0, 4.8, 72.0, 24.0]]))
    torch.testing.assert_close(s.labels, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    torch.testing.assert_close(s.proposals, torch.tensor([[20.0, 24.0, 60.0, 48.0]]))
    torch.testing.assert_close(s.proposal_scores, torch.tensor([0.8]))
    assert s.meta["video"] == "vidA" and s.meta["timestamp"] == 1 and s.meta["orig_size"] == (48, 80)
    assert s.meta["scale"] == (1.0, 1.0) and s.meta["offset"] == (0, 0) and s.meta["flipped"] is False
    assert _codes(media, ds[1].clip) == [0, 0, 0, 2, 4]        # t = 0: edge frame repeated
    assert _codes(media, ds[2].clip) == [86, 88, 90, 92, 94]   # 29.97 fps: round(3 * 29.97) = 90
    assert ds[2].proposals.shape == (0, 4)                     # key frame without proposals


def test_frames_folder_and_videos_give_the_same_clip(custom_root, media):
    for vid in ("vidA", "vidB"):
        media.write_frames(custom_root / "frames" / vid, 100, vid + "_{num:06d}.jpg")
    (custom_root / "meta.json").write_text('{"fps": 30}')
    ds = build_dataset(_cfg(custom_root, frames="folder"), "val", train=False)
    assert _codes(media, ds[0].clip) == [26, 28, 30, 32, 34]
    assert _codes(media, ds[2].clip) == [86, 88, 90, 92, 94]  # frames at 30 fps (meta.json): round(3 * 30)


def test_ava_frame_folders(tmp_path, media):
    root = tmp_path / "ava"
    ann = root / "annotations"
    ann.mkdir(parents=True)
    (ann / "ava_val_v2.1.csv").write_text(media.AVA_ROWS)
    (ann / "ava_action_list_v2.1_for_activitynet_2018.pbtxt").write_text(media.LABELMAP_V21)
    (ann / "ava_val_excluded_timestamps_v2.1.csv").write_text("0f39OWEqJ24,0902\n")
    for vid in ("-5KQ66BBWC4", "1j20qq1JyX4"):
        media.write_frames(root / "frames" / vid, 70, vid + "_{num:06d}.jpg", h=60, w=80)
    cfg = _cfg(root, "ava", num_frames=4, sample_rate=3, test_short_side=30)
    ds = build_dataset(cfg, "val", train=False)
    assert ds.keyframes == [("-5KQ66BBWC4", 902), ("1j20qq1JyX4", 902)]  # excluded key frame dropped
    s = ds[1]
    assert s.clip.shape == (3, 4, 30, 40)
    assert s.meta["scale"] == (0.5, 0.5)
    # (902 - 900) * 30 = frame 60 (file 000061) at clip position T // 2 = 2
    big = torch.nn.functional.interpolate(s.clip, size=(60, 80), mode="nearest")
    assert _codes(media, big) == [54, 57, 60, 63]
    torch.testing.assert_close(s.boxes, torch.tensor([[0.002 * 40, 0.118 * 30, 0.714 * 40, 0.977 * 30]]))
    torch.testing.assert_close(s.labels, torch.tensor([[1.0, 1.0, 0.0]]))


def test_training_transform_and_collate_padding(custom_root):
    cfg = _cfg(custom_root, train_short_side=[48, 96], train_crop=64, flip=True)
    ds = build_dataset(cfg, "val", train=True)
    torch.manual_seed(3)
    samples = [ds[0], ds[1], ds[2], None]
    for s in samples[:3]:
        h, w = s.clip.shape[-2:]
        assert h <= 64 and w <= 64 and s.meta["input_size"] == (h, w)
        if len(s.boxes):
            assert s.boxes[:, [0, 2]].max() <= w and s.boxes[:, [1, 3]].max() <= h
    sizes = [tuple(s.clip.shape[-2:]) for s in samples[:3]]
    b = collate(samples)
    assert b.num_skipped == 1 and len(b) == 3
    H, W = max(h for h, _ in sizes), max(w for _, w in sizes)
    assert b.clips.shape == (3, 3, 5, H, W) and b.keyframes.shape == (3, 3, H, W)
    assert b.image_sizes.tolist() == [list(s) for s in sizes]
    for i, (h, w) in enumerate(sizes):
        torch.testing.assert_close(b.clips[i, :, :, :h, :w], samples[i].clip)
        assert b.clips[i, :, :, h:, :].abs().sum() == 0 and b.clips[i, :, :, :, w:].abs().sum() == 0
    assert collate([None, None]) is None


def test_video_shorter_than_annotations(custom_root):
    (custom_root / "annotations" / "val.csv").write_text(ROWS + "vidA,0004,0.1,0.1,0.2,0.2,12,0\n")
    ds = build_dataset(_cfg(custom_root), "val", train=False)
    with pytest.raises(DataLoadError, match=r"sample 3 \(video 'vidA', timestamp 4\): .*vidA\.mp4: has 100 "
                                             r"frames .* needs frame 120: the video is shorter"):
        ds[3]
    ds = build_dataset(_cfg(custom_root, skip_bad=True), "val", train=False)
    assert ds[3] is None and ds.num_skipped == 1


def test_worker_error_is_one_line(custom_root):
    (custom_root / "videos" / "vidB.mp4").write_bytes(b"truncated")
    ds = build_dataset(_cfg(custom_root), "val", train=False)
    # (one worker: after a worker error torch takes 5 s per worker to shut the workers down)
    loader = DataLoader(ds, batch_size=1, num_workers=1, collate_fn=collate)
    with pytest.raises(InputError) as e:
        list(loader)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert "sample 2 (video 'vidB', timestamp 3)" in msg and "vidB.mp4: cannot open video" in msg
    # with skip_bad the loader finishes and the batches report what was skipped
    ds = build_dataset(_cfg(custom_root, skip_bad=True), "val", train=False)
    batches = list(DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate))
    assert len(batches) == 1 and len(batches[0]) == 2 and batches[0].num_skipped == 1
    torch.testing.assert_close(batches[0].clips[1], ds[1].clip)  # built in shared memory by the worker


def test_missing_files_and_splits(custom_root):
    with pytest.raises(InputError, match=r"train\.csv: annotation CSV for split 'train' not found"):
        build_dataset(_cfg(custom_root), "train", train=True)
    with pytest.raises(InputError, match="unknown split 'dev'"):
        build_dataset(_cfg(custom_root), "dev", train=False)
    (custom_root / "videos" / "vidB.mp4").unlink()
    ds = build_dataset(_cfg(custom_root), "val", train=False)
    with pytest.raises(InputError, match=r"vidB\.mp4: video file not found"):
        ds[2]
    with pytest.raises(InputError, match=r"meta\.json: not found"):
        build_dataset(_cfg(custom_root, "synthetic"), "val", train=False)


def test_loader_batches_equal_direct_samples(custom_root, monkeypatch):
    """Batches of one (built in shared memory by the worker, collated without a copy) and of two
    (private clips copied into the batch) hold exactly the clips of ``ds[i]``."""
    import acrn.data.clips as C

    ds = build_dataset(_cfg(custom_root), "val", train=False)
    direct = [ds[i].clip for i in range(len(ds))]
    for bs in (1, 2):
        batches = list(DataLoader(ds, batch_size=bs, num_workers=2, collate_fn=collate))
        clips = [c for b in batches for c in b.clips]
        assert len(clips) == 3 and all(torch.equal(a, b) for a, b in zip(clips, direct, strict=True))
    # what a worker does (get_worker_info() is not None there)
    monkeypatch.setattr(C, "get_worker_info", lambda: object())
    one, = ds.__getitems__([2])
    assert one.clip.is_shared() and collate([one]).clips.data_ptr() == one.clip.data_ptr()
    two = ds.__getitems__([0, 2])
    assert not any(s.clip.is_shared() for s in two)
    b = collate(two)
    assert b.clips.is_shared() and torch.equal(b.clips[1], one.clip) and torch.equal(b.clips[0], direct[0])
