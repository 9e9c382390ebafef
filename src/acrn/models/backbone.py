"""Video backbones for the action classifier (paper section 3.1): streams, early fusion, flattening.

``build_backbone(cfg.model)`` gives the trunk up to ``Mixed_4f`` for RGB, flow or both streams fused at
``Mixed_4f``; ``build_mixed5`` the ``Mixed_5b``/``Mixed_5c`` head that the actor classifier and the ACRN
f_phi reuse; ``TemporalFlatten`` the ``t x 1 x 1`` conv that turns ``Mixed_4f`` into the 2D map F;
``freeze_bn`` the frozen batch-norm of section 4.1 ("batch-norm updates are disabled").
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from acrn.config import ModelConfig
from acrn.models.frame2d import Frame2D, frame2d_mixed5
from acrn.models.i3d import I3D, i3d_mixed5
from acrn.models.inception import STRIDES, InceptionTrunk, Mixed5, endpoint_channels, endpoint_shape
from acrn.models.s3dg import S3DG, s3dg_mixed5
from acrn.models.weights import import_backbone, read_checkpoint

log = logging.getLogger(__name__)

FUSION_ENDPOINT = "Mixed_4f"


class FrozenBatchNorm(nn.Module):
    """BatchNorm with fixed statistics and affine parameters, all buffers (torchvision-style).

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`` for ``Tensor[N, C, ...]``;
    stays fixed under ``model.train()`` and receives no gradient. Loads BatchNorm state dicts (the
    ``num_batches_tracked`` entry is dropped), so checkpoints of the unfrozen model load unchanged.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.num_features = num_features
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @classmethod
    def from_bn(cls, bn: nn.modules.batchnorm._BatchNorm) -> FrozenBatchNorm:
        """A frozen copy of ``bn``: its statistics, affine parameters (if any) and eps."""
        like = bn.running_mean if bn.running_mean is not None else bn.weight
        out = cls(bn.num_features, bn.eps)
        if like is not None:
            out = out.to(device=like.device, dtype=like.dtype)
        with torch.no_grad():
            if bn.affine:
                out.weight.copy_(bn.weight)
                out.bias.copy_(bn.bias)
            if bn.running_mean is not None:
                out.running_mean.copy_(bn.running_mean)
                out.running_var.copy_(bn.running_var)
        return out

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * scale.reshape(shape) + shift.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def freeze_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm (1d/2d/3d/sync) inside ``module`` by :class:`FrozenBatchNorm`, in place.

    Returns ``module`` (or the frozen replacement when ``module`` itself is a BatchNorm). Idempotent.
    """
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return FrozenBatchNorm.from_bn(module)
    for name, child in module.named_children():
        new = freeze_bn(child)
        if new is not child:
            setattr(module, name, new)
    return module


class TemporalFlatten(nn.Module):
    """``t x 1 x 1`` convolution that collapses time: ``Tensor[B, C, t, h, w] -> Tensor[B, C, h, w]``.

    Gives the 2D map F of section 3.1 from ``Mixed_4f``. Initialised as a temporal average (weight
    ``I / t`` at every tap, zero bias), so before training F is the mean of ``Mixed_4f`` over time.
    """

    def __init__(self, channels: int, t: int):
        super().__init__()
        self.t = t
        self.conv = nn.Conv3d(channels, channels, (t, 1, 1))
        with torch.no_grad():
            self.conv.weight.zero_()
            idx = torch.arange(channels)
            self.conv.weight[idx, idx, :, 0, 0] = 1.0 / t
            self.conv.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[2] != self.t:
            raise ValueError(f"TemporalFlatten(t={self.t}): expected Tensor[B, C, {self.t}, h, w], "
                             f"got {tuple(x.shape)}")
        return self.conv(x).squeeze(2)


class SumFusion(nn.Module):
    """Early fusion by summation (default): ``Tensor[B, C, t, h, w] x 2 -> Tensor[B, C, t, h, w]``.

    Keeps C (832 at width 1.0) so the Kinetics-pretrained Mixed_5b weights apply unchanged.
    """

    def forward(self, rgb: Tensor, flow: Tensor) -> Tensor:
        return rgb + flow


class ConcatFusion(nn.Module):
    """Early fusion by concatenation + ``1x1x1`` projection ``2C -> C`` (with bias).

    Initialised as ``[I, I]`` so it starts equal to :class:`SumFusion`.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv3d(2 * channels, channels, 1)
        with torch.no_grad():
            self.proj.weight.zero_()
            idx = torch.arange(channels)
            self.proj.weight[idx, idx, 0, 0, 0] = 1.0
            self.proj.weight[idx, idx + channels, 0, 0, 0] = 1.0
            self.proj.bias.zero_()

    def forward(self, rgb: Tensor, flow: Tensor) -> Tensor:
        return self.proj(torch.cat([rgb, flow], dim=1))


class SingleStreamBackbone(nn.Module):
    """One stream (``modality`` "rgb" or "flow"): ``forward(rgb, flow=None) -> dict[str, Tensor]``.

    Reads ``rgb`` (``Tensor[B, 3, T, H, W]``) or ``flow`` (``Tensor[B, 2, T, H, W]``) per its modality;
    returns every endpoint up to ``Mixed_4f``. The trunk's parameters live under ``<modality>.``.
    """

    def __init__(self, trunk: InceptionTrunk, modality: str):
        super().__init__()
        if modality not in ("rgb", "flow"):
            raise ValueError(f"modality {modality!r}: expected 'rgb' or 'flow'")
        self.modality = modality
        self.add_module(modality, trunk)
        self.channels = dict(trunk.channels)
        self.strides = dict(trunk.strides)

    def forward(self, rgb: Tensor | None, flow: Tensor | None = None) -> dict[str, Tensor]:
        x = rgb if self.modality == "rgb" else flow
        if x is None:
            raise ValueError(f"this backbone reads the {self.modality} stream; got {self.modality}=None")
        return getattr(self, self.modality)(x)


class TwoStreamBackbone(nn.Module):
    """RGB and flow trunks fused at ``Mixed_4f`` (early fusion, paper section 3.1).

    ``forward(rgb: Tensor[B, 3, T, H, W], flow: Tensor[B, 2, T, H, W])`` returns every RGB endpoint, with
    ``"Mixed_4f"`` replaced by ``fusion(rgb Mixed_4f, flow Mixed_4f)``.
    """

    def __init__(self, rgb: InceptionTrunk, flow: InceptionTrunk, fusion: nn.Module):
        super().__init__()
        if rgb.final_endpoint != FUSION_ENDPOINT or flow.final_endpoint != FUSION_ENDPOINT:
            raise ValueError(f"both trunks must end at {FUSION_ENDPOINT}")
        self.rgb = rgb
        self.flow = flow
        self.fusion = fusion
        self.channels = dict(rgb.channels)
        self.strides = dict(rgb.strides)

    def forward(self, rgb: Tensor | None, flow: Tensor | None = None) -> dict[str, Tensor]:
        if rgb is None or flow is None:
            raise ValueError("the two-stream backbone needs both rgb and flow inputs")
        out = self.rgb(rgb)
        out[FUSION_ENDPOINT] = self.fusion(out[FUSION_ENDPOINT], self.flow(flow)[FUSION_ENDPOINT])
        return out


def build_trunk(cfg: ModelConfig, in_channels: int, final_endpoint: str = FUSION_ENDPOINT) -> InceptionTrunk:
    """The trunk of ``cfg.backbone`` ("s3dg", "i3d" or "frame2d") for ``in_channels`` inputs, random init."""
    common = {"width": cfg.width, "min_depth": cfg.min_depth, "bn_eps": cfg.bn_eps,
              "bn_momentum": cfg.bn_momentum, "final_endpoint": final_endpoint}
    if cfg.backbone == "s3dg":
        return S3DG(in_channels, cfg.first_temporal_kernel, cfg.temporal_conv_startat, cfg.gating_startat,
                    **common)
    if cfg.backbone == "i3d":
        # I3D is defined by its inflated 7x7x7 conv1; first_temporal_kernel is an S3D-G knob.
        return I3D(in_channels, 7, **common)
    if cfg.backbone == "frame2d":
        return Frame2D(in_channels, **common)
    raise ValueError(f"backbone {cfg.backbone!r}: expected 's3dg', 'i3d' or 'frame2d'")


def build_backbone(cfg: ModelConfig) -> SingleStreamBackbone | TwoStreamBackbone:
    """The classification backbone of ``cfg`` up to ``Mixed_4f`` (contract in ``/tmp/contracts.md``).

    Reads ``backbone, modality, fusion, width, min_depth, first_temporal_kernel, temporal_conv_startat,
    gating_startat, bn_eps, bn_momentum, freeze_bn, pretrained, pretrained_format``. Pretrained weights
    go into every stream (flow: conv1 averaged over the RGB channels); import reports are logged.
    """
    streams = ["rgb", "flow"] if cfg.modality == "two_stream" else [cfg.modality]
    trunks = {s: build_trunk(cfg, 3 if s == "rgb" else 2) for s in streams}
    reports = {}
    if cfg.pretrained:
        source = read_checkpoint(cfg.pretrained, cfg.pretrained_format)
        for s, trunk in trunks.items():
            reports[s] = import_backbone(trunk, source, stream=s)
            _log_report(f"{s} stream", reports[s])
    if cfg.modality == "two_stream":
        c = trunks["rgb"].channels[FUSION_ENDPOINT]
        if cfg.fusion == "sum":
            fusion: nn.Module = SumFusion()
        elif cfg.fusion == "concat":
            fusion = ConcatFusion(c)
        else:
            raise ValueError(f"fusion {cfg.fusion!r}: expected 'sum' or 'concat'")
        model: nn.Module = TwoStreamBackbone(trunks["rgb"], trunks["flow"], fusion)
    else:
        model = SingleStreamBackbone(trunks[cfg.modality], cfg.modality)
    model.import_reports = reports  # what the pretrained import did, per stream (empty without one)
    return freeze_bn(model) if cfg.freeze_bn else model


def _log_report(what: str, report) -> None:
    log.info("%s: %s", what, report.summary())
    if report.missing:
        log.warning("%s: %d tensors not in the checkpoint keep their random init: %s", what, len(report.missing),
                    ", ".join(report.missing[:10]))


def build_mixed5(cfg: ModelConfig) -> Mixed5:
    """``Mixed_5b`` + ``Mixed_5c`` of ``cfg.backbone`` alone: ``Tensor[R, C4f, t, h, w] -> Tensor[R, C5c, t, h, w]``.

    Initialised from the RGB stream of ``cfg.pretrained`` when given (paper section 4.1: both heads start
    from the RGB Kinetics weights); BN frozen when ``cfg.freeze_bn``.
    """
    common = {"width": cfg.width, "min_depth": cfg.min_depth, "bn_eps": cfg.bn_eps, "bn_momentum": cfg.bn_momentum}
    if cfg.backbone == "s3dg":
        head = s3dg_mixed5(cfg.temporal_conv_startat, cfg.gating_startat, **common)
    elif cfg.backbone == "i3d":
        head = i3d_mixed5(**common)
    elif cfg.backbone == "frame2d":
        head = frame2d_mixed5(**common)
    else:
        raise ValueError(f"backbone {cfg.backbone!r}: expected 's3dg', 'i3d' or 'frame2d'")
    head.import_reports = {}
    if cfg.pretrained:
        source = read_checkpoint(cfg.pretrained, cfg.pretrained_format)
        head.import_reports["rgb"] = import_backbone(head, source, stream="rgb")
        _log_report("Mixed_5b/5c", head.import_reports["rgb"])
    return freeze_bn(head) if cfg.freeze_bn else head


def backbone_channels(cfg: ModelConfig) -> dict[str, int]:
    """Channels of every endpoint for ``cfg`` without building anything."""
    return endpoint_channels(cfg.width, cfg.min_depth)


__all__ = ["STRIDES", "ConcatFusion", "FrozenBatchNorm", "SingleStreamBackbone", "SumFusion", "TemporalFlatten",
           "TwoStreamBackbone", "backbone_channels", "build_backbone", "build_mixed5", "build_trunk",
           "endpoint_shape", "freeze_bn"]
