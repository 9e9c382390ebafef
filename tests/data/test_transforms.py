"""Box and frame transforms against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from acrn.data.transforms import (
    Geometry,
    apply_boxes,
    apply_flow,
    apply_frames,
    inverse_boxes,
    plan_test,
    plan_train,
    short_side_size,
    to_tensor,
)


def test_short_side_size():
    assert short_side_size((240, 320), 256) == (256, 341)  # 320 * 256 / 240 = 341.33
    assert short_side_size((720, 1280), 256) == (256, 455)  # 455.11
    assert short_side_size((400, 300), 150) == (200, 150)


def test_test_transform_boxes_by_hand():
    g = plan_test((240, 320), 256)
    assert g.size == (256, 341) and g.offset == (0, 0) and not g.flipped
    assert g.scale == (256 / 240, 341 / 320)
    boxes, keep = apply_boxes(np.array([[32, 24, 160, 120]], np.float32), g)
    assert keep.tolist() == [True]
    np.testing.assert_allclose(boxes, [[32 * 1.065625, 25.6, 170.5, 128.0]], rtol=1e-6)


def test_crop_and_flip_boxes_by_hand():
    # original 100x200 -> resized 50x100 (scale 0.5) -> crop 40x60 at (oy, ox) = (5, 20) -> flip
    g = Geometry(resized=(50, 100), size=(40, 60), scale=(0.5, 0.5), offset=(5, 20), flipped=True)
    boxes = np.array([[60, 20, 120, 80],    # scaled (30,10,60,40) -> (10,5,40,35) -> flip (20,5,50,35)
                      [0, 0, 30, 10],       # scaled (0,0,15,5) -> (-20,-5,-5,0): outside the crop
                      [20, 0, 60, 200]],    # scaled (10,0,30,100) -> clip (0,0,10,40) -> flip (50,0,60,40)
                     np.float32)
    out, keep = apply_boxes(boxes, g)
    assert keep.tolist() == [True, False, True]
    np.testing.assert_allclose(out, [[20, 5, 50, 35], [50, 0, 60, 40]])
    # meta contract: x_in = x * sx - ox, then mirrored; inverse gets the original box back
    np.testing.assert_allclose(inverse_boxes(out[:1], g), boxes[:1], atol=1e-5)


def test_apply_frames_crop_flip_exact():
    frames = np.arange(2 * 6 * 8 * 3, dtype=np.uint8).reshape(2, 6, 8, 3)
    g = Geometry(resized=(6, 8), size=(4, 5), scale=(1.0, 1.0), offset=(1, 2), flipped=True)
    out = apply_frames(frames, g)
    np.testing.assert_array_equal(out, frames[:, 1:5, 2:7][:, :, ::-1])
    g2 = Geometry(resized=(3, 4), size=(3, 4), scale=(0.5, 0.5), offset=(0, 0), flipped=False)
    assert apply_frames(frames, g2).shape == (2, 3, 4, 3)


def test_plan_train_ranges():
    rng = np.random.default_rng(0)
    flips, shorts = 0, set()
    for _ in range(300):
        g = plan_train((240, 320), (200, 260), 224, True, rng)
        short = min(g.resized)
        shorts.add(short)
        assert 200 <= short <= 260
        assert g.size == (min(224, g.resized[0]), 224)
        assert 0 <= g.offset[0] <= g.resized[0] - g.size[0] and 0 <= g.offset[1] <= g.resized[1] - g.size[1]
        flips += g.flipped
    assert 100 < flips < 200 and min(shorts) <= 205 and max(shorts) >= 255
    g = plan_train((240, 320), (256, 256), 0, False, rng)
    assert g.size == g.resized == (256, 341) and g.offset == (0, 0) and not g.flipped


def test_to_tensor_normalises():
    frames = np.full((2, 3, 4, 3), 255, np.uint8)
    frames[..., 1] = 0
    x = to_tensor(frames, [0.5, 0.5, 0.5], [0.25, 0.5, 0.5])
    assert x.shape == (3, 2, 3, 4)
    assert torch.allclose(x[0], torch.tensor(2.0)) and torch.allclose(x[1], torch.tensor(-1.0))


def test_flow_flip_negates_x():
    u8 = np.zeros((1, 4, 4, 2), np.uint8)
    u8[..., 0] = 255  # +20 px in x
    u8[..., 1] = 0    # -20 px in y
    g = Geometry(resized=(4, 4), size=(4, 4), scale=(1.0, 1.0), offset=(0, 0), flipped=True)
    f = apply_flow(u8, g)
    assert f.shape == (2, 1, 4, 4)
    assert torch.all(f[0] == -1.0) and torch.all(f[1] == -1.0)
    f = apply_flow(u8, Geometry((4, 4), (4, 4), (1.0, 1.0), (0, 0), False))
    assert torch.all(f[0] == 1.0)


@pytest.mark.parametrize("flipped", [False, True])
def test_inverse_roundtrip(flipped):
    g = Geometry(resized=(300, 400), size=(224, 224), scale=(1.25, 1.25), offset=(30, 50), flipped=flipped)
    b = np.array([[70, 50, 150, 180]], np.float64)
    out, keep = apply_boxes(b, g)
    assert keep.all()
    np.testing.assert_allclose(inverse_boxes(out, g), b, atol=1e-4)


@pytest.mark.parametrize("channels,dtype", [(3, np.uint8), (2, np.uint8), (1, np.uint8), (2, np.float32)])
@pytest.mark.parametrize("flipped", [False, True])
def test_apply_frames_crop_and_flip_equal_numpy(channels, dtype, flipped):
    rng = np.random.default_rng(0)
    frames = (rng.random((4, 30, 40, channels)) * 255).astype(dtype)
    out = apply_frames(frames, Geometry((30, 40), (20, 25), (1.0, 1.0), (3, 7), flipped))
    ref = frames[:, 3:23, 7:32]
    np.testing.assert_array_equal(out, ref[:, :, ::-1] if flipped else ref)
    scaled = apply_frames(frames, Geometry((45, 60), (20, 25), (1.5, 1.5), (3, 7), flipped))
    assert scaled.shape == (4, 20, 25, channels)
