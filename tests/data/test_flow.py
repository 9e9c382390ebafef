"""Optical flow: the exact 8-bit mapping, a known translation, the cache, online == cached."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from acrn.cli.main import main
from acrn.config import Config
from acrn.data import build_dataset
from acrn.data.flow import FlowCache, decode_flow, encode_flow, extract_video, make_flow_fn, pair_indices
from acrn.errors import InputError


def texture(h=96, w=128, seed=0) -> np.ndarray:
    """Smooth random texture, uint8 ``[h, w]``."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.astype(np.uint8)


def shifted(img: np.ndarray, dx: int) -> np.ndarray:
    """``img`` moved right by ``dx`` pixels (content at x comes from x - dx)."""
    return np.roll(img, dx, axis=1)


def test_8bit_mapping_exact():
    assert encode_flow(np.array([-20.0, 20.0, 0.0, -100.0, 100.0])).tolist() == [0, 255, 128, 0, 255]
    v = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(encode_flow(decode_flow(v)), v)
    assert decode_flow(np.array([0, 255], np.uint8)).tolist() == [-20.0, 20.0]
    f = np.linspace(-20, 20, 10001, dtype=np.float32)
    assert np.abs(decode_flow(encode_flow(f)) - f).max() <= 20 / 255 + 1e-5  # half a step of 40/255


@pytest.mark.parametrize("method, tol", [("dis", 0.15), ("farneback", 0.3), ("tvl1", 0.3)])
def test_known_translation(method, tol):
    a = texture()
    b = shifted(a, 3)
    flow = make_flow_fn(method)(a, b)
    inner = flow[16:-16, 16:-16]
    assert abs(float(np.median(inner[..., 0])) - 3.0) < tol
    assert abs(float(np.median(inner[..., 1]))) < tol


def test_cache_roundtrip_and_alignment(tmp_path):
    base = texture(64, 80)
    frames = [np.repeat(shifted(base, 3 * i)[..., None], 3, axis=2) for i in range(5)]
    n = extract_video(iter(frames), tmp_path / "v", "dis")
    assert n == 4
    cache = FlowCache(tmp_path)
    assert cache.info("v") == {"method": "dis", "pairs": 4, "size": [64, 80]}
    assert sorted(p.name for p in (tmp_path / "v").glob("flow_x_*.png")) == [f"flow_x_{i:06d}.png" for i in range(1, 5)]
    got = cache.read("v", [0, 3, 4], num_frames=5)  # frame 4 (last) reuses the pair (3, 4)
    assert got.shape == (3, 64, 80, 2)
    fn = make_flow_fn("dis")
    direct = encode_flow(fn(cv2.cvtColor(frames[3], cv2.COLOR_RGB2GRAY), cv2.cvtColor(frames[4], cv2.COLOR_RGB2GRAY)))
    np.testing.assert_array_equal(got[1], direct)  # PNG keeps the 8-bit values exactly
    np.testing.assert_array_equal(got[2], direct)
    assert abs(np.median(decode_flow(got[0])[16:-16, 16:-16, 0]) - 3.0) < 0.2
    assert pair_indices([-2, 0, 3, 4, 9], 5) == [0, 0, 3, 3, 3]


def test_incomplete_cache_is_refused(tmp_path):
    (tmp_path / "v").mkdir()
    with pytest.raises(InputError, match="no finished flow cache for video 'v'"):
        FlowCache(tmp_path).read("v", [0], 3)


def test_flow_extract_cli_and_dataset_online_equals_cache(tmp_path, media, capsys):
    root = tmp_path / "custom"
    for k, vid in enumerate(("a", "b")):
        (root / "frames" / vid).mkdir(parents=True)
        base = texture(48, 80, seed=k)
        for i in range(12):  # texture moving right by 2 px per frame
            cv2.imwrite(str(root / "frames" / vid / f"{vid}_{i + 1:06d}.jpg"), shifted(base, 2 * i))
    (root / "annotations").mkdir()
    (root / "annotations" / "val.csv").write_text("a,0000,0.1,0.1,0.5,0.5,12,0\nb,0000,0.1,0.1,0.5,0.5,80,0\n")
    (root / "annotations" / "labelmap.pbtxt").write_text(media.LABELMAP_V21)
    assert main(["flow", "extract", "--root", str(root), "--workers", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "2 to do" in err and "22 frame pairs" in err
    assert main(["flow", "extract", "--root", str(root), "--workers", "1", "--no-progress"]) == 0
    assert "2 already done, 0 to do" in capsys.readouterr().err
    cfg = Config()
    d = cfg.data
    d.dataset, d.root, d.num_frames, d.sample_rate, d.test_short_side, d.flow = "custom", str(root), 4, 3, 48, "cache"
    cached = build_dataset(cfg, "val", train=False)
    d.flow = "online"
    online = build_dataset(cfg, "val", train=False)
    for i in range(2):
        a, b = cached[i].flow, online[i].flow
        assert a.shape == (2, 4, 48, 80)
        torch.testing.assert_close(a, b)
        assert abs(float(a[0, :, 12:-12, 12:-12].median()) - 2 / 20) < 0.02  # 2 px of 20 px
