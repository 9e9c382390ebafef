"""ResNet for the actor RPN: torchvision key names and shapes, strides, weight loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from acrn.errors import InputError
from acrn.models.resnet import ResNet, load_torchvision_resnet

TSV = Path("/work/shared/specs/checkpoint-keys/torchvision_resnet50.tsv")


def _tsv_keys() -> dict[str, tuple[int, ...]]:
    out = {}
    for line in TSV.read_text().splitlines():
        key, shape = line.split("\t")
        out[key] = tuple(int(v) for v in shape.strip("()").split(",") if v.strip())
    return out


@pytest.mark.skipif(not TSV.exists(), reason="torchvision key dump not available")
def test_resnet50_keys_and_shapes_equal_torchvision() -> None:
    ref = {k: v for k, v in _tsv_keys().items() if not k.startswith("fc.")}
    ours = {k: tuple(v.shape) for k, v in ResNet(50, 1.0, num_stages=4).state_dict().items()}
    assert ours == ref
    assert sum(p.numel() for p in ResNet(50, 1.0, num_stages=4).parameters()) == 25_557_032 - 2048 * 1000 - 1000


@pytest.mark.parametrize("depth,channels", [(18, 64), (34, 64), (50, 256)])
def test_output_stride_16_and_channels(depth: int, channels: int) -> None:
    net = ResNet(depth, 0.25, num_stages=3).eval()
    y = net(torch.randn(2, 3, 72, 100))
    assert net.stride == 16 and net.out_channels == channels
    assert y.shape == (2, channels, 5, 7)  # ceil(72 / 16), ceil(100 / 16)


def test_load_torchvision_resnet_copies_weights_and_reports_unused() -> None:
    full = ResNet(18, 0.25, num_stages=4).eval()
    state = dict(full.state_dict())
    state["fc.weight"] = torch.zeros(10, 8 * 64 // 4)
    state["fc.bias"] = torch.zeros(10)
    net = ResNet(18, 0.25, num_stages=3).eval()
    unused = load_torchvision_resnet(net, state)
    assert all(k.startswith(("layer4.", "fc.")) for k in unused) and "fc.bias" in unused
    x = torch.randn(1, 3, 64, 64)
    expected = full.layer3(full.layer2(full.layer1(full.maxpool(full.relu(full.bn1(full.conv1(x)))))))
    torch.testing.assert_close(net(x), expected)


def test_load_torchvision_resnet_errors_name_the_key(tmp_path: Path) -> None:
    net = ResNet(18, 0.25, num_stages=3)
    state = dict(net.state_dict())
    del state["layer2.0.conv1.weight"]
    with pytest.raises(InputError, match="layer2.0.conv1.weight"):
        load_torchvision_resnet(net, state)
    bad = dict(ResNet(34, 0.5, num_stages=3).state_dict())
    with pytest.raises(InputError, match="shape"):
        load_torchvision_resnet(net, bad)
    path = tmp_path / "r.pth"
    torch.save(net.state_dict(), path)
    assert load_torchvision_resnet(ResNet(18, 0.25, num_stages=3), path) == []
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="r.pth"):
        load_torchvision_resnet(net, path)
