"""S3D-G: separable 3D Inception-v1 with self-gating (Xie et al. 2018), as used by ACRN (paper section 3.1).

The ACRN configuration is *top-heavy*: 2D convolutions without gating until ``Mixed_4b``, separable
``1x3x3 -> 3x1x1`` convolutions with gating from ``Mixed_4b`` on (paper section 3.1; spec
``specs/s3dg.md`` 1.1). The knobs are TF-slim's ``s3dg_base`` arguments:

* ``first_temporal_kernel`` (kt1): temporal size of ``Conv2d_1a_7x7`` (never separable in TF-slim;
  ``separable_conv1=True`` gives the torchvision/kylemin ``1x7x7 -> kt1x1x1`` layout).
* ``temporal_conv_startat``: first endpoint whose 3x3 convs are separable (earlier ones are 1x3x3).
* ``gating_startat``: first endpoint with self-gating (``None``: no gating, i.e. plain S3D).
* ``width`` / ``min_depth``: every conv has ``max(int(c * width), min_depth)`` channels.
* ``bn_eps`` / ``bn_momentum``: 1e-3 / 1e-3 by default (TF decay 0.999; spec 1.5).

What the top-heavy setting does *not* switch off (as in TF-slim): the temporal stride 2 of conv1, the
3x3x3 branch-3 max-pool of every Inception block and the 3x3x3 ``MaxPool_4a``.
"""

from __future__ import annotations

from acrn.models.inception import (
    ENDPOINTS,
    InceptionTrunk,
    Mixed5,
    STConv,
    endpoint_channels,
    endpoint_range,
    trunk_layers,
)

GATEABLE = ENDPOINTS[ENDPOINTS.index("Conv2d_2c_3x3"):]


def _at_or_after(name: str, start: str | None) -> bool:
    if start is None:
        return False
    if start not in GATEABLE:
        raise ValueError(f"start endpoint {start!r}: expected one of {', '.join(GATEABLE)}")
    return ENDPOINTS.index(name) >= ENDPOINTS.index(start)


def s3dg_mixed_kinds(temporal_conv_startat: str, gating_startat: str | None) -> tuple[dict, dict]:
    """Per Inception block: conv kind ("sep" at/after ``temporal_conv_startat`` else "2d") and gating."""
    mixed = [n for n in ENDPOINTS if n.startswith("Mixed")]
    kind = {n: "sep" if _at_or_after(n, temporal_conv_startat) else "2d" for n in mixed}
    gated = {n: _at_or_after(n, gating_startat) for n in mixed}
    return kind, gated


class S3DG(InceptionTrunk):
    """S3D-G trunk from ``Conv2d_1a_7x7`` to ``final_endpoint``.

    ``Tensor[N, in_channels, T, H, W] -> dict[str, Tensor]`` with every endpoint up to ``final_endpoint``;
    ``.channels`` / ``.strides`` give each endpoint's channels and cumulative (temporal, spatial) stride.
    At width 1.0, 20x224x224 RGB input: ``Mixed_4f`` is ``Tensor[N, 832, 5, 14, 14]`` (spec 1.2).
    Defaults = ACRN top-heavy RGB (8,677,040 parameters, 25.63 GFLOPs at 1x3x20x224x224 to Mixed_5c).
    """

    def __init__(self, in_channels: int = 3, first_temporal_kernel: int = 1,
                 temporal_conv_startat: str = "Mixed_4b", gating_startat: str | None = "Mixed_4b",
                 width: float = 1.0, min_depth: int = 16, bn_eps: float = 1e-3, bn_momentum: float = 1e-3,
                 final_endpoint: str = "Mixed_5c", separable_conv1: bool = False):
        if first_temporal_kernel < 1 or first_temporal_kernel % 2 == 0:
            raise ValueError(f"first_temporal_kernel {first_temporal_kernel}: expected an odd size >= 1")
        ch = endpoint_channels(width, min_depth)
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        kt1 = first_temporal_kernel
        if separable_conv1:
            conv1 = STConv(in_channels, ch["Conv2d_1a_7x7"], (1, 7, 7), (1, 2, 2), temporal=kt1,
                           temporal_stride=2, **bn)
        else:
            conv1 = STConv(in_channels, ch["Conv2d_1a_7x7"], (kt1, 7, 7), (2, 2, 2), **bn)
        sep2c = _at_or_after("Conv2d_2c_3x3", temporal_conv_startat)
        conv2c = STConv(ch["Conv2d_2b_1x1"], ch["Conv2d_2c_3x3"], (1, 3, 3), temporal=3 if sep2c else 0,
                        gate=_at_or_after("Conv2d_2c_3x3", gating_startat), **bn)
        kind, gated = s3dg_mixed_kinds(temporal_conv_startat, gating_startat)
        names = endpoint_range("Conv2d_1a_7x7", final_endpoint)
        super().__init__(trunk_layers(names, in_channels, conv1, conv2c, kind, gated, 3, width, min_depth,
                                      bn_eps, bn_momentum), ch)
        self.first_temporal_kernel = kt1
        self.temporal_conv_startat = temporal_conv_startat
        self.gating_startat = gating_startat


def s3dg_mixed5(temporal_conv_startat: str = "Mixed_4b", gating_startat: str | None = "Mixed_4b",
                width: float = 1.0, min_depth: int = 16, bn_eps: float = 1e-3, bn_momentum: float = 1e-3) -> Mixed5:
    """S3D-G ``Mixed_5b`` + ``Mixed_5c`` alone (:class:`Mixed5`), with the same knobs as :class:`S3DG`."""
    ch = endpoint_channels(width, min_depth)
    kind, gated = s3dg_mixed_kinds(temporal_conv_startat, gating_startat)
    layers = trunk_layers(("Mixed_5b", "Mixed_5c"), ch["Mixed_4f"], None, None, kind, gated, 3, width,
                          min_depth, bn_eps, bn_momentum)
    return Mixed5(layers[0][1], layers[1][1])


def torchvision_equivalent(**kwargs) -> S3DG:
    """Plain S3D laid out like torchvision's ``s3d`` (spec 2.1): separable 1x7x7 -> 7x1x1 conv1, separable
    convs from Conv2d_2c, no gating. 7,910,048 parameters; 35.96 GFLOPs at 1x3x16x224x224."""
    return S3DG(first_temporal_kernel=7, temporal_conv_startat="Conv2d_2c_3x3", gating_startat=None,
                separable_conv1=True, **kwargs)


__all__ = ["S3DG", "s3dg_mixed5", "s3dg_mixed_kinds", "torchvision_equivalent"]
