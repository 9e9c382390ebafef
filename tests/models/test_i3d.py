"""The Table 3 baselines: I3D (full 3D, no gating) and the single-frame 2D variant, same endpoint contract."""

from __future__ import annotations

import torch
from backbone_helpers import SHAPES_8x112, SHAPES_20x224, gflops, meta_shapes, n_params

from acrn.models.frame2d import Frame2D, frame2d_mixed5
from acrn.models.i3d import I3D, i3d_mixed5
from acrn.models.inception import SelfGating, endpoint_shape
from acrn.models.s3dg import S3DG


def _convs(m):
    return [x for x in m.modules() if isinstance(x, torch.nn.Conv3d)]


def test_i3d_endpoint_shapes_match_s3dg_tables():
    with torch.device("meta"):
        m = I3D()
    assert meta_shapes(m, 1, 3, 20, 224, 224) == {k: (1, *v) for k, v in SHAPES_20x224.items()}
    got = meta_shapes(m, 1, 3, 8, 112, 112)
    assert {k: got[k] for k in SHAPES_8x112} == {k: (1, *v) for k, v in SHAPES_8x112.items()}


def test_i3d_is_fully_3d_without_gating():
    with torch.device("meta"):
        m = I3D()
    assert m.Conv2d_1a_7x7.conv.kernel_size == (7, 7, 7)
    for conv in _convs(m):  # every conv is 1x1x1 or has a temporal extent; nothing is separable
        k = conv.kernel_size
        assert k == (1, 1, 1) or (k[0] > 1 and k[1] == k[2] and k[1] > 1), k
    assert not any(isinstance(x, SelfGating) for x in m.modules())
    assert all(getattr(x, "conv_t", None) is None for x in m.modules())
    # Inflating every 3x3 adds (3 - 1) * 9 * Cin * Cout weights over the 2D layout and 6 * 49 * 3 * 64 in conv1:
    with torch.device("meta"):
        flat = Frame2D()
    extra = sum(c.weight[:, :, 0].numel() * (c.kernel_size[0] - 1) for c in _convs(m))
    assert n_params(m) == n_params(flat) + extra == 12_287_264


def test_i3d_costs_more_than_s3dg():
    with torch.device("meta"):
        i3d, s3dg = I3D(), S3DG()
    assert gflops(i3d, 1, 3, 20, 224, 224) > 2.5 * gflops(s3dg, 1, 3, 20, 224, 224)


def test_frame2d_endpoint_shapes_match_s3dg_tables():
    with torch.device("meta"):
        m = Frame2D()
    assert meta_shapes(m, 1, 3, 20, 224, 224) == {k: (1, *v) for k, v in SHAPES_20x224.items()}
    got = meta_shapes(m, 1, 3, 8, 112, 112)
    assert {k: got[k] for k in SHAPES_8x112} == {k: (1, *v) for k, v in SHAPES_8x112.items()}
    assert all(c.kernel_size[0] == 1 for c in _convs(m))


def test_frame2d_each_output_step_sees_exactly_one_frame():
    torch.manual_seed(0)
    m = Frame2D(width=0.25, final_endpoint="Mixed_4f").eval()
    x = torch.randn(1, 3, 12, 32, 32)
    ref = m(x)["Mixed_4f"]
    assert ref.shape[2] == endpoint_shape("Mixed_4f", 12, 32, 32)[0] == 3
    for frame in range(12):
        y = x.clone()
        y[:, :, frame] += 1.0
        changed = ((m(y)["Mixed_4f"] - ref).abs().amax(dim=(0, 1, 3, 4)) > 0).nonzero().flatten().tolist()
        assert changed == ([frame // 4] if frame % 4 == 0 else []), frame  # reads frames 0, 4, 8


def test_baseline_mixed5_heads():
    torch.manual_seed(0)
    for head, kt in ((i3d_mixed5(width=0.25), 3), (frame2d_mixed5(width=0.25), 1)):
        assert (head.in_channels, head.out_channels) == (208, 256)
        assert head.Mixed_5b.b1b.conv.kernel_size == (kt, 3, 3)
        assert head(torch.randn(3, 208, 2, 7, 7)).shape == (3, 256, 2, 7, 7)


def test_i3d_small_forward_backward():
    m = I3D(width=0.25).train()
    out = m(torch.randn(1, 3, 8, 64, 64))
    assert out["Mixed_4f"].shape == (1, 208, 2, 4, 4)
    out["Mixed_5c"].sum().backward()
    assert m.Conv2d_1a_7x7.conv.weight.grad.abs().sum() > 0
