"""I3D: Inflated Inception-v1 (Carreira & Zisserman 2017), the baseline of paper Table 3 ([13]).

Every convolution is a full 3D convolution (7x7x7 conv1, 3x3x3 in Conv2d_2c and the Inception
branches), no gating; pools, strides and channel widths as in S3D-G, so the endpoint contract (names,
channels, strides, shapes) is identical (spec ``specs/s3dg.md`` 1.2).
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

_MIXED = [n for n in ENDPOINTS if n.startswith("Mixed")]


class I3D(InceptionTrunk):
    """I3D trunk from ``Conv2d_1a_7x7`` to ``final_endpoint``: ``Tensor[N, C_in, T, H, W] -> dict[str, Tensor]``.

    ``first_temporal_kernel`` is 7 in the original I3D.
    """

    def __init__(self, in_channels: int = 3, first_temporal_kernel: int = 7, width: float = 1.0,
                 min_depth: int = 16, bn_eps: float = 1e-3, bn_momentum: float = 1e-3,
                 final_endpoint: str = "Mixed_5c"):
        ch = endpoint_channels(width, min_depth)
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        conv1 = STConv(in_channels, ch["Conv2d_1a_7x7"], (first_temporal_kernel, 7, 7), (2, 2, 2), **bn)
        conv2c = STConv(ch["Conv2d_2b_1x1"], ch["Conv2d_2c_3x3"], (3, 3, 3), **bn)
        kind = dict.fromkeys(_MIXED, "3d")
        gated = dict.fromkeys(_MIXED, False)
        names = endpoint_range("Conv2d_1a_7x7", final_endpoint)
        super().__init__(trunk_layers(names, in_channels, conv1, conv2c, kind, gated, 3, width, min_depth,
                                      bn_eps, bn_momentum), ch)


def i3d_mixed5(width: float = 1.0, min_depth: int = 16, bn_eps: float = 1e-3, bn_momentum: float = 1e-3) -> Mixed5:
    """I3D ``Mixed_5b`` + ``Mixed_5c`` alone (3x3x3 convs, no gating)."""
    ch = endpoint_channels(width, min_depth)
    layers = trunk_layers(("Mixed_5b", "Mixed_5c"), ch["Mixed_4f"], None, None, dict.fromkeys(_MIXED, "3d"),
                          dict.fromkeys(_MIXED, False), 3, width, min_depth, bn_eps, bn_momentum)
    return Mixed5(layers[0][1], layers[1][1])


__all__ = ["I3D", "i3d_mixed5"]
