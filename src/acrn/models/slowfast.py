"""SlowFast ResNet-3D backbone (Feichtenhofer et al., ICCV 2019) as an acrn video backbone.

Two ResNet-3D pathways read the same clip ``Tensor[B, 3, T, H, W]``:

    slow: every ``tau``-th frame (T / tau frames), full width (``base_channels`` 64 at the stem)
    fast: every ``tau / alpha``-th frame (alpha times more frames), width / ``beta``
    lateral: after the stem and after stages 1-3, a time-strided ``(k, 1, 1)`` conv (stride alpha) maps
             the fast features to ``2 / beta`` of the slow stage's width; they are concatenated to the slow
             features (slow stages 1-4 therefore read extra input channels).

Bottleneck blocks are "pytorch"-style (stride on the 3x3); a block with a temporal kernel has a ``3x1x1``
first conv, others ``1x1x1`` (slow: stages 3-4 only; fast: all). With ``spatial_strides`` (1, 2, 2, 1) the
last stage keeps stride 16, the layout of MMAction2's AVA detectors
(``slowfast-acrn_kinetics400-pretrained-r50_8xb8-8x8x1-cosine-10e_ava21-rgb``), whose weights
:mod:`acrn.models.import_mmaction2` loads.

For the detector, :class:`SlowFast` returns the endpoints ``slow`` ``Tensor[B, Cs, T/tau, h, w]``,
``fast`` ``Tensor[B, Cf, T*alpha/tau, h, w]`` and, under the detector's feature-map key ``Mixed_4f``
(the map actors are cropped from, section 3.1), both averaged over their own time and concatenated:
``Tensor[B, Cs + Cf, 1, h, w]``. That is what MMAction2's RoI extractor computes (it resizes both pathways
to the fast one's length by nearest-neighbour repetition and then averages; repeating every slow frame
alpha times does not change its mean). :class:`TemporalMean` then drops the unit time axis.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FEATURE_ENDPOINT = "Mixed_4f"  # the key ActionDetector crops actors from
STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
EXPANSION = 4  # bottleneck output channels / planes


class ConvBN(nn.Module):
    """Bias-free ``Conv3d`` + ``BatchNorm3d`` (+ ReLU): ``Tensor[B, Cin, T, H, W] -> Tensor[B, Cout, T', H', W']``."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1),
                 relu: bool = True, bn_eps: float = 1e-5) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, tuple(k // 2 for k in kernel), bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=bn_eps)
        self.relu = nn.ReLU(inplace=True) if relu else None

    time_as_batch = True  # class switch, for benchmarks: False always runs Conv3d

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self._conv(x))
        return self.relu(x) if self.relu is not None else x

    def _conv(self, x: Tensor) -> Tensor:
        """A ``1 x k x k`` conv on a ``channels_last_3d`` input runs as a 2-D conv over ``B*T`` frames: the
        ``[B*T, C, H, W]`` channels_last view is free, and PyTorch sends the small fast-pathway Conv3ds (batch 1,
        N*C*T*H <= 20480) to its slow im2col kernel instead of oneDNN, which a 2-D conv of batch ``B*T`` avoids."""
        c = self.conv
        if not (self.time_as_batch and c.kernel_size[0] == 1 and c.stride[0] == 1 and x.dim() == 5
                and x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous()):
            return c(x)
        b, t = x.shape[0], x.shape[2]
        y = nn.functional.conv2d(x.transpose(1, 2).flatten(0, 1), c.weight[:, :, 0], c.bias, c.stride[1:],
                                 c.padding[1:])
        return y.unflatten(0, (b, t)).transpose(1, 2)  # [B, Cout, T, H', W'], channels_last_3d again

    @torch.no_grad()
    def fold_bn(self) -> None:
        """Inference only: fold the (frozen or eval-mode) BN into the conv, ``w' = w * s``, ``b' = t`` with
        ``s = gamma / sqrt(var + eps)``, ``t = beta - mean * s``; the BN becomes an identity. Saves two full
        passes over every activation (the BN's multiply and add); results change by float rounding only."""
        if isinstance(self.bn, nn.Identity):
            return
        bn = self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        self.conv.weight.mul_(scale.reshape(-1, 1, 1, 1, 1))
        self.conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
        self.bn = nn.Identity()


class Bottleneck3d(nn.Module):
    """ResNet bottleneck: ``(3|1)x1x1 -> 1x3x3 (stride) -> 1x1x1`` plus a projected or identity shortcut."""

    def __init__(self, cin: int, planes: int, spatial_stride: int, temporal: bool, bn_eps: float = 1e-5) -> None:
        super().__init__()
        cout = planes * EXPANSION
        self.conv1 = ConvBN(cin, planes, (3 if temporal else 1, 1, 1), bn_eps=bn_eps)
        self.conv2 = ConvBN(planes, planes, (1, 3, 3), (1, spatial_stride, spatial_stride), bn_eps=bn_eps)
        self.conv3 = ConvBN(planes, cout, (1, 1, 1), relu=False, bn_eps=bn_eps)
        self.downsample = None
        if spatial_stride != 1 or cin != cout:
            self.downsample = ConvBN(cin, cout, (1, 1, 1), (1, spatial_stride, spatial_stride), relu=False,
                                     bn_eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.downsample(x) if self.downsample is not None else x
        out = self.conv3(self.conv2(self.conv1(x)))
        out += shortcut  # in place: one activation-sized buffer less per block
        return out.relu_()


class Pathway(nn.Module):
    """One ResNet-3D pathway: stem (``stem_t x 7 x 7`` conv, stride 2, then 1x3x3 max-pool, stride 2) and four
    stages ``layer1..layer4``. ``lateral_in[i]`` extra input channels of stage i come from the other pathway.

    The stem and the stages are called one by one by :class:`SlowFast` (the laterals sit between them).
    """

    def __init__(self, depth: int, base_channels: int, stem_t: int, temporal: tuple[int, int, int, int],
                 spatial_strides: tuple[int, int, int, int], lateral_in: tuple[int, int, int, int] = (0, 0, 0, 0),
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        if depth not in STAGE_BLOCKS:
            raise ValueError(f"SlowFast depth {depth}: expected one of {', '.join(map(str, STAGE_BLOCKS))}")
        self.stem = ConvBN(3, base_channels, (stem_t, 7, 7), (1, 2, 2), bn_eps=bn_eps)
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        cin = base_channels
        self.stage_channels = []
        for i, blocks in enumerate(STAGE_BLOCKS[depth]):
            planes = base_channels * 2 ** i
            layer = [Bottleneck3d(cin + lateral_in[i], planes, spatial_strides[i], bool(temporal[i]), bn_eps)]
            layer += [Bottleneck3d(planes * EXPANSION, planes, 1, bool(temporal[i]), bn_eps) for _ in range(blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            cin = planes * EXPANSION
            self.stage_channels.append(cin)
        self.out_channels = cin


class SlowFast(nn.Module):
    """SlowFast ResNet-3D (see the module docstring).

    Args:
        depth: ResNet depth (50, 101, 152).
        tau: temporal stride of the slow pathway on the input frames (MMAction2's ``resample_rate``).
        alpha: frame-rate ratio fast / slow (``speed_ratio``); ``tau`` must be a multiple of it.
        beta: channel ratio slow / fast (``channel_ratio``).
        base_channels: slow stem width (64); the fast stem has ``base_channels // beta``.
        fusion_kernel: temporal kernel of the lateral convs (7 in MMAction2's AVA configs).
        slow_temporal, fast_temporal: per stage, whether its bottlenecks have a 3x1x1 first conv.
        slow_stem_t, fast_stem_t: temporal kernel of each stem conv (1 and 5).
        spatial_strides: stride of each stage's first block.
        lateral_ratio: lateral output channels = fast channels x ``lateral_ratio`` (2).

    ``forward(rgb: Tensor[B, 3, T, H, W], flow=None) -> dict[str, Tensor]`` with ``slow``, ``fast`` and
    ``Mixed_4f`` (see the module docstring); ``channels`` and ``strides`` describe ``Mixed_4f``.
    """

    def __init__(self, depth: int = 50, tau: int = 4, alpha: int = 4, beta: int = 8, base_channels: int = 64,
                 fusion_kernel: int = 7, slow_temporal: tuple[int, int, int, int] = (0, 0, 1, 1),
                 fast_temporal: tuple[int, int, int, int] = (1, 1, 1, 1), slow_stem_t: int = 1, fast_stem_t: int = 5,
                 spatial_strides: tuple[int, int, int, int] = (1, 2, 2, 1), lateral_ratio: int = 2,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        if tau % alpha:
            raise ValueError(f"SlowFast: tau ({tau}) must be a multiple of alpha ({alpha})")
        if base_channels % beta:
            raise ValueError(f"SlowFast: base_channels ({base_channels}) must be a multiple of beta ({beta})")
        self.tau, self.alpha = tau, alpha
        fast_base = base_channels // beta
        self.fast = Pathway(depth, fast_base, fast_stem_t, fast_temporal, spatial_strides, bn_eps=bn_eps)
        fast_out = [fast_base] + self.fast.stage_channels[:3]  # what each lateral reads
        lateral_out = tuple(c * lateral_ratio for c in fast_out)
        self.slow = Pathway(depth, base_channels, slow_stem_t, slow_temporal, spatial_strides, lateral_out, bn_eps)
        # lateral[0] after the stems, lateral[i] after stage i (none after the last stage)
        self.lateral = nn.ModuleList(
            nn.Conv3d(c, c * lateral_ratio, (fusion_kernel, 1, 1), (alpha, 1, 1), (fusion_kernel // 2, 0, 0),
                      bias=False) for c in fast_out)
        c = self.slow.out_channels + self.fast.out_channels
        stride = 4 * math.prod(spatial_strides)
        self.channels = {FEATURE_ENDPOINT: c, "slow": self.slow.out_channels, "fast": self.fast.out_channels}
        self.strides = {FEATURE_ENDPOINT: (1, stride, stride)}

    def pathways(self, clip: Tensor) -> tuple[Tensor, Tensor]:
        """``Tensor[B, 3, T, H, W] -> (slow Tensor[B, Cs, T/tau, h, w], fast Tensor[B, Cf, T*alpha/tau, h, w])``."""
        slow = self.slow.pool(self.slow.stem(clip[:, :, ::self.tau]))
        fast = self.fast.pool(self.fast.stem(clip[:, :, ::self.tau // self.alpha]))
        for i in range(4):
            if i > 0:
                slow = getattr(self.slow, f"layer{i}")(slow)
                fast = getattr(self.fast, f"layer{i}")(fast)
            slow = torch.cat([slow, self.lateral[i](fast)], 1)
        return self.slow.layer4(slow), self.fast.layer4(fast)

    def forward(self, rgb: Tensor | None, flow: Tensor | None = None) -> dict[str, Tensor]:
        if rgb is None:
            raise ValueError("the SlowFast backbone reads the rgb stream; got rgb=None")
        slow, fast = self.pathways(rgb)
        pooled = torch.cat([slow.mean(2, keepdim=True), fast.mean(2, keepdim=True)], 1)  # [B, Cs + Cf, 1, h, w]
        return {"slow": slow, "fast": fast, FEATURE_ENDPOINT: pooled}


class TemporalMean(nn.Module):
    """Parameter-free time flattening: ``Tensor[B, C, t, h, w] -> Tensor[B, C, h, w]`` (mean over t)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(2)


class IdentityBlock(nn.Module):
    """The per-actor block after the crop, for backbones that run all their stages on the whole clip.

    acrn's heads run ``Mixed_5b/5c`` on every actor crop; SlowFast has no such stage left (its last stage
    already ran on the frame, at stride 16), so the block is empty: ``Tensor[R, C, t, h, w]`` unchanged.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.in_channels = self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return x
