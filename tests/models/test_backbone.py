"""build_backbone / build_mixed5 contract, two-stream fusion, temporal flattening, frozen BN, ``acrn model info``."""

from __future__ import annotations

import json

import pytest
import torch
from backbone_helpers import n_params

from acrn.cli.main import main
from acrn.config import ModelConfig
from acrn.models.backbone import (
    ConcatFusion,
    FrozenBatchNorm,
    TemporalFlatten,
    TwoStreamBackbone,
    build_backbone,
    build_mixed5,
    endpoint_shape,
    freeze_bn,
)
from acrn.models.s3dg import S3DG

SMALL = {"width": 0.25, "freeze_bn": False}


@pytest.mark.parametrize("backbone", ["s3dg", "i3d", "frame2d"])
@pytest.mark.parametrize("modality", ["rgb", "flow", "two_stream"])
def test_contract_channels_strides_shapes(backbone, modality):
    cfg = ModelConfig(backbone=backbone, modality=modality, width=1.0)
    with torch.device("meta"):
        m = build_backbone(cfg)
        rgb = torch.zeros(1, 3, 20, 224, 224)
        flow = torch.zeros(1, 2, 20, 224, 224)
        out = m(rgb if modality != "flow" else None, flow if modality != "rgb" else None)
    assert list(out)[-1] == "Mixed_4f" and list(out)[0] == "Conv2d_1a_7x7"
    assert set(out) == set(m.channels) == set(m.strides)
    for name, y in out.items():
        assert y.shape == (1, m.channels[name], *endpoint_shape(name, 20, 224, 224)), name
    assert m.channels["Mixed_4f"] == 832 and m.strides["Mixed_4f"] == (4, 16)
    assert m.strides["Conv2d_2c_3x3"] == (2, 4) and m.strides["Mixed_3c"] == (2, 8)


def test_two_stream_sum_is_rgb_plus_flow_at_mixed_4f():
    torch.manual_seed(0)
    m = build_backbone(ModelConfig(modality="two_stream", **SMALL)).eval()
    rgb, flow = torch.randn(1, 3, 8, 64, 64), torch.randn(1, 2, 8, 64, 64)
    out = m(rgb, flow)
    r, f = m.rgb(rgb), m.flow(flow)
    torch.testing.assert_close(out["Mixed_4f"], r["Mixed_4f"] + f["Mixed_4f"])
    torch.testing.assert_close(out["Mixed_3c"], r["Mixed_3c"])  # other endpoints: the RGB stream's
    assert m.flow.Conv2d_1a_7x7.conv.in_channels == 2
    with pytest.raises(ValueError, match="both"):
        m(rgb, None)


def test_concat_fusion_projects_back_and_starts_as_sum():
    torch.manual_seed(0)
    m = build_backbone(ModelConfig(modality="two_stream", fusion="concat", **SMALL)).eval()
    assert isinstance(m.fusion, ConcatFusion) and m.fusion.proj.weight.shape == (208, 416, 1, 1, 1)
    a, b = torch.randn(2, 208, 2, 3, 3), torch.randn(2, 208, 2, 3, 3)
    torch.testing.assert_close(m.fusion(a, b), a + b)
    assert m(torch.randn(1, 3, 8, 64, 64), torch.randn(1, 2, 8, 64, 64))["Mixed_4f"].shape == (1, 208, 2, 4, 4)
    with torch.device("meta"):
        full = build_backbone(ModelConfig(modality="two_stream", fusion="concat"))
    assert full.fusion.proj.weight.shape == (832, 1664, 1, 1, 1)


def test_flow_only_backbone_reads_the_flow_argument():
    m = build_backbone(ModelConfig(modality="flow", **SMALL))
    assert m(None, torch.randn(1, 2, 8, 32, 32))["Mixed_4f"].shape == (1, 208, 2, 2, 2)
    with pytest.raises(ValueError, match="flow"):
        m(torch.randn(1, 3, 8, 32, 32), None)


def test_temporal_flatten_starts_as_temporal_mean():
    tf = TemporalFlatten(6, 5)
    x = torch.randn(2, 6, 5, 4, 3)
    torch.testing.assert_close(tf(x), x.mean(2))
    assert tf.conv.weight.shape == (6, 6, 5, 1, 1)
    with pytest.raises(ValueError, match=r"Tensor\[B, C, 5, h, w\]"):
        tf(torch.randn(2, 6, 4, 4, 3))


def test_frozen_bn_matches_eval_bn_and_survives_train():
    torch.manual_seed(0)
    m = S3DG(width=0.25, final_endpoint="Mixed_3b")
    m.train()
    m(torch.randn(2, 3, 4, 32, 32))  # give BN non-trivial statistics
    m.eval()
    x = torch.randn(1, 3, 4, 32, 32)
    ref = m(x)["Mixed_3b"]
    n_bn = sum(isinstance(b, torch.nn.BatchNorm3d) for b in m.modules())
    frozen = freeze_bn(m)
    assert frozen is m and n_bn == sum(isinstance(b, FrozenBatchNorm) for b in m.modules()) > 0
    assert not any(isinstance(b, torch.nn.BatchNorm3d) for b in m.modules())
    m.train()
    torch.testing.assert_close(m(x)["Mixed_3b"], ref)  # train mode changes nothing
    stats = m.Conv2d_1a_7x7.bn.running_mean.clone()
    m(x)["Mixed_3b"].sum().backward()
    assert torch.equal(stats, m.Conv2d_1a_7x7.bn.running_mean)
    assert m.Conv2d_1a_7x7.conv.weight.grad is not None
    assert not any("bn" in name for name, _ in m.named_parameters())
    assert freeze_bn(m) is m  # idempotent


def test_frozen_model_loads_unfrozen_state_dict():
    a = S3DG(width=0.25, final_endpoint="Mixed_3b")
    with torch.no_grad():
        a.Conv2d_1a_7x7.bn.running_var.fill_(3.0)
    b = freeze_bn(S3DG(width=0.25, final_endpoint="Mixed_3b"))
    b.load_state_dict(a.state_dict())  # strict: num_batches_tracked is dropped, not unexpected
    assert torch.all(b.Conv2d_1a_7x7.bn.running_var == 3.0)


def test_freeze_bn_config_flag():
    frozen = build_backbone(ModelConfig(width=0.25, freeze_bn=True))
    assert not any(isinstance(x, torch.nn.BatchNorm3d) for x in frozen.modules())
    free = build_backbone(ModelConfig(width=0.25, freeze_bn=False))
    assert n_params(free) > n_params(frozen)
    assert not any(isinstance(x, torch.nn.BatchNorm3d) for x in build_mixed5(ModelConfig(width=0.25)).modules())


@pytest.mark.parametrize("backbone", ["s3dg", "i3d", "frame2d"])
def test_build_mixed5(backbone):
    head = build_mixed5(ModelConfig(backbone=backbone, **SMALL))
    assert (head.in_channels, head.out_channels) == (208, 256)
    assert head(torch.randn(4, 208, 1, 7, 7)).shape == (4, 256, 1, 7, 7)
    with torch.device("meta"):
        full = build_mixed5(ModelConfig(backbone=backbone))
    assert (full.in_channels, full.out_channels) == (832, 1024)


def test_endpoint_shape_odd_sizes_match_modules():
    with torch.device("meta"):
        m = build_backbone(ModelConfig(modality="rgb"))
        out = m(torch.zeros(1, 3, 7, 100, 90))
    for name, y in out.items():
        assert tuple(y.shape[2:]) == endpoint_shape(name, 7, 100, 90)
    assert endpoint_shape("Mixed_4f", 7, 100, 90) == (2, 7, 6)
    with pytest.raises(ValueError, match="unknown endpoint"):
        endpoint_shape("conv9", 8, 8, 8)


def test_two_stream_has_two_trunks():
    with torch.device("meta"):
        m = build_backbone(ModelConfig(modality="two_stream", freeze_bn=False))
    assert isinstance(m, TwoStreamBackbone)
    # both trunks up to Mixed_4f: 4,971,024 (RGB) + 4,967,888 (flow, conv1 has 2 input channels)
    assert n_params(m) == 4_971_024 + 4_971_024 - 64 * 49


def test_model_info_cli(capsys):
    assert main(["model", "info", "--json", "--frames", "20", "--size", "224"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == {"backbone": 4_971_024, "mixed5": 1_537_728 + 2_168_288, "temporal_flatten": 832 * 832 * 5
                              + 832}
    assert info["gflops"]["backbone"] == pytest.approx(24.69, abs=5e-3)  # spec 4.2: RGB to Mixed_4f
    assert info["gflops"]["mixed5_per_roi"] == pytest.approx(0.312, abs=1e-3)
    assert info["endpoints"]["Mixed_4f"] == {"channels": 832, "shape": [5, 14, 14], "stride": [4, 16]}
    assert main(["model", "info", "--set", "model.backbone=i3d", "--frames", "8", "--size", "112"]) == 0
    text = capsys.readouterr().out
    assert "backbone i3d (rgb)" in text and "Mixed_4f" in text and "2x7x7" in text
    assert main(["model", "info", "--frames", "0"]) == 2
    assert "--frames 0" in capsys.readouterr().err
