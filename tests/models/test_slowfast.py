"""SlowFast backbone: pathway shapes, lateral fusion, and use under every acrn head (reduced widths)."""

from __future__ import annotations

import pytest
import torch

from acrn.config import load_config
from acrn.models import build_model
from acrn.models.slowfast import SlowFast
from acrn.structures import Batch


def test_pathway_shapes_and_stride():
    net = SlowFast(depth=50, tau=4, alpha=4, beta=2, base_channels=4).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 16, 64, 64))
    assert out["slow"].shape == (1, 128, 4, 4, 4) and out["fast"].shape == (1, 64, 16, 4, 4)
    assert out["Mixed_4f"].shape == (1, 192, 1, 4, 4) and net.strides["Mixed_4f"] == (1, 16, 16)
    torch.testing.assert_close(out["Mixed_4f"][:, :128, 0], out["slow"].mean(2))


def test_bad_ratios_are_refused():
    with pytest.raises(ValueError, match="multiple of alpha"):
        SlowFast(tau=4, alpha=3)


@pytest.mark.parametrize("head", ["none", "resize_concat", "santoro", "acrn", "acrn_tiled"])
def test_slowfast_under_every_head(head):
    cfg = load_config(None, ["model.backbone=slowfast", f"model.head={head}", "model.num_classes=5",
                             "model.actors=gt", "model.slowfast.base_channels=4", "model.slowfast.beta=2",
                             "data.num_frames=8", "model.tiled_channels=8"])
    model, criterion, _ = build_model(cfg)
    batch = Batch(clips=torch.randn(1, 3, 8, 64, 64), image_sizes=torch.tensor([[64, 64]]),
                  boxes=[torch.tensor([[4.0, 4.0, 40.0, 60.0]])], labels=[torch.tensor([[1.0, 0, 0, 0, 0]])],
                  metas=[{}])
    out = model(batch)
    assert out["logits"].shape[1] == 5
    sum(v for v in criterion(out, batch).values() if v.requires_grad).backward()
    model.eval()
    with torch.no_grad():
        out = model(batch)
    if head in ("acrn", "acrn_tiled"):
        assert out["heatmaps"].shape[:2] == (1, 5)


def _small_tiled_acrn():
    """A reduced-width SlowFast + tiled ACRN detector (eval mode, random BN statistics) and a 2-clip batch."""
    from acrn.models.backbone import FrozenBatchNorm

    cfg = load_config(None, ["model.backbone=slowfast", "model.head=acrn_tiled", "model.num_classes=5",
                             "model.actors=gt", "model.slowfast.base_channels=4", "model.slowfast.beta=2",
                             "data.num_frames=8", "model.tiled_channels=8", "model.freeze_bn=true"])
    model, _, post = build_model(cfg)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, (FrozenBatchNorm, torch.nn.BatchNorm3d)):
            n = m.num_features
            m.weight.data, m.bias.data = 0.5 + torch.rand(n, generator=g), 0.2 * torch.randn(n, generator=g)
            m.running_mean.data = 0.2 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)
    boxes = [torch.tensor([[4.0, 4.0, 40.0, 60.0], [20.0, 8.0, 60.0, 50.0]]), torch.tensor([[0.0, 0.0, 30.0, 30.0]])]
    batch = Batch(clips=torch.randn(2, 3, 8, 64, 64), image_sizes=torch.tensor([[64, 64]] * 2), boxes=boxes,
                  labels=[torch.zeros(2, 5), torch.zeros(1, 5)], metas=[{}, {}])
    return model.eval(), post, batch


def test_inference_path_equals_the_plain_model():
    """optimize_for_inference (BN folded into the convs, channels_last_3d, 1xkxk convs as 2-D convs over frames)
    and the factorized ACRN fusion conv give the plain eager model's outputs (two clips, actors in both)."""
    from acrn.engine.infer import _run, optimize_for_inference
    from acrn.models.backbone import FrozenBatchNorm

    model, post, batch = _small_tiled_acrn()
    model.head.factorized = False
    with torch.inference_mode():
        want = model(batch)
        model.head.factorized = True
        fast = optimize_for_inference(model, channels_last=True)
        assert not any(isinstance(m, FrozenBatchNorm) for m in fast.backbone.modules())
        got = fast(batch)
        _run(fast, post, batch, amp=False)  # the predict loop's path (channels_last input) runs too
    for k in ("logits", "heatmaps"):
        torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-4 * float(want[k].abs().max()))


def test_cpu_bf16_inference_returns_float32_close_to_float32():
    from acrn.engine.infer import optimize_for_inference

    model, _, batch = _small_tiled_acrn()
    with torch.inference_mode():
        want = model(batch)["logits"]
        got = optimize_for_inference(model, channels_last=True, cpu_bf16=True)(batch)["logits"]
    assert got.dtype == torch.float32
    assert float((got - want).abs().max() / want.abs().max()) < 5e-2
