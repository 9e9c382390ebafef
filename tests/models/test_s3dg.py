"""S3D-G: parameter and FLOP counts against the spec tables, endpoint shapes, the knobs, gating, Mixed_5 alone."""

from __future__ import annotations

import pytest
import torch
from backbone_helpers import SHAPES_8x112, SHAPES_20x224, gflops, meta_shapes, n_params

from acrn.models.inception import SelfGating, STConv, endpoint_channels, endpoint_shape
from acrn.models.s3dg import S3DG, s3dg_mixed5, torchvision_equivalent

# specs/s3dg.md 1.2: (params, GFLOPs at 1x3x20x224x224) of every endpoint of the ACRN top-heavy config.
SPEC_ENDPOINTS = {
    "Conv2d_1a_7x7": (9_536, 2.360), "Conv2d_2b_1x1": (4_224, 0.257), "Conv2d_2c_3x3": (110_976, 6.936),
    "Mixed_3b": (155_872, 2.433), "Mixed_3c": (340_224, 5.315), "Mixed_4b": (588_768, 0.980),
    "Mixed_4c": (673_104, 1.150), "Mixed_4d": (786_352, 1.360), "Mixed_4e": (939_344, 1.633),
    "Mixed_4f": (1_362_624, 2.270), "Mixed_5b": (1_537_728, 0.392), "Mixed_5c": (2_168_288, 0.540),
}



def meta(**kw) -> S3DG:
    with torch.device("meta"):
        return S3DG(**kw)


def test_torchvision_equivalent_params_and_gflops():
    with torch.device("meta"):
        m = torchvision_equivalent()
    assert n_params(m) == 7_910_048
    assert gflops(m, 1, 3, 16, 224, 224) == pytest.approx(35.957, abs=5e-4)  # torchvision: 17.979 GMACs


def test_acrn_top_heavy_params_and_gflops():
    m = meta()
    assert n_params(m) == 8_677_040
    assert gflops(m, 1, 3, 20, 224, 224) == pytest.approx(25.63, abs=5e-3)
    assert gflops(m, 1, 3, 8, 224, 224) == pytest.approx(10.19, abs=5e-3)
    assert gflops(m, 1, 3, 8, 112, 112) == pytest.approx(2.57, abs=5e-3)
    assert n_params(meta(in_channels=2)) == 8_673_904  # flow stream


def test_per_endpoint_params_and_gflops_match_spec_table():
    m = meta()
    for name, (params, _) in SPEC_ENDPOINTS.items():
        assert n_params(getattr(m, name)) == params, name
    x = torch.zeros(1, 3, 20, 224, 224, device="meta")
    out = m(x)
    prev = {"Conv2d_1a_7x7": x, "Conv2d_2b_1x1": out["MaxPool_2a_3x3"], "Conv2d_2c_3x3": out["Conv2d_2b_1x1"],
            "Mixed_3b": out["MaxPool_3a_3x3"], "Mixed_3c": out["Mixed_3b"], "Mixed_4b": out["MaxPool_4a_3x3"],
            "Mixed_4c": out["Mixed_4b"], "Mixed_4d": out["Mixed_4c"], "Mixed_4e": out["Mixed_4d"],
            "Mixed_4f": out["Mixed_4e"], "Mixed_5b": out["MaxPool_5a_2x2"], "Mixed_5c": out["Mixed_5b"]}
    for name, (_, gf) in SPEC_ENDPOINTS.items():
        assert gflops(getattr(m, name), *prev[name].shape) == pytest.approx(gf, abs=1.5e-3), name


@pytest.mark.parametrize(("kw", "params", "gf20"), [
    ({"first_temporal_kernel": 3}, 8_695_856, 30.35),
    ({"first_temporal_kernel": 7}, 8_733_488, 39.79),
    ({"first_temporal_kernel": 3, "temporal_conv_startat": "Conv2d_2c_3x3", "gating_startat": "Conv2d_2c_3x3"},
     9_125_072, 40.27),  # full S3D-G, TF-slim defaults
    ({"width": 0.5}, 2_187_720, 7.04),
    ({"width": 0.25}, 576_736, 2.18),
])
def test_variants_match_spec_cost_table(kw, params, gf20):
    m = meta(**kw)
    assert n_params(m) == params
    assert gflops(m, 1, 3, 20, 224, 224) == pytest.approx(gf20, abs=5e-3)


def test_endpoint_shapes_20x224_and_8x112():
    assert meta_shapes(meta(), 1, 3, 20, 224, 224) == {k: (1, *v) for k, v in SHAPES_20x224.items()}
    got = meta_shapes(meta(), 1, 3, 8, 112, 112)
    for name, shape in SHAPES_8x112.items():
        assert got[name] == (1, *shape)
    for name, shape in got.items():  # endpoint_shape / channels agree with the module
        assert shape[2:] == endpoint_shape(name, 8, 112, 112)
        assert shape[1] == endpoint_channels()[name]


def test_maxpool_5a_rounds_up_like_tf_same():
    # 10 frames -> Mixed_5c T = 2 (TF-slim s3dg_test); 20 frames: T 5 -> 3 (torchvision's floor would give 2).
    assert meta_shapes(meta(), 1, 3, 10, 224, 224)["Mixed_5c"] == (1, 1024, 2, 7, 7)
    assert endpoint_shape("Mixed_5c", 20, 224, 224) == (3, 7, 7)
    assert endpoint_shape("Mixed_4f", 64, 224, 224) == (16, 14, 14)  # TF-slim test: 16x14x14x832


def test_width_multiplier_and_min_depth():
    ch = endpoint_channels(0.25, 16)
    assert ch["Mixed_5c"] == 96 + 96 + 32 + 32  # 384/4, 384/4, max(128/4, 16), max(128/4, 16)
    assert ch["Conv2d_1a_7x7"] == 16
    assert endpoint_channels(0.25, 64)["Mixed_3b"] == 64 * 4  # every branch raised to min_depth
    m = meta(width=0.25)
    assert {k: v[1] for k, v in meta_shapes(m, 1, 3, 8, 64, 64).items()} == m.channels


def test_top_heavy_layout_sep_and_gates_start_at_mixed_4b():
    m = meta()
    assert m.Conv2d_1a_7x7.conv.kernel_size == (1, 7, 7) and m.Conv2d_1a_7x7.conv.stride == (2, 2, 2)
    assert m.Conv2d_2c_3x3.conv_t is None and m.Conv2d_2c_3x3.gate is None
    assert m.Mixed_3c.b1b.conv_t is None and m.Mixed_3c.g0 is None
    assert m.Mixed_3c.pool.kernel_size == (3, 3, 3)  # the "2D" blocks still pool over time (TF-slim)
    assert m.Mixed_4b.b1b.conv.kernel_size == (1, 3, 3) and m.Mixed_4b.b1b.conv_t.kernel_size == (3, 1, 1)
    assert sum(isinstance(x, SelfGating) for x in m.modules()) == 28  # 4 per block, Mixed_4b..5c
    full = meta(temporal_conv_startat="Conv2d_2c_3x3", gating_startat="Conv2d_2c_3x3")
    assert full.Conv2d_2c_3x3.conv_t is not None and full.Conv2d_2c_3x3.gate is not None
    assert sum(isinstance(x, SelfGating) for x in full.modules()) == 37
    assert sum(isinstance(x, SelfGating) for x in meta(gating_startat=None).modules()) == 0


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError, match="Conv2d_1a_7x7"):
        meta(gating_startat="Conv2d_1a_7x7")
    with pytest.raises(ValueError, match="odd"):
        meta(first_temporal_kernel=2)
    with pytest.raises(ValueError, match="unknown endpoint"):
        meta(final_endpoint="Mixed_9z")


def test_self_gating_matches_formula():
    g = SelfGating(4)
    torch.nn.init.normal_(g.fc.weight)
    torch.nn.init.normal_(g.fc.bias)
    x = torch.randn(2, 4, 3, 5, 6)
    s = x.mean(dim=(2, 3, 4))
    expected = x * torch.sigmoid(s @ g.fc.weight.T + g.fc.bias)[:, :, None, None, None]
    torch.testing.assert_close(g(x), expected)


def test_kt1_1_reads_every_second_frame_and_lower_layers_are_per_frame():
    torch.manual_seed(0)
    m = S3DG(width=0.25, final_endpoint="Conv2d_2c_3x3").eval()
    x = torch.randn(1, 3, 8, 32, 32)
    ref = m(x)
    odd = x.clone()
    odd[:, :, 3] += 1.0  # conv1 (kt=1, stride 2 in time) never reads odd frames
    torch.testing.assert_close(m(odd)["Conv2d_2c_3x3"], ref["Conv2d_2c_3x3"])
    even = x.clone()
    even[:, :, 4] += 1.0  # frame 4 -> conv1 time step 2 only: 2D convs keep time steps apart
    diff = (m(even)["Conv2d_2c_3x3"] - ref["Conv2d_2c_3x3"]).abs().amax(dim=(0, 1, 3, 4))
    assert diff[2] > 0 and torch.all(diff[[0, 1, 3]] == 0)


def test_separable_conv_starts_as_its_spatial_half():
    # conv_t is initialised as an identity (TF-slim centre initializer): no mixing across time at init.
    u = STConv(4, 6, (1, 3, 3), temporal=3).eval()
    x = torch.randn(1, 4, 5, 8, 8)
    y = x.clone()
    y[:, :, 2] += 1.0
    diff = (u(y) - u(x)).abs().amax(dim=(0, 1, 3, 4))
    assert diff[2] > 0 and torch.all(diff[[0, 1, 3, 4]] == 0)


def test_forward_backward_small_real_input():
    m = S3DG(width=0.25).train()
    out = m(torch.randn(2, 3, 8, 64, 64))
    assert out["Mixed_5c"].shape == (2, 256, 1, 2, 2)
    assert all(torch.isfinite(v).all() for v in out.values())
    out["Mixed_5c"].mean().backward()
    assert m.Conv2d_1a_7x7.conv.weight.grad is not None and m.Mixed_5c.g3.fc.weight.grad.abs().sum() > 0


def test_mixed5_alone_equals_the_trunks_mixed5():
    torch.manual_seed(0)
    full = S3DG(width=0.25).eval()
    head = s3dg_mixed5(width=0.25).eval()
    own = {k: v for k, v in full.state_dict().items() if k.startswith(("Mixed_5b.", "Mixed_5c."))}
    assert set(own) == set(head.state_dict())
    head.load_state_dict(own)
    out = full(torch.randn(1, 3, 8, 64, 64))
    torch.testing.assert_close(head(out["MaxPool_5a_2x2"]), out["Mixed_5c"])
    assert (head.in_channels, head.out_channels) == (208, 256)
    with torch.device("meta"):
        assert (s3dg_mixed5().in_channels, s3dg_mixed5().out_channels) == (832, 1024)
