"""2D ResNet for actor localisation on the key frame (paper section 3.1: "a 2D ResNet-50 model").

Parameter names follow torchvision exactly (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer1.0.downsample.0``/``.1``; no ``fc``) so that torchvision's ImageNet ResNet-50 weights load 1:1
with :func:`load_torchvision_resnet`. Blocks are "ResNet v1.5" (stride on the 3x3 conv), as torchvision.

The actor RPN reads the ``layer3`` output (stride 16, the Faster R-CNN "C4" feature of [13, 40]), so
the network is built with ``num_stages=3`` by default and ``layer4`` does not exist.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

from acrn.errors import InputError

_BLOCKS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def _width(c: int, width: float) -> int:
    return max(8, int(round(c * width)))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34). ``Tensor[B,Cin,H,W] -> Tensor[B,C,H/s,W/s]``."""

    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, v1.5) -> 1x1 with 4x expansion (ResNet-50)."""

    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = ch * self.expansion
        self.conv1 = nn.Conv2d(in_ch, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv3 = nn.Conv2d(ch, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class ResNet(nn.Module):
    """ResNet-18/34/50 trunk without the classifier.

    Args:
        depth: 18, 34 or 50.
        width: channel multiplier (1.0 = torchvision; every width is ``max(8, round(c * width))``).
        num_stages: how many of layer1..layer4 to build (3 -> output stride 16).

    ``forward``: ``Tensor[B, 3, H, W] -> Tensor[B, out_channels, ceil(H/s), ceil(W/s)]``,
    ``s = 2 ** (num_stages + 1)``.
    """

    def __init__(self, depth: int = 50, width: float = 1.0, num_stages: int = 3) -> None:
        super().__init__()
        if depth not in _BLOCKS:
            raise ValueError(f"ResNet depth {depth} is not supported; choose one of {sorted(_BLOCKS)}")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be 1..4, got {num_stages}")
        kind, counts = _BLOCKS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        stem = _width(64, width)
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = stem
        for i in range(num_stages):
            ch = _width(64 * 2 ** i, width)
            blocks = []
            for j in range(counts[i]):
                blocks.append(block(in_ch, ch, stride=2 if (j == 0 and i > 0) else 1))
                in_ch = ch * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = num_stages
        self.out_channels = in_ch
        self.stride = 2 ** (num_stages + 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


def load_torchvision_resnet(model: ResNet, state: dict[str, Tensor] | str | Path) -> list[str]:
    """Copy torchvision ResNet weights (a state dict or a ``.pth`` path) into ``model``.

    Every parameter and buffer of ``model`` must be present in ``state`` with the same shape; keys of
    stages the model does not build (``layer4.*``) and ``fc.*`` are ignored and returned.
    Raises :class:`InputError` naming the first missing or mis-shaped key.
    """
    source = str(state) if not isinstance(state, dict) else "state dict"
    if not isinstance(state, dict):
        try:
            state = torch.load(state, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise InputError(f"{source}: cannot read a torchvision ResNet checkpoint ({first})") from None
        if not isinstance(state, dict):
            raise InputError(f"{source}: expected a state dict, got {type(state).__name__}")
    ours = model.state_dict()
    for key, value in ours.items():
        if key not in state:
            raise InputError(f"{source}: key {key!r} missing (expected shape {tuple(value.shape)})")
        if tuple(state[key].shape) != tuple(value.shape):
            raise InputError(f"{source}: key {key!r} has shape {tuple(state[key].shape)}, "
                             f"expected {tuple(value.shape)} (depth/width mismatch?)")
    model.load_state_dict({k: state[k] for k in ours})
    return sorted(k for k in state if k not in ours)
