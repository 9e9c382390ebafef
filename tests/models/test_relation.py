"""Relation heads (sections 3.2, 4.2): every head x feature layer x scale, g_theta broadcast == tiled
concatenation, the section 4.2 normalisation, the gradient multiplier, and the relation-map resolution rule."""

from __future__ import annotations

import pytest
import torch
from detector_fixtures import tiny_config

from acrn.config import RELATION_LAYERS
from acrn.models.action_head import crop_actors
from acrn.models.backbone import TemporalFlatten, build_backbone, endpoint_shape
from acrn.models.build import build_head, build_scene_maps
from acrn.models.relation import PairwiseRelation, SceneMaps, grad_mult, locations

T, S = 8, 64
ROIS = torch.tensor([[0, 4.0, 6.0, 30.0, 50.0], [0, 30.0, 10.0, 60.0, 60.0], [1, 10.0, 10.0, 40.0, 44.0]])
LAYER_SETS = [[name] for name in RELATION_LAYERS] + [["Conv2d_2c_3x3", "Mixed_3c", "Mixed_4f"]]


@pytest.fixture(scope="module")
def endpoints() -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    torch.manual_seed(0)
    cfg = tiny_config()
    backbone = build_backbone(cfg.model).eval()
    with torch.no_grad():
        eps = backbone(torch.randn(2, 3, T, S, S))
    return eps, dict(backbone.channels)


def _expected_size(layers: list[str], scale: float) -> tuple[int, int]:
    sizes = []
    for name in layers:
        _, h, w = endpoint_shape(name, T, S, S)
        sizes.append((max(1, round(h * scale)), max(1, round(w * scale))))
    return max(sizes, key=lambda s: s[0] * s[1])


@pytest.mark.parametrize("scale", [0.5, 1.0])
@pytest.mark.parametrize("layers", LAYER_SETS, ids=["+".join(s) for s in LAYER_SETS])
@pytest.mark.parametrize("head_name", ["resize_concat", "santoro", "acrn"])
def test_every_head_layer_scale_runs_forward_and_backward(endpoints, head_name: str, layers: list[str],
                                                          scale: float) -> None:
    eps, channels = endpoints
    m = tiny_config(f"model.head={head_name}", f"model.relation_layers=[{', '.join(layers)}]",
                    f"model.relation_scales=[{scale}]").model
    eps = {k: v.clone().requires_grad_() for k, v in eps.items()}
    fmap = TemporalFlatten(channels["Mixed_4f"], endpoint_shape("Mixed_4f", T, S, S)[0])(eps["Mixed_4f"])
    head, scene_maps = build_head(m, channels), build_scene_maps(m, channels, T)
    scene = scene_maps(eps, fmap)
    assert [tuple(x.shape) for x in scene] == [(2, channels[n], *_expected_size(layers, scale)) for n in layers]
    out = head(crop_actors(fmap, ROIS, 7, 1 / 16, 2), ROIS[:, 1:] / S, ROIS[:, 0].long(), scene)
    c5c, c4f = head.actor_head.mixed5.out_channels, channels["Mixed_4f"]
    assert (c4f, c5c) == (208, 256)  # 832 and 1024 at width 0.25
    assert out["f_a"].shape == (3, c5c)
    if head_name == "resize_concat":
        assert out["features"].shape == (3, c5c)
    else:
        assert out["f_rn"].shape == (3, c5c) and out["features"].shape == (3, 2 * c5c)
        torch.testing.assert_close(out["features"], torch.cat([out["f_a"], out["f_rn"]], 1))
    if head_name == "acrn":
        assert out["relation_map"].shape == (3, c5c, 1, *_expected_size(layers, scale))
    out["features"].square().sum().backward()
    for name in layers:  # the relation path reaches every endpoint it reads
        assert eps[name].grad is not None and eps[name].grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


def _random_parts(seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    f_a = torch.rand(5, 12, generator=g) * 3
    boxes = torch.rand(5, 4, generator=g)
    bidx = torch.tensor([0, 0, 1, 1, 1])
    scene = [torch.randn(2, 6, 4, 5, generator=g), torch.randn(2, 3, 4, 5, generator=g) * 10]
    return f_a, boxes, bidx, scene


@pytest.mark.parametrize("coord_scale", [1.0, 30.0])
def test_broadcast_g_theta_equals_tiled_concatenation(coord_scale) -> None:
    torch.manual_seed(0)
    rel = PairwiseRelation(12, [6, 3], 7, coord_scale)
    f_a, boxes, bidx, scene = _random_parts()
    f_a.requires_grad_()
    fast, slow = rel(f_a, boxes, bidx, scene), rel.forward_tiled(f_a, boxes, bidx, scene)
    assert fast.shape == (5, 7, 4, 5) and (fast > 0).any() and (fast == 0).any()
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    g_fast = torch.autograd.grad(fast.sum(), [f_a, rel.g_theta.weight])
    g_slow = torch.autograd.grad(slow.sum(), [f_a, rel.g_theta.weight])
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_normalisation_rescales_concatenation_to_norm_of_f_a() -> None:
    """Section 4.2: L2-normalise actor and scene parts, concatenate, rescale to ||f_a||."""
    rel = PairwiseRelation(12, [6, 3], 7)
    f_a, _, bidx, scene = _random_parts()
    a_hat, scene_hat, s = rel.inputs(f_a, scene)
    for m in scene_hat:
        torch.testing.assert_close(m.norm(dim=1), torch.ones(2, 4, 5))
    appearance = torch.cat([a_hat[:, :, None, None].expand(-1, -1, 4, 5)]
                           + [m[bidx] * s[:, None, None, None] for m in scene_hat], 1)
    torch.testing.assert_close(appearance.norm(dim=1), f_a.norm(dim=1)[:, None, None].expand(5, 4, 5))


def test_locations_are_row_over_height_and_column_over_width() -> None:
    loc = locations(2, 4, torch.zeros(1))
    assert loc.shape == (2, 2, 4)
    torch.testing.assert_close(loc[:, 1, 3], torch.tensor([1 / 2, 3 / 4]))
    torch.testing.assert_close(loc[:, 0, 0], torch.tensor([0.0, 0.0]))


def test_grad_mult_is_identity_forward_and_scales_backward() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(3, 4)
    y = grad_mult(x, 0.01)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.equal(x.grad, w * 0.01)


def test_scene_maps_resolution_rule_and_gradient_multiplier() -> None:
    """Each layer at scale x its own size, all resized to the largest; gradients into the maps scaled by m."""
    g = torch.Generator().manual_seed(0)
    eps = {"Conv2d_2c_3x3": torch.randn(2, 6, 4, 16, 16, generator=g), "Mixed_4f": torch.randn(2, 5, 2, 4, 4)}
    fmap = eps["Mixed_4f"].mean(2)
    grads = {}
    for m in (1.0, 0.01):
        torch.manual_seed(0)
        maps = SceneMaps(["Conv2d_2c_3x3", "Mixed_4f"], [0.5, 1.0], {"Conv2d_2c_3x3": TemporalFlatten(6, 4)},
                         [6, 5], grad_mult=m)
        e = {k: v.clone().requires_grad_() for k, v in eps.items()}
        f = fmap.clone().requires_grad_()
        out = maps(e, f)
        assert [tuple(x.shape) for x in out] == [(2, 6, 8, 8), (2, 5, 8, 8)]
        # Conv2d_2c at 0.5: 2x2 average of the time-averaged map (TemporalFlatten starts as a mean)
        torch.testing.assert_close(out[0], torch.nn.functional.avg_pool2d(eps["Conv2d_2c_3x3"].mean(2), 2))
        (out[0].sin().sum() + out[1].cos().sum()).backward()
        grads[m] = (e["Conv2d_2c_3x3"].grad, f.grad)
    for a, b in zip(grads[0.01], grads[1.0]):
        torch.testing.assert_close(a, 0.01 * b, rtol=1e-6, atol=0)


def test_coord_scale_multiplies_only_the_box_and_location_inputs() -> None:
    """g_theta with coordinates x k equals g_theta at 1x whose box and location weight columns are x k."""
    torch.manual_seed(1)
    f_a, boxes, bidx, scene = _random_parts()
    scaled, plain = PairwiseRelation(12, [6, 3], 7, 30.0), PairwiseRelation(12, [6, 3], 7)
    plain.load_state_dict(scaled.state_dict())
    with torch.no_grad():
        w = plain.g_theta.weight
        w[:, 12:16] *= 30.0  # b_i
        w[:, -2:] *= 30.0  # l(j, k)
    torch.testing.assert_close(scaled(f_a, boxes, bidx, scene), plain(f_a, boxes, bidx, scene), atol=1e-5,
                               rtol=1e-5)
