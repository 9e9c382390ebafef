"""``acrn model info [CONFIG] [--set ...] [--frames T --size H]``: parameters, GFLOPs and endpoint shapes.

Everything is built on the ``meta`` device (no memory, no compute), so this is instant even for full-size
models; GFLOPs are ``torch.utils.flop_counter.FlopCounterMode`` totals (2 x multiply-accumulates of conv
and linear layers, spec ``specs/s3dg.md`` conventions).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from acrn.cli.common import add_config_args, config_from_args
from acrn.config import ModelConfig
from acrn.errors import InputError
from acrn.models.backbone import TemporalFlatten, build_backbone, build_mixed5, endpoint_shape


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="inspect the model of a config")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    info = msub.add_parser("info", help="print parameters, GFLOPs and endpoint shapes of the backbone")
    add_config_args(info, required=False)
    info.add_argument("--frames", type=int, default=None, help="clip length T (default: data.num_frames)")
    info.add_argument("--size", type=int, default=224, help="input height = width in pixels (default 224)")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    info.set_defaults(func=run_info)


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _gflops(fn, *inputs: torch.Tensor | None) -> float:
    with FlopCounterMode(display=False) as counter:
        fn(*inputs)
    return counter.get_total_flops() / 1e9


def model_info(cfg: ModelConfig, frames: int, size: int) -> dict:
    """Parameters (unfrozen counts), GFLOPs at ``1 x C x frames x size x size`` and every endpoint's shape."""
    if frames < 1 or size < 16:
        raise InputError(f"--frames {frames} / --size {size}: need frames >= 1 and size >= 16")
    cfg = dataclasses.replace(cfg, pretrained="", freeze_bn=False)
    with torch.device("meta"):
        backbone = build_backbone(cfg)
        head = build_mixed5(cfg)
        t4f, h4f, w4f = endpoint_shape("Mixed_4f", frames, size, size)
        flatten = TemporalFlatten(backbone.channels["Mixed_4f"], t4f)
        rgb = torch.zeros(1, 3, frames, size, size) if cfg.modality != "flow" else None
        flow = torch.zeros(1, 2, frames, size, size) if cfg.modality != "rgb" else None
        roi = torch.zeros(1, head.in_channels, 1, cfg.roi_size, cfg.roi_size)
        feat = torch.zeros(1, backbone.channels["Mixed_4f"], t4f, h4f, w4f)
        gf = {"backbone": _gflops(backbone, rgb, flow), "temporal_flatten": _gflops(flatten, feat),
              "mixed5_per_roi": _gflops(head, roi)}
    endpoints = {name: {"channels": c, "shape": list(endpoint_shape(name, frames, size, size)),
                        "stride": list(backbone.strides[name])} for name, c in backbone.channels.items()}
    return {"backbone": cfg.backbone, "modality": cfg.modality, "fusion": cfg.fusion, "width": cfg.width,
            "input": [frames, size, size],
            "params": {"backbone": _params(backbone), "mixed5": _params(head), "temporal_flatten": _params(flatten)},
            "gflops": {k: round(v, 4) for k, v in gf.items()}, "endpoints": endpoints}


def run_info(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    frames = cfg.data.num_frames if args.frames is None else args.frames
    info = model_info(cfg.model, frames, args.size)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    t, s, _ = info["input"]
    print(f"backbone {info['backbone']} ({info['modality']}"
          + (f", fusion {info['fusion']}" if info["modality"] == "two_stream" else "")
          + f"), width {info['width']}, input {t}x{s}x{s}")
    p, g = info["params"], info["gflops"]
    print(f"  trunk to Mixed_4f     {p['backbone']:>12,d} params  {g['backbone']:9.3f} GFLOPs")
    print(f"  temporal flatten      {p['temporal_flatten']:>12,d} params  {g['temporal_flatten']:9.3f} GFLOPs")
    print(f"  Mixed_5b+5c (per ROI) {p['mixed5']:>12,d} params  {g['mixed5_per_roi']:9.3f} GFLOPs "
          f"(1x{cfg.model.roi_size}x{cfg.model.roi_size})")
    print("  endpoint          channels   t x h x w    stride (t, s)")
    for name, e in info["endpoints"].items():
        shape = "x".join(map(str, e["shape"]))
        print(f"  {name:<17} {e['channels']:>8}   {shape:<12} {tuple(e['stride'])}")
    return 0
