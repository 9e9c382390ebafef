"""Inception-v1 building blocks shared by S3D-G, I3D and the single-frame baseline.

Endpoint names, channel widths and strides follow TF-slim ``research/slim/nets/s3dg.py`` (spec
``specs/s3dg.md`` sections 1.2, 1.3). Tensors are ``N, C, T, H, W``. Padding is symmetric (``k // 2``),
which gives TF-"SAME" output sizes everywhere (MaxPool_5a uses ``ceil_mode``; spec 1.4).

Parameter names follow spec section 2.0 so that the importers in :mod:`acrn.models.weights` can map
public checkpoints onto them: ``<endpoint>.conv / .bn [/ .conv_t / .bn_t] [/ .gate.fc]`` for single units
and ``<Mixed>.b0 / b1a / b1b / b2a / b2b / b3 [/ g0..g3]`` for Inception blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

# Every endpoint in network order (TF-slim names, including the max-pools).
ENDPOINTS: tuple[str, ...] = (
    "Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
    "MaxPool_5a_2x2", "Mixed_5b", "Mixed_5c",
)

# Inception branch widths at width 1.0: b0 / b1a -> b1b / b2a -> b2b / b3 (spec 1.2).
MIXED_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# Cumulative (temporal, spatial) output stride of every endpoint (spec 1.2).
STRIDES: dict[str, tuple[int, int]] = {
    "Conv2d_1a_7x7": (2, 2), "MaxPool_2a_3x3": (2, 4), "Conv2d_2b_1x1": (2, 4), "Conv2d_2c_3x3": (2, 4),
    "MaxPool_3a_3x3": (2, 8), "Mixed_3b": (2, 8), "Mixed_3c": (2, 8),
    "MaxPool_4a_3x3": (4, 16), "Mixed_4b": (4, 16), "Mixed_4c": (4, 16), "Mixed_4d": (4, 16),
    "Mixed_4e": (4, 16), "Mixed_4f": (4, 16),
    "MaxPool_5a_2x2": (8, 32), "Mixed_5b": (8, 32), "Mixed_5c": (8, 32),
}

# Layers that halve (temporal, spatial) size; every one of them rounds up (ceil), see spec 1.4.
_HALVES: dict[str, tuple[bool, bool]] = {
    "Conv2d_1a_7x7": (True, True), "MaxPool_2a_3x3": (False, True), "MaxPool_3a_3x3": (False, True),
    "MaxPool_4a_3x3": (True, True), "MaxPool_5a_2x2": (True, True),
}


def scaled(c: int, width: float, min_depth: int) -> int:
    """TF-slim depth rule: ``max(int(c * width), min_depth)``."""
    return max(int(c * width), min_depth)


def mixed_widths(name: str, width: float, min_depth: int) -> tuple[int, ...]:
    """Branch widths of Inception block ``name`` after the width multiplier."""
    return tuple(scaled(c, width, min_depth) for c in MIXED_WIDTHS[name])


def endpoint_channels(width: float = 1.0, min_depth: int = 16) -> dict[str, int]:
    """Output channels of every endpoint (Mixed_4f = 832, Mixed_5c = 1024 at width 1.0)."""
    out: dict[str, int] = {}
    c = 0
    for name in ENDPOINTS:
        if name in MIXED_WIDTHS:
            w = mixed_widths(name, width, min_depth)
            c = w[0] + w[2] + w[4] + w[5]
        elif name == "Conv2d_1a_7x7" or name == "Conv2d_2b_1x1":
            c = scaled(64, width, min_depth)
        elif name == "Conv2d_2c_3x3":
            c = scaled(192, width, min_depth)
        out[name] = c
    return out


def endpoint_shape(name: str, T: int, H: int, W: int) -> tuple[int, int, int]:
    """``(t, h, w)`` of endpoint ``name`` for a ``T x H x W`` input (every stride-2 layer rounds up).

    Same for S3D-G, I3D and the single-frame variant, and for every width. E.g. 20x224x224 gives
    Mixed_4f = (5, 14, 14) and Mixed_5c = (3, 7, 7); 8x112x112 gives Mixed_4f = (2, 7, 7).
    """
    if name not in STRIDES:
        raise ValueError(f"unknown endpoint {name!r}; known: {', '.join(ENDPOINTS)}")
    t, h, w = T, H, W
    for ep in ENDPOINTS:
        halve_t, halve_s = _HALVES.get(ep, (False, False))
        t = -(-t // 2) if halve_t else t
        h, w = (-(-h // 2), -(-w // 2)) if halve_s else (h, w)
        if ep == name:
            return t, h, w
    raise AssertionError("unreachable")


class SelfGating(nn.Module):
    """Feature gating of S3D-G (spec 1.6): ``Y = X * sigmoid(W mean_thw(X) + b)``.

    ``Tensor[N, C, T, H, W] -> Tensor[N, C, T, H, W]``; ``fc`` is a ``C x C`` Linear with bias
    (HowTo100M / MMV / TF2 layout; TF-slim checkpoints load with ``b = 0``).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels)
        nn.init.normal_(self.fc.weight, std=0.01)  # TF-slim: truncated normal(0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        g = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * g[:, :, None, None, None]


class STConv(nn.Module):
    """Conv -> BN -> ReLU, optionally followed by a temporal conv -> BN -> ReLU and a self-gate.

    ``kernel``/``stride``/``padding`` are ``(t, h, w)`` of the main conv ``conv``. With ``temporal`` = kt
    > 0 a second conv ``conv_t`` of size ``kt x 1 x 1`` follows (the separable "S3D" conv, spec 1.3:
    ``conv`` is then ``1 x k x k`` with stride ``(1, s, s)`` and ``conv_t`` has stride ``(st, 1, 1)``);
    ``conv_t`` starts as an identity (TF-slim "center initializer"), so a 2D-pretrained spatial conv keeps
    its function. ``gate`` adds :class:`SelfGating` on the output. BN after both halves (spec 1.5).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int], stride: Sequence[int] = (1, 1, 1),
                 temporal: int = 0, temporal_stride: int = 1, gate: bool = False, bn_eps: float = 1e-3,
                 bn_momentum: float = 1e-3):
        super().__init__()
        kernel, stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, tuple(k // 2 for k in kernel), bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.conv_t: nn.Conv3d | None = None
        self.bn_t: nn.BatchNorm3d | None = None
        if temporal > 0:
            self.conv_t = nn.Conv3d(out_channels, out_channels, (temporal, 1, 1), (temporal_stride, 1, 1),
                                    (temporal // 2, 0, 0), bias=False)
            self.bn_t = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.gate = SelfGating(out_channels) if gate else None
        self.out_channels = out_channels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv_t is not None:
            with torch.no_grad():
                self.conv_t.weight.zero_()
                kt = self.conv_t.weight.shape[2]
                idx = torch.arange(self.out_channels)
                self.conv_t.weight[idx, idx, kt // 2, 0, 0] = 1.0

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        if self.conv_t is not None:
            x = torch.relu(self.bn_t(self.conv_t(x)))
        if self.gate is not None:
            x = self.gate(x)
        return x


def branch_conv(in_channels: int, out_channels: int, kind: str, bn_eps: float, bn_momentum: float) -> STConv:
    """The 3x3 conv of Inception branches 1 and 2: ``kind`` "2d" (1x3x3), "sep" (1x3x3 then 3x1x1) or
    "3d" (3x3x3, I3D)."""
    if kind == "2d":
        return STConv(in_channels, out_channels, (1, 3, 3), bn_eps=bn_eps, bn_momentum=bn_momentum)
    if kind == "sep":
        return STConv(in_channels, out_channels, (1, 3, 3), temporal=3, bn_eps=bn_eps, bn_momentum=bn_momentum)
    if kind == "3d":
        return STConv(in_channels, out_channels, (3, 3, 3), bn_eps=bn_eps, bn_momentum=bn_momentum)
    raise ValueError(f"conv kind {kind!r}: expected '2d', 'sep' or '3d'")


class Inception(nn.Module):
    """Inception block (spec 1.3): four branches concatenated along channels.

    ``Tensor[N, in_channels, T, H, W] -> Tensor[N, b0 + b1b + b2b + b3, T, H, W]``. ``widths`` =
    (b0, b1a, b1b, b2a, b2b, b3); ``kind`` chooses the 3x3 conv of branches 1/2 (see :func:`branch_conv`);
    ``gated`` adds one :class:`SelfGating` per branch output (``g0..g3``); ``pool_t`` is the temporal
    kernel of the branch-3 max-pool (3 in S3D-G and I3D, even in the "2D" blocks; 1 for per-frame 2D).
    """

    def __init__(self, in_channels: int, widths: Sequence[int], kind: str, gated: bool, pool_t: int = 3,
                 bn_eps: float = 1e-3, bn_momentum: float = 1e-3):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = widths
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        self.b0 = STConv(in_channels, c0, (1, 1, 1), **bn)
        self.b1a = STConv(in_channels, c1a, (1, 1, 1), **bn)
        self.b1b = branch_conv(c1a, c1b, kind, **bn)
        self.b2a = STConv(in_channels, c2a, (1, 1, 1), **bn)
        self.b2b = branch_conv(c2a, c2b, kind, **bn)
        self.pool = nn.MaxPool3d((pool_t, 3, 3), stride=1, padding=(pool_t // 2, 1, 1))
        self.b3 = STConv(in_channels, c3, (1, 1, 1), **bn)
        self.g0 = SelfGating(c0) if gated else None
        self.g1 = SelfGating(c1b) if gated else None
        self.g2 = SelfGating(c2b) if gated else None
        self.g3 = SelfGating(c3) if gated else None
        self.in_channels = in_channels
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: Tensor) -> Tensor:
        y0 = self.b0(x)
        y1 = self.b1b(self.b1a(x))
        y2 = self.b2b(self.b2a(x))
        y3 = self.b3(self.pool(x))
        if self.g0 is not None:
            y0, y1, y2, y3 = self.g0(y0), self.g1(y1), self.g2(y2), self.g3(y3)
        return torch.cat([y0, y1, y2, y3], dim=1)


class InceptionTrunk(nn.Module):
    """A stack of named endpoints run in order; ``forward`` returns every endpoint it computed.

    ``layers``: ``(name, module)`` pairs in network order (names from :data:`ENDPOINTS`); the modules
    become attributes of that name, so parameter keys read ``Mixed_4f.b1b.conv.weight``.
    ``Tensor[N, C_in, T, H, W] -> dict[str, Tensor[N, C_e, t_e, h_e, w_e]]``.
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], channels: dict[str, int]):
        super().__init__()
        self.endpoint_names: tuple[str, ...] = tuple(name for name, _ in layers)
        for name, module in layers:
            self.add_module(name, module)
        self.channels = {name: channels[name] for name in self.endpoint_names}
        self.strides = {name: STRIDES[name] for name in self.endpoint_names}
        self.in_channels = next(m for _, m in layers if isinstance(m, STConv)).conv.in_channels
        self.final_endpoint = self.endpoint_names[-1]
        self.out_channels = self.channels[self.final_endpoint]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for name in self.endpoint_names:
            x = getattr(self, name)(x)
            out[name] = x
        return out


def pool(name: str, pool_t: int = 3) -> nn.MaxPool3d:
    """The max-pool endpoints (spec 1.2); ``pool_t`` is the temporal kernel of MaxPool_4a/5a (1 for the
    per-frame variant, which still subsamples time by 2 so every output frame sees one input frame)."""
    if name in ("MaxPool_2a_3x3", "MaxPool_3a_3x3"):
        return nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
    if name == "MaxPool_4a_3x3":
        return nn.MaxPool3d((pool_t, 3, 3), stride=(2, 2, 2), padding=(pool_t // 2, 1, 1))
    if name == "MaxPool_5a_2x2":
        # ceil_mode gives TF-SAME sizes on odd T (5 -> 3); torchvision drops the last frame (5 -> 2).
        return nn.MaxPool3d((min(pool_t, 2), 2, 2), stride=(2, 2, 2), ceil_mode=True)
    raise ValueError(f"{name!r} is not a max-pool endpoint")


def trunk_layers(names: Sequence[str], in_channels: int, conv1: STConv, conv2c: STConv,
                 mixed_kind: dict[str, str], mixed_gated: dict[str, bool], pool_t: int, width: float,
                 min_depth: int, bn_eps: float, bn_momentum: float) -> list[tuple[str, nn.Module]]:
    """Build the ``(name, module)`` list for the endpoints in ``names`` (a contiguous slice of
    :data:`ENDPOINTS`); ``conv1``/``conv2c`` are given by the variant, the rest follows from the tables."""
    ch = endpoint_channels(width, min_depth)
    prev = {ep: (ENDPOINTS[i - 1] if i else None) for i, ep in enumerate(ENDPOINTS)}
    layers: list[tuple[str, nn.Module]] = []
    for name in names:
        cin = ch[prev[name]] if prev[name] else in_channels
        if name == "Conv2d_1a_7x7":
            m: nn.Module = conv1
        elif name == "Conv2d_2b_1x1":
            m = STConv(cin, ch[name], (1, 1, 1), bn_eps=bn_eps, bn_momentum=bn_momentum)
        elif name == "Conv2d_2c_3x3":
            m = conv2c
        elif name.startswith("MaxPool"):
            m = pool(name, pool_t)
        else:
            m = Inception(cin, mixed_widths(name, width, min_depth), mixed_kind[name], mixed_gated[name],
                          pool_t, bn_eps, bn_momentum)
        layers.append((name, m))
    return layers


def endpoint_range(first: str, last: str) -> tuple[str, ...]:
    """Endpoints from ``first`` to ``last`` inclusive, in network order."""
    for n in (first, last):
        if n not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {n!r}; known: {', '.join(ENDPOINTS)}")
    i, j = ENDPOINTS.index(first), ENDPOINTS.index(last)
    if j < i:
        raise ValueError(f"endpoint {last!r} comes before {first!r}")
    return ENDPOINTS[i:j + 1]


class Mixed5(nn.Module):
    """Mixed_5b + Mixed_5c on their own: the action classifier and the ACRN f_phi (paper section 3.1, 3.2).

    ``Tensor[R, C4f, t, h, w] -> Tensor[R, C5c, t, h, w]`` (832 -> 1024 at width 1.0); no MaxPool_5a
    (ROI features are already 7x7). Keys ``Mixed_5b.*``, ``Mixed_5c.*`` as in the full trunk, so the
    same importers fill them.
    """

    def __init__(self, mixed_5b: Inception, mixed_5c: Inception):
        super().__init__()
        self.Mixed_5b = mixed_5b
        self.Mixed_5c = mixed_5c
        self.in_channels = mixed_5b.in_channels
        self.out_channels = mixed_5c.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.Mixed_5c(self.Mixed_5b(x))
