"""Importers: state dicts with the exact keys and shapes of public checkpoints (random values) land where the
mapping says, tensor by tensor; conversions that change values are checked functionally."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from backbone_helpers import random_state, read_keys

from acrn.config import ModelConfig
from acrn.errors import InputError
from acrn.models.backbone import FrozenBatchNorm, build_backbone, build_mixed5
from acrn.models.s3dg import S3DG, torchvision_equivalent
from acrn.models.weights import (
    GATE_IDENTITY_BIAS,
    Checkpoint,
    fit_dense_conv1,
    import_backbone,
    import_torchvision_resnet50,
    read_checkpoint,
    space_to_depth_kernel,
)

MIXED = {5: "Mixed_3b", 6: "Mixed_3c", 8: "Mixed_4b", 9: "Mixed_4c", 10: "Mixed_4d", 11: "Mixed_4e", 12: "Mixed_4f",
         14: "Mixed_5b", 15: "Mixed_5c"}
# torchvision key -> ours, written as regexes (independently of the importer's tables).
TV_RULES = [
    (r"features\.0\.0\.0\.", "Conv2d_1a_7x7.conv."), (r"features\.0\.0\.1\.", "Conv2d_1a_7x7.bn."),
    (r"features\.0\.1\.0\.", "Conv2d_1a_7x7.conv_t."), (r"features\.0\.1\.1\.", "Conv2d_1a_7x7.bn_t."),
    (r"features\.2\.0\.", "Conv2d_2b_1x1.conv."), (r"features\.2\.1\.", "Conv2d_2b_1x1.bn."),
    (r"features\.3\.0\.0\.", "Conv2d_2c_3x3.conv."), (r"features\.3\.0\.1\.", "Conv2d_2c_3x3.bn."),
    (r"features\.3\.1\.0\.", "Conv2d_2c_3x3.conv_t."), (r"features\.3\.1\.1\.", "Conv2d_2c_3x3.bn_t."),
    (r"features\.(\d+)\.branch0\.0\.", r"M\1.b0.conv."), (r"features\.(\d+)\.branch0\.1\.", r"M\1.b0.bn."),
    (r"features\.(\d+)\.branch([12])\.0\.0\.", r"M\1.b\2a.conv."),
    (r"features\.(\d+)\.branch([12])\.0\.1\.", r"M\1.b\2a.bn."),
    (r"features\.(\d+)\.branch([12])\.1\.0\.0\.", r"M\1.b\2b.conv."),
    (r"features\.(\d+)\.branch([12])\.1\.0\.1\.", r"M\1.b\2b.bn."),
    (r"features\.(\d+)\.branch([12])\.1\.1\.0\.", r"M\1.b\2b.conv_t."),
    (r"features\.(\d+)\.branch([12])\.1\.1\.1\.", r"M\1.b\2b.bn_t."),
    (r"features\.(\d+)\.branch3\.1\.0\.", r"M\1.b3.conv."), (r"features\.(\d+)\.branch3\.1\.1\.", r"M\1.b3.bn."),
]
HT_RULES = [
    (r"conv1\.bn1\.", "Conv2d_1a_7x7.bn."), (r"conv_2b\.conv1\.", "Conv2d_2b_1x1.conv."),
    (r"conv_2b\.bn1\.", "Conv2d_2b_1x1.bn."), (r"conv_2c\.conv1\.", "Conv2d_2c_3x3.conv."),
    (r"conv_2c\.bn1\.", "Conv2d_2c_3x3.bn."), (r"conv_2c\.conv2\.", "Conv2d_2c_3x3.conv_t."),
    (r"conv_2c\.bn2\.", "Conv2d_2c_3x3.bn_t."), (r"gating\.fc\.", "Conv2d_2c_3x3.gate.fc."),
    (r"mixed_(\w\w)\.conv_b([03])(_b)?\.conv1\.", r"Mixed_\1.b\2.conv."),
    (r"mixed_(\w\w)\.conv_b([03])(_b)?\.bn1\.", r"Mixed_\1.b\2.bn."),
    (r"mixed_(\w\w)\.conv_b([12])_(\w)\.conv1\.", r"Mixed_\1.b\2\3.conv."),
    (r"mixed_(\w\w)\.conv_b([12])_(\w)\.bn1\.", r"Mixed_\1.b\2\3.bn."),
    (r"mixed_(\w\w)\.conv_b([12])_b\.conv2\.", r"Mixed_\1.b\2b.conv_t."),
    (r"mixed_(\w\w)\.conv_b([12])_b\.bn2\.", r"Mixed_\1.b\2b.bn_t."),
    (r"mixed_(\w\w)\.gating_b(\d)\.fc\.", r"Mixed_\1.g\2.fc."),
]


def expected_key(key: str, rules) -> str | None:
    for pattern, repl in rules:
        if re.match(pattern, key):
            out = re.sub("^" + pattern, repl, key)
            return re.sub(r"^M(\d+)", lambda m: MIXED[int(m.group(1))], out)
    return None


def assert_landed(model: torch.nn.Module, state: dict, rules, skip=()) -> int:
    """Every source tensor with a counterpart in ``model`` equals it; returns how many were compared."""
    own = model.state_dict()
    n = 0
    for key, value in state.items():
        ours = expected_key(key, rules)
        if ours is None or ours not in own or key in skip:
            continue
        assert torch.equal(own[ours], value.to(own[ours].dtype)), (key, ours)
        n += 1
    return n


@pytest.fixture(scope="module")
def tv_state():
    return random_state("torchvision_s3d")


def test_torchvision_s3d_into_torchvision_equivalent_is_complete(tv_state):
    m = torchvision_equivalent()
    report = import_backbone(m, Checkpoint("torchvision_s3d", tv_state))
    assert report.missing == [] and report.gates_identity == [] and report.adapted == {}
    assert sorted(report.unused) == ["classifier.1.bias", "classifier.1.weight"]
    assert assert_landed(m, tv_state, TV_RULES) == 462 == len(report.loaded)
    assert torch.equal(m.Mixed_4f.b1b.conv_t.weight, tv_state["features.12.branch1.1.1.0.weight"])


def test_torchvision_s3d_into_acrn_top_heavy(tv_state):
    m = S3DG()
    report = import_backbone(m, Checkpoint("torchvision_s3d", tv_state))
    assert report.missing == []
    expected_unused = {k for k in tv_state if re.match(
        r"features\.0\.1\.|features\.3\.1\.|features\.[56]\.branch[12]\.1\.1\.|classifier\.", k)}
    assert set(report.unused) == expected_unused  # spec 2.1: exactly these are dropped
    assert len(report.gates_identity) == 56  # 28 gates x (weight, bias)
    assert torch.all(m.Mixed_5c.g2.fc.weight == 0) and torch.all(m.Mixed_5c.g2.fc.bias == GATE_IDENTITY_BIAS)
    assert assert_landed(m, tv_state, TV_RULES) == len(report.loaded)
    assert set(report.loaded) | set(report.gates_identity) == set(m.state_dict())
    # The gates start near identity: a gated branch output is ~99.3% of the ungated one.
    x = torch.rand(1, 192, 2, 3, 3)
    torch.testing.assert_close(m.Mixed_4b.g0(x), x * torch.sigmoid(torch.tensor(GATE_IDENTITY_BIAS)))


def test_kylemin_has_torchvision_tensors_in_the_same_order(tv_state):
    tv_rows, km_rows = read_keys("torchvision_s3d"), read_keys("kylemin_s3d")
    assert [s for _, s in tv_rows] == [s for _, s in km_rows]
    km_state = {km: tv_state[tv] for (tv, _), (km, _) in zip(tv_rows, km_rows)}
    a, b = S3DG(), S3DG()
    import_backbone(a, Checkpoint("torchvision_s3d", tv_state))
    rep = import_backbone(b, Checkpoint("kylemin_s3d", km_state))
    assert sorted(rep.unused)[-2:] == ["fc.0.bias", "fc.0.weight"] and rep.missing == []
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_howto100m_into_full_s3dg():
    state = random_state("howto100m_s3dg")
    m = S3DG(first_temporal_kernel=3, temporal_conv_startat="Conv2d_2c_3x3", gating_startat="Conv2d_2c_3x3")
    report = import_backbone(m, Checkpoint("howto100m_s3dg", state))
    assert report.missing == [] and report.gates_identity == []
    assert {k.split(".")[0] for k in report.unused} == {"fc", "text_module"}
    assert assert_landed(m, state, HT_RULES) == len(report.loaded) - 1  # all but the converted conv1
    assert torch.equal(m.Mixed_5c.g1.fc.bias, state["mixed_5c.gating_b1.fc.bias"])
    expected = fit_dense_conv1(space_to_depth_kernel(state["conv1.conv1.weight"]), 3)
    assert torch.equal(m.Conv2d_1a_7x7.conv.weight, expected)
    assert any("approximated" in n for n in report.notes)


def test_howto100m_into_top_heavy_drops_lower_temporal_halves_and_gates():
    state = random_state("howto100m_s3dg")
    m = S3DG()
    report = import_backbone(m, Checkpoint("howto100m_s3dg", state))
    assert report.missing == [] and report.gates_identity == []
    dropped = {k for k in report.unused if not k.startswith(("fc.", "text_module."))}
    assert dropped == {k for k in state if re.match(
        r"conv_2c\.(conv2|bn2)\.|gating\.|mixed_3[bc]\.(gating_|conv_b[12]_b\.(conv2|bn2))", k)}


def _s2d(x: torch.Tensor) -> torch.Tensor:
    """HowTo100M's space-to-depth (as documented in its s3dg.py)."""
    b, c, t, h, w = x.shape
    x = x.view(b, c, t // 2, 2, h // 2, 2, w // 2, 2).permute(0, 3, 5, 7, 1, 2, 4, 6)
    return x.reshape(b, 8 * c, t // 2, h // 2, w // 2)


def test_space_to_depth_kernel_is_exact():
    torch.manual_seed(0)
    w = torch.randn(5, 24, 2, 4, 4, dtype=torch.float64)
    x = torch.randn(1, 3, 8, 16, 12, dtype=torch.float64)
    ht = F.conv3d(_s2d(x), w, padding=(1, 2, 2))[:, :, 1:, 1:, 1:]
    dense = space_to_depth_kernel(w)
    assert dense.shape == (5, 3, 4, 8, 8)
    ours = F.conv3d(F.pad(x, (2, 4, 2, 4, 0, 2)), dense, stride=2)  # taps at t 0..3, h/w -2..5
    torch.testing.assert_close(ours, ht)
    fit = fit_dense_conv1(dense, 1)
    torch.testing.assert_close(fit[:, :, 0], dense.sum(2)[:, :, :7, :7])


def _tf_variables(model: S3DG) -> dict[str, np.ndarray]:
    """TF-slim s3dg variable names/shapes for ``model`` (spec 2.3), random values, plus non-model variables."""
    rng = np.random.default_rng(0)
    branch = {"b0": "Branch_0/Conv2d_0a_1x1", "b1a": "Branch_1/Conv2d_0a_1x1", "b1b": "Branch_1/Conv2d_0b_3x3",
              "b2a": "Branch_2/Conv2d_0a_1x1", "b2b": "Branch_2/Conv2d_0b_3x3", "b3": "Branch_3/Conv2d_0b_1x1"}
    gate_of = {"g0": "b0", "g1": "b1b", "g2": "b2b", "g3": "b3"}
    out = {"global_step": np.array(5), "InceptionV1/Logits/Conv2d_0c_1x1/weights": rng.normal(size=(1, 1, 1, 8, 3))}
    for name, mod in model.named_modules():
        parts = name.split(".")
        if hasattr(mod, "conv") and hasattr(mod, "bn"):
            scope = "InceptionV1/" + (parts[0] if len(parts) == 1 else f"{parts[0]}/{branch[parts[1]]}")
            co, ci, kt, kh, kw = mod.conv.weight.shape
            out[f"{scope}/weights"] = rng.normal(size=(kt, kh, kw, ci, co))
            out[f"{scope}/weights/Momentum"] = rng.normal(size=(kt, kh, kw, ci, co))
            out[f"{scope}/BatchNorm/beta"] = rng.normal(size=co)
            out[f"{scope}/BatchNorm/moving_mean"] = rng.normal(size=co)
            out[f"{scope}/BatchNorm/moving_variance"] = rng.uniform(0.5, 1.5, size=co)
            if mod.conv_t is not None:
                out[f"{scope}/temporal/weights"] = rng.normal(size=(3, 1, 1, co, co))
                out[f"{scope}/temporal/biases"] = rng.normal(size=co)
            if mod.gate is not None:
                out[f"{scope}/self_gating/transformer_W/weights"] = rng.normal(size=(1, 1, 1, co, co))
        elif len(parts) == 2 and parts[1] in gate_of:
            co = mod.fc.weight.shape[0]
            out[f"InceptionV1/{parts[0]}/{branch[gate_of[parts[1]]]}/self_gating/transformer_W/weights"] = \
                rng.normal(size=(1, 1, 1, co, co))
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in out.items()}


def test_tfslim_npz_full_s3dg_functional(tmp_path):
    m = S3DG(first_temporal_kernel=3, temporal_conv_startat="Conv2d_2c_3x3", gating_startat="Conv2d_2c_3x3",
             width=0.25).eval()
    var = _tf_variables(m)
    np.savez(tmp_path / "s3dg.npz", **var)
    ckpt = read_checkpoint(tmp_path / "s3dg.npz")
    assert ckpt.format == "tfslim_npz"
    report = import_backbone(m, ckpt)
    assert report.missing == [] and report.gates_identity == []
    assert set(report.unused) == {k for k in var if k.endswith("Momentum") or "Logits" in k or k == "global_step"}
    # TF semantics of Mixed_4b branch 1: conv 1x3x3 -> BN (no gamma) -> ReLU -> temporal conv + bias -> ReLU -> gate
    s = "InceptionV1/Mixed_4b/Branch_1/Conv2d_0b_3x3/"
    t = {k[len(s):]: torch.from_numpy(v).double() for k, v in var.items() if k.startswith(s)}
    x = torch.randn(1, m.Mixed_4b.b1b.conv.in_channels, 4, 6, 6, dtype=torch.float64)
    y = F.conv3d(x, t["weights"].permute(4, 3, 0, 1, 2), padding=(0, 1, 1))
    y = (y - t["BatchNorm/moving_mean"][:, None, None, None]) / torch.sqrt(
        t["BatchNorm/moving_variance"][:, None, None, None] + 1e-3) + t["BatchNorm/beta"][:, None, None, None]
    y = torch.relu(F.conv3d(torch.relu(y), t["temporal/weights"].permute(4, 3, 0, 1, 2), t["temporal/biases"],
                            padding=(1, 0, 0)))
    w = t["self_gating/transformer_W/weights"][0, 0, 0]
    ref = y * torch.sigmoid(y.mean(dim=(2, 3, 4)) @ w)[:, :, None, None, None]
    mm = m.double()
    torch.testing.assert_close(mm.Mixed_4b.g1(mm.Mixed_4b.b1b(x)), ref)
    assert torch.equal(mm.Conv2d_2c_3x3.gate.fc.weight, torch.from_numpy(
        var["InceptionV1/Conv2d_2c_3x3/self_gating/transformer_W/weights"][0, 0, 0].T).double())


def test_flow_stream_gets_rgb_mean_conv1(tv_state):
    m = S3DG(in_channels=2)
    report = import_backbone(m, Checkpoint("torchvision_s3d", tv_state), stream="flow")
    assert report.missing == []
    w = tv_state["features.0.0.0.weight"].mean(1, keepdim=True)
    assert torch.equal(m.Conv2d_1a_7x7.conv.weight, torch.cat([w, w], 1))
    assert torch.equal(m.Mixed_3b.b0.conv.weight, tv_state["features.5.branch0.0.weight"])


def test_shape_mismatch_is_refused_with_key_and_shapes(tv_state):
    with pytest.raises(InputError, match=r"features\.0\.0\.0\.weight -> Conv2d_1a_7x7\.conv\.weight: checkpoint "
                                         r"shape \(64, 3, 1, 7, 7\) does not fit the model's \(32, 3, 1, 7, 7\)"):
        import_backbone(S3DG(width=0.5), Checkpoint("torchvision_s3d", tv_state))


def test_2d_kernel_into_3d_conv_is_centre_tap(tv_state):
    m = S3DG(first_temporal_kernel=3)
    report = import_backbone(m, Checkpoint("torchvision_s3d", tv_state))
    assert report.adapted == {"Conv2d_1a_7x7.conv.weight": "centre tap of 3"}
    w = m.Conv2d_1a_7x7.conv.weight
    assert torch.equal(w[:, :, 1], tv_state["features.0.0.0.weight"][:, :, 0]) and torch.all(w[:, :, [0, 2]] == 0)


def test_read_checkpoint_safety_and_errors(tmp_path, tv_state):
    with pytest.raises(InputError, match="not found"):
        read_checkpoint(tmp_path / "nope.pth")
    torch.save({"model": {"module." + k: v for k, v in tv_state.items()}}, tmp_path / "tv.pth")
    ckpt = read_checkpoint(tmp_path / "tv.pth")
    assert ckpt.format == "torchvision_s3d" and "features.0.0.0.weight" in ckpt.state
    torch.save({"a": torch.zeros(1), "cfg": {"x": 1}}, tmp_path / "mixed.pth")
    with pytest.raises(InputError, match="state dict of tensors"):
        read_checkpoint(tmp_path / "mixed.pth")
    torch.save({"weird.key": torch.zeros(1)}, tmp_path / "unknown.pth")
    with pytest.raises(InputError, match="unknown checkpoint layout"):
        read_checkpoint(tmp_path / "unknown.pth")
    torch.save({"w": torch.zeros(1), "obj": Checkpoint("x", {})}, tmp_path / "pickle.pth")  # arbitrary object
    with pytest.raises(InputError, match=r"pickle\.pth: cannot read checkpoint"):
        read_checkpoint(tmp_path / "pickle.pth")


def test_build_backbone_and_mixed5_from_pretrained_file(tmp_path, tv_state):
    torch.save(tv_state, tmp_path / "s3d.pth")
    cfg = ModelConfig(modality="two_stream", pretrained=str(tmp_path / "s3d.pth"))
    m = build_backbone(cfg)
    assert torch.equal(m.rgb.Conv2d_1a_7x7.conv.weight, tv_state["features.0.0.0.weight"])
    assert m.flow.Conv2d_1a_7x7.conv.weight.shape[1] == 2
    assert isinstance(m.rgb.Mixed_4f.b0.bn, FrozenBatchNorm)
    assert torch.equal(m.flow.Mixed_4f.b0.bn.running_var, tv_state["features.12.branch0.1.running_var"])
    head = build_mixed5(cfg)
    assert torch.equal(head.Mixed_5b.b1b.conv_t.weight, tv_state["features.14.branch1.1.1.0.weight"])
    assert torch.equal(head.Mixed_5c.b3.bn.running_mean, tv_state["features.15.branch3.1.1.running_mean"])


def test_acrn_format_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(modality="two_stream", width=0.25, freeze_bn=False)
    a = build_backbone(cfg)
    torch.save({"model": {"backbone." + k: v for k, v in a.state_dict().items()}}, tmp_path / "run.pt")
    b = build_backbone(ModelConfig(modality="two_stream", width=0.25, pretrained=str(tmp_path / "run.pt")))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sb)  # b's BN is frozen: no num_batches_tracked


class _Keys(torch.nn.Module):
    """A module holding exactly the given (key, shape) tensors as buffers (stand-in for a ResNet)."""

    def __init__(self, rows):
        super().__init__()
        for key, shape in rows:
            mod = self
            *path, leaf = key.split(".")
            for p in path:
                if not hasattr(mod, p):
                    mod.add_module(p, torch.nn.Module())
                mod = getattr(mod, p)
            mod.register_buffer(leaf, torch.zeros(shape, dtype=torch.long if not shape else torch.float32))


def test_resnet50_torchvision_and_faster_rcnn_body_key_lists():
    rows = [r for r in read_keys("torchvision_resnet50") if not r[0].startswith("fc.")]
    tv = random_state("torchvision_resnet50")
    target = _Keys(rows)
    report = import_torchvision_resnet50(target, tv)
    assert report.missing == [] and sorted(report.unused) == ["fc.bias", "fc.weight"] and len(report.loaded) == 318
    assert all(torch.equal(target.state_dict()[k], tv[k].to(target.state_dict()[k].dtype)) for k, _ in rows)
    frcnn = random_state("torchvision_fasterrcnn_resnet50_fpn", seed=1)
    target = _Keys(rows)
    report = import_torchvision_resnet50(target, frcnn)
    assert report.missing == []  # FrozenBatchNorm2d bodies carry no num_batches_tracked: not reported
    assert all(k.startswith(("backbone.fpn.", "rpn.", "roi_heads.")) for k in report.unused)
    bn2 = target.layer3.get_submodule("5").bn2
    assert torch.equal(bn2.running_var, frcnn["backbone.body.layer3.5.bn2.running_var"])


def test_resnet50_into_detector_resnet():
    resnet = pytest.importorskip("acrn.models.resnet")
    tv = random_state("torchvision_resnet50")
    m = resnet.ResNet(50, 1.0, num_stages=4)
    report = import_torchvision_resnet50(m, tv)
    assert report.missing == [] and sorted(report.unused) == ["fc.bias", "fc.weight"]
    own = m.state_dict()
    assert all(torch.equal(own[k], tv[k]) for k in own)
    with pytest.raises(InputError, match=r"conv1\.weight -> conv1\.weight: checkpoint shape \(64, 3, 7, 7\)"):
        import_torchvision_resnet50(resnet.ResNet(50, 0.5, num_stages=4), tv)


def test_acrn_format_picks_the_group_that_fits(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(width=0.25, freeze_bn=False)
    trunk, head = build_backbone(cfg), build_mixed5(cfg)
    state = {"backbone." + k: v for k, v in trunk.state_dict().items()}
    state |= {"actor_head." + k: v for k, v in head.state_dict().items()}
    torch.save({"model": state, "step": torch.tensor(3)}, tmp_path / "detector.pt")
    loaded = build_mixed5(ModelConfig(width=0.25, freeze_bn=False, pretrained=str(tmp_path / "detector.pt")))
    assert loaded.import_reports["rgb"].missing == []
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in loaded.state_dict().items())
    flow = build_backbone(ModelConfig(width=0.25, modality="flow", pretrained=str(tmp_path / "detector.pt")))
    w = trunk.rgb.Conv2d_1a_7x7.conv.weight.mean(1, keepdim=True)
    assert torch.equal(flow.flow.Conv2d_1a_7x7.conv.weight, torch.cat([w, w], 1))
    assert flow.import_reports["flow"].missing == []


def test_wrong_format_loads_nothing_and_says_so(tv_state):
    with pytest.raises(InputError, match="no tensor of this kylemin_s3d checkpoint matches"):
        import_backbone(S3DG(width=0.25), Checkpoint("kylemin_s3d", tv_state))


def test_frozen_bn_keeps_dtype():
    from acrn.models.backbone import freeze_bn

    m = freeze_bn(S3DG(width=0.25, final_endpoint="Conv2d_2b_1x1").double())
    assert m.Conv2d_2b_1x1.bn.running_var.dtype == torch.float64
    assert m(torch.randn(1, 3, 2, 16, 16, dtype=torch.float64))["Conv2d_2b_1x1"].dtype == torch.float64
