"""Single-frame 2D baseline (paper Table 3b, "Single frame" [13]; the "I2D" of the S3D paper).

Inception-v1 with every kernel of temporal size 1 (convs *and* pools) and no gating: each output time
step is computed from exactly one input frame. Time is still subsampled like S3D-G (conv1 and
MaxPool_4a/5a stride 2 in time, reading frames 0, 4, 8, ... at Mixed_4f), so names, channels, strides
and shapes of every endpoint are identical to S3D-G and I3D, and the detector code is unchanged; the
temporal flattening then averages per-frame 2D features.
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


class Frame2D(InceptionTrunk):
    """Per-frame 2D Inception-v1 trunk: ``Tensor[N, C_in, T, H, W] -> dict[str, Tensor]`` (same contract as S3D-G)."""

    def __init__(self, in_channels: int = 3, width: float = 1.0, min_depth: int = 16, bn_eps: float = 1e-3,
                 bn_momentum: float = 1e-3, final_endpoint: str = "Mixed_5c"):
        ch = endpoint_channels(width, min_depth)
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        conv1 = STConv(in_channels, ch["Conv2d_1a_7x7"], (1, 7, 7), (2, 2, 2), **bn)
        conv2c = STConv(ch["Conv2d_2b_1x1"], ch["Conv2d_2c_3x3"], (1, 3, 3), **bn)
        names = endpoint_range("Conv2d_1a_7x7", final_endpoint)
        super().__init__(trunk_layers(names, in_channels, conv1, conv2c, dict.fromkeys(_MIXED, "2d"),
                                      dict.fromkeys(_MIXED, False), 1, width, min_depth, bn_eps, bn_momentum), ch)


def frame2d_mixed5(width: float = 1.0, min_depth: int = 16, bn_eps: float = 1e-3, bn_momentum: float = 1e-3) -> Mixed5:
    """2D ``Mixed_5b`` + ``Mixed_5c`` (1x3x3 convs, 1x3x3 branch-3 pool, no gating)."""
    ch = endpoint_channels(width, min_depth)
    layers = trunk_layers(("Mixed_5b", "Mixed_5c"), ch["Mixed_4f"], None, None, dict.fromkeys(_MIXED, "2d"),
                          dict.fromkeys(_MIXED, False), 1, width, min_depth, bn_eps, bn_momentum)
    return Mixed5(layers[0][1], layers[1][1])


__all__ = ["Frame2D", "frame2d_mixed5"]
