"""Relation heads (paper sections 3.2 and 4.2): ACRN, Santoro et al.'s relation network, Resize+Concat.

Every head has the interface of :class:`acrn.models.action_head.ActorHead`:
``forward(crops: Tensor[R, C4f, s, s], boxes: Tensor[R, 4], batch_idx: Tensor[R], scene: list[Tensor[B, C_l, h, w]])
-> dict`` with ``features`` (input of the classifier), ``f_a`` and, for the relation heads, ``f_rn``.
``boxes`` are the actor boxes normalised by the input size (b_i of equation 2), ``batch_idx`` the clip
of each actor and ``scene`` the relation feature maps prepared by :class:`SceneMaps`.

Normalisation (section 4.2): "L2-normalize the actor appearance feature f_a and scene context feature,
concatenate the features together, scale the L2-norm of the concatenated feature back to the L2-norm
of f_a". With L scene layers every appearance part is normalised to unit length per location and
scaled by ``||f_a|| / sqrt(1 + L)``, so the appearance part of the concatenation has norm ``||f_a||``.
The box b_i and location l(j, k) are appended un-normalised (they are already in [0, 1]).

Gradient multiplier (section 4.1, "a gradient multiplier of 0.01 to gradients from RN to the feature
map"): applied to every tensor that enters a relation head from the rest of the network (the scene
maps, and f_a for ACRN/Santoro), so all gradient the relation path sends back is scaled by ``m``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acrn.models.action_head import ActorHead, inflate

_EPS = 1e-6


class _GradMult(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, m: float) -> Tensor:  # noqa: D401
        ctx.m = m
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.m, None


def grad_mult(x: Tensor, m: float) -> Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``m`` in the backward pass.

    Skipped when no gradient can flow (inference, tracing for export), where it would only add a node."""
    if m == 1.0 or not (torch.is_grad_enabled() and x.requires_grad):
        return x
    return _GradMult.apply(x, m)


def l2_normalise(x: Tensor, dim: int = 1) -> Tensor:
    """``x / ||x||`` along ``dim`` (zero vectors stay zero)."""
    return x / x.norm(dim=dim, keepdim=True).clamp_min(_EPS)


def locations(h: int, w: int, like: Tensor) -> Tensor:
    """l(j, k) = (j / H, k / W) of equation 2: ``Tensor[2, h, w]`` (row index first, as in the paper)."""
    j = torch.arange(h, dtype=like.dtype, device=like.device) / h
    k = torch.arange(w, dtype=like.dtype, device=like.device) / w
    return torch.stack([j[:, None].expand(h, w), k[None, :].expand(h, w)])


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of ``Tensor[N, C, h, w]`` (no-op when already ``size``)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SceneMaps(nn.Module):
    """The relation feature maps of Table 1c: one or several endpoints, each at scale 0.5 or 1.0.

    Resolution rule: a layer's map is flattened in time (``Mixed_4f`` reuses the detector's F; other
    endpoints have their own t x 1 x 1 :class:`TemporalFlatten`), then resized to ``scale`` times *its
    own* spatial size (at 224 px input: Conv2d_2c_3x3 1.0 -> 56 x 56, 0.5 -> 28 x 28; Mixed_4f 1.0 ->
    14 x 14, 0.5 -> 7 x 7). Combined layers are then all resized to the largest of those sizes, so they
    can be concatenated channel-wise before g_theta.

    ``forward(endpoints: dict[str, Tensor[B, C, t, h, w]], fmap: Tensor[B, C4f, h, w]) -> list[Tensor[B, C_l, H, W]]``.
    """

    def __init__(self, layers: list[str], scales: list[float], flattens: dict[str, nn.Module],
                 channels: list[int], grad_mult: float = 0.01) -> None:
        super().__init__()
        if len(scales) == 1:
            scales = scales * len(layers)
        if len(scales) != len(layers):
            raise ValueError(f"{len(scales)} relation scales for {len(layers)} layers")
        self.layers = list(layers)
        self.scales = [float(s) for s in scales]
        self.flattens = nn.ModuleDict(flattens)
        self.channels = list(channels)
        self.grad_mult = grad_mult

    def forward(self, endpoints: dict[str, Tensor], fmap: Tensor) -> list[Tensor]:
        maps = []
        for name, scale in zip(self.layers, self.scales):
            if name == "Mixed_4f":
                x = grad_mult(fmap, self.grad_mult)
            else:
                x = self.flattens[name](grad_mult(endpoints[name], self.grad_mult))
            h, w = x.shape[-2:]
            maps.append(resize(x, (max(1, round(h * scale)), max(1, round(w * scale)))))
        size = max((m.shape[-2:] for m in maps), key=lambda s: (s[0] * s[1], s[0]))
        return [resize(m, tuple(size)) for m in maps]


class PairwiseRelation(nn.Module):
    """g_theta of equation 2 as one 1x1 convolution over [a_i; o_jk] for every actor i and cell (j, k).

    Input channels, in this order: f_a (``Ca``), b_i (4), each scene layer (``C_l``), l(j, k) (2).
    ``forward`` computes the scene part once per clip and adds the actor part by broadcasting, which is
    the same linear map as tiling a_i over the h x w cells and concatenating (tests prove it):
    ``g = ReLU(W_a a_i + b + s_i * sum_l W_l F_l_hat(j, k) + W_loc l(j, k))``.

    ``forward(f_a: Tensor[R, Ca], boxes: Tensor[R, 4], batch_idx: Tensor[R], scene) -> Tensor[R, Cout, h, w]``.
    """

    def __init__(self, actor_channels: int, scene_channels: list[int], out_channels: int,
                 coord_scale: float = 1.0) -> None:
        super().__init__()
        self.coord_scale = float(coord_scale)  # on b_i and l(j, k) (1: the paper's raw [0, 1] coordinates)
        self.actor_channels = actor_channels
        self.scene_channels = list(scene_channels)
        self.g_theta = nn.Conv2d(actor_channels + 4 + sum(scene_channels) + 2, out_channels, 1)
        self.out_channels = out_channels

    def inputs(self, f_a: Tensor, scene: list[Tensor]) -> tuple[Tensor, list[Tensor], Tensor]:
        """Normalised parts (section 4.2): ``(a_hat Tensor[R, Ca], [F_l_hat Tensor[B, C_l, h, w]], s Tensor[R])``;
        the scene parts are unit-length per cell and still to be multiplied by the per-actor ``s``."""
        n = 1 + len(scene)
        a_norm = f_a.norm(dim=1).clamp_min(_EPS)
        s = a_norm / math.sqrt(n)
        return f_a / math.sqrt(n), [l2_normalise(m) for m in scene], s

    def forward(self, f_a: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> Tensor:
        a_hat, scene_hat, s = self.inputs(f_a, scene)
        w = self.g_theta.weight.flatten(1)  # [Cout, Cin]
        ca = self.actor_channels
        boxes = boxes * self.coord_scale
        actor = F.linear(torch.cat([a_hat, boxes], 1), w[:, :ca + 4], self.g_theta.bias)  # [R, Cout]
        scene_term, start = 0.0, ca + 4
        for m, c in zip(scene_hat, self.scene_channels):
            scene_term = scene_term + F.conv2d(m, w[:, start:start + c, None, None])  # [B, Cout, h, w], once per clip
            start += c
        h, wd = scene_hat[0].shape[-2:]
        loc = F.conv2d(locations(h, wd, f_a)[None] * self.coord_scale, w[:, start:, None, None])  # [1, Cout, h, w]
        g = s[:, None, None, None] * scene_term[batch_idx] + actor[:, :, None, None] + loc
        return F.relu(g)

    def forward_tiled(self, f_a: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> Tensor:
        """Reference implementation of Figure 3(b): tile a_i over the map, concatenate, 1x1 conv."""
        a_hat, scene_hat, s = self.inputs(f_a, scene)
        h, w = scene_hat[0].shape[-2:]
        r = f_a.shape[0]
        parts = [torch.cat([a_hat, boxes * self.coord_scale], 1)[:, :, None, None].expand(-1, -1, h, w)]
        parts += [m[batch_idx] * s[:, None, None, None] for m in scene_hat]
        parts.append(locations(h, w, f_a)[None].expand(r, -1, -1, -1) * self.coord_scale)
        return F.relu(self.g_theta(torch.cat(parts, 1)))


class ACRNHead(nn.Module):
    """Actor-centric relation network (section 3.2, Figure 3b).

    f_a from the Base-Model head; relation map g_theta (``Tensor[R, C4f, h, w]``, C4f = 832 x width);
    f_phi = the head's *own* Mixed_5b, Mixed_5c (separate weights) on the inflated relation map, then
    average pooling -> f_RN; ``features`` = [f_a; f_RN] (2048-d at width 1). ``relation_map`` is f_phi's
    output before pooling, ``Tensor[R, C5c, t, h, w]`` (used for the heatmaps of section 4.4).
    """

    def __init__(self, actor_head: ActorHead, g_theta: PairwiseRelation, mixed5: nn.Module,
                 grad_mult: float = 0.01, pool: str = "mean") -> None:
        super().__init__()
        if pool not in ("mean", "max"):
            raise ValueError(f"pool {pool!r}: expected 'mean' or 'max'")
        self.actor_head = actor_head
        self.g_theta = g_theta
        self.mixed5 = mixed5
        self.grad_mult = grad_mult
        self.pool = pool
        self.inflate_t = actor_head.inflate_t
        self.relation_channels = mixed5.out_channels
        self.out_channels = actor_head.out_channels + mixed5.out_channels

    def forward(self, crops: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> dict:
        f_a = self.actor_head.actor_features(crops)
        if crops.shape[0] == 0:
            f_rn = f_a.new_zeros(0, self.relation_channels)
            return {"features": torch.cat([f_a, f_rn], 1), "f_a": f_a, "f_rn": f_rn,
                    "relation_map": f_a.new_zeros(0, self.relation_channels, 1, *scene[0].shape[-2:])}
        g = self.g_theta(grad_mult(f_a, self.grad_mult), boxes, batch_idx, scene)
        rmap = self.mixed5(inflate(g, self.inflate_t))  # [R, C5c, t, h, w]
        f_rn = rmap.mean(dim=(2, 3, 4)) if self.pool == "mean" else rmap.amax(dim=(2, 3, 4))
        return {"features": torch.cat([f_a, f_rn], 1), "f_a": f_a, "f_rn": f_rn, "relation_map": rmap}


class SantoroHead(nn.Module):
    """Relation network of Santoro et al. [44] (section 4.2, Figure 3a): the same g_theta inputs as ACRN,
    g averaged over all cells, f_phi one fully connected layer (+ ReLU) -> f_RN; ``features`` = [f_a; f_RN]."""

    def __init__(self, actor_head: ActorHead, g_theta: PairwiseRelation, out_channels: int,
                 grad_mult: float = 0.01) -> None:
        super().__init__()
        self.actor_head = actor_head
        self.g_theta = g_theta
        self.f_phi = nn.Linear(g_theta.out_channels, out_channels)
        self.grad_mult = grad_mult
        self.relation_channels = out_channels
        self.out_channels = actor_head.out_channels + out_channels

    def forward(self, crops: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> dict:
        f_a = self.actor_head.actor_features(crops)
        if crops.shape[0] == 0:
            f_rn = f_a.new_zeros(0, self.relation_channels)
        else:
            g = self.g_theta(grad_mult(f_a, self.grad_mult), boxes, batch_idx, scene)
            f_rn = F.relu(self.f_phi(g.mean(dim=(2, 3))))
        return {"features": torch.cat([f_a, f_rn], 1), "f_a": f_a, "f_rn": f_rn}


class ResizeConcatHead(nn.Module):
    """Resize+Concat [1, 29, 46] (section 4.2): the global maps resized to the actor crop size (7 x 7),
    normalised and concatenated channel-wise with the crop, a 1x1 conv (+ ReLU) back to C4f channels, then
    the classification head's Mixed_5b/5c and average pooling. ``features`` = ``f_a`` = that pooled vector."""

    def __init__(self, actor_head: ActorHead, crop_channels: int, scene_channels: list[int]) -> None:
        super().__init__()
        self.actor_head = actor_head
        self.fuse = nn.Conv2d(crop_channels + sum(scene_channels), crop_channels, 1)
        self.relation_channels = 0
        self.out_channels = actor_head.out_channels

    def forward(self, crops: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> dict:
        n = 1 + len(scene)
        size = tuple(crops.shape[-2:])
        scale = crops.norm(dim=1, keepdim=True) / math.sqrt(n)  # per cell: back to the crop's norm
        parts = [crops / math.sqrt(n)] + [l2_normalise(resize(m, size))[batch_idx] * scale for m in scene]
        f_a = self.actor_head.actor_features(F.relu(self.fuse(torch.cat(parts, 1))))
        return {"features": f_a, "f_a": f_a}
