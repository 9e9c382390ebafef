"""FastestDet (dog-qiuqiu/FastestDet, BSD-3-Clause): a 0.24 M-parameter COCO detector, acrn's person detector.

The network is a ShuffleNetV2 trunk (widths 24/48/96/192, 4/8/4 blocks per stage) whose stride-8, -16 and -32
maps are brought to stride 16 (3x3 average pool, nearest 2x upsampling) and concatenated, an SPP-like block of
stacked depthwise 5x5 convolutions, and one anchor-free head on the stride-16 grid (22 x 22 cells at 352 px):
per cell one box, ``[objectness, dx, dy, w, h, 80 class scores]``. Module names follow the published state dict
(``backbone.first_conv.0.weight`` ...), so ``FastestDet-AP05-0.2532.pth`` loads with ``strict=True``.

Decoding (the model's published description): score = obj^0.6 * cls^0.4 with cls the best class of the cell;
centre = (cell index + tanh(offset)) / cells; width, height = sigmoid(w, h), both normalised to the input.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from acrn.errors import InputError
from acrn.ops import batched_nms

NUM_CLASSES = 80
PERSON = 0  # COCO class index of "person"
OBJ_POWER, CLS_POWER = 0.6, 0.4  # score = obj^0.6 * cls^0.4


def _conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, depthwise: bool = False,
             relu: bool = True) -> list[nn.Module]:
    """[Conv2d (no bias), BatchNorm2d] (+ ReLU): the unit every Sequential below is made of.

    Returned as a list so that callers concatenate units into one Sequential: the state dict indexes the
    layers of such a Sequential (``.0`` conv, ``.1`` bn, ``.2`` relu, ``.3`` next conv ...).
    """
    groups = cin if depthwise else 1
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class ShuffleBlock(nn.Module):
    """ShuffleNetV2 unit. ``Tensor[B, cin, H, W]`` -> ``Tensor[B, cout, H / stride, W / stride]``.

    Stride 1 (``cin == cout``): the channels are split into even and odd ones (the channel shuffle of the
    previous unit's concatenation followed by the split, in one step); the odd half goes through
    1x1 -> depthwise 3x3 -> 1x1 and is concatenated after the untouched even half.
    Stride 2: the whole input goes through both branches, a depthwise 3x3/2 + 1x1 projection
    (``branch_proj``) and the 1x1 -> depthwise 3x3/2 -> 1x1 main branch, concatenated.
    """

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        if stride not in (1, 2) or (stride == 1 and cin != cout):
            raise ValueError(f"ShuffleBlock: stride 1 needs cin == cout, stride 2 any; got {cin}, {cout}, {stride}")
        main_in = cin if stride == 2 else cin // 2
        mid = cout // 2
        main_out = cout - cin if stride == 2 else cin // 2
        self.branch_main = nn.Sequential(
            *_conv_bn(main_in, mid),
            *_conv_bn(mid, mid, 3, stride, depthwise=True, relu=False),
            *_conv_bn(mid, main_out),
        )
        self.branch_proj = None
        if stride == 2:
            self.branch_proj = nn.Sequential(
                *_conv_bn(cin, cin, 3, 2, depthwise=True, relu=False),
                *_conv_bn(cin, cin),
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.branch_proj is not None:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), dim=1)
        return torch.cat((x[:, 0::2], self.branch_main(x[:, 1::2])), dim=1)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 0.5x trunk. ``Tensor[B, 3, H, W]`` -> stride 8, 16, 32 maps with 48, 96, 192 channels."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 192), repeats: tuple[int, ...] = (4, 8, 4)):
        super().__init__()
        self.first_conv = nn.Sequential(*_conv_bn(3, widths[0], 3, 2))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = widths[0]
        for name, cout, n in zip(("stage2", "stage3", "stage4"), widths[1:], repeats):
            blocks = [ShuffleBlock(cin, cout, 2)] + [ShuffleBlock(cout, cout, 1) for _ in range(n - 1)]
            setattr(self, name, nn.Sequential(*blocks))
            cin = cout

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c3 = self.stage2(self.maxpool(self.first_conv(x)))
        c4 = self.stage3(c3)
        return c3, c4, self.stage4(c4)


class PointwiseConv(nn.Module):
    """1x1 conv + BN + ReLU. ``Tensor[B, cin, H, W]`` -> ``Tensor[B, cout, H, W]``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1x1 = nn.Sequential(*_conv_bn(cin, cout))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv1x1(x)


class SPP(nn.Module):
    """Spatial-pyramid-like context block. ``Tensor[B, cin, H, W]`` -> ``Tensor[B, cout, H, W]``.

    After a 1x1 reduction, chains of 1, 2 and 3 depthwise 5x5 convolutions give receptive fields of 5, 9
    and 13 cells (instead of max-pools of those sizes); their concatenation is projected back with a 1x1
    conv and added to the reduced input (residual), then ReLU.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.Conv1x1 = PointwiseConv(cin, cout)
        for i in (1, 2, 3):
            layers = [m for _ in range(i) for m in _conv_bn(cout, cout, 5, depthwise=True)]
            setattr(self, f"S{i}", nn.Sequential(*layers))
        self.output = nn.Sequential(*_conv_bn(3 * cout, cout, relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv1x1(x)
        y = torch.cat((self.S1(x), self.S2(x), self.S3(x)), dim=1)
        return self.relu(x + self.output(y))


class HeadBranch(nn.Module):
    """Depthwise 5x5 + BN + ReLU, then 1x1 + BN (no activation). ``Tensor[B, cin, H, W]`` -> ``[B, cout, H, W]``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv5x5 = nn.Sequential(*_conv_bn(cin, cin, 5, depthwise=True), *_conv_bn(cin, cout, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv5x5(x)


class DetectHead(nn.Module):
    """Shared 1x1, then objectness, box and class branches. ``Tensor[B, cin, h, w]`` -> ``[B, 5 + classes, h, w]``.

    Channel 0 is sigmoid(objectness), 1-4 the raw box regression (dx, dy, w, h), 5... the class softmax.
    """

    def __init__(self, cin: int, num_classes: int):
        super().__init__()
        self.conv1x1 = PointwiseConv(cin, cin)
        self.obj_layers = HeadBranch(cin, 1)
        self.reg_layers = HeadBranch(cin, 4)
        self.cls_layers = HeadBranch(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1x1(x)
        obj = torch.sigmoid(self.obj_layers(x))
        cls = torch.softmax(self.cls_layers(x), dim=1)
        return torch.cat((obj, self.reg_layers(x), cls), dim=1)


class FastestDet(nn.Module):
    """FastestDet detector network.

    ``forward(x: Tensor[B, 3, H, W])``, BGR in [0, 1], H and W divisible by 32 (352 as trained)
    -> ``Tensor[B, 5 + num_classes, H / 16, W / 16]``, the same values as the published ONNX graph:
    ``[sigmoid(obj), dx, dy, w, h, softmax(classes)]`` per cell (decode with :func:`decode_fastestdet`).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, widths: tuple[int, ...] = (24, 48, 96, 192),
                 repeats: tuple[int, ...] = (4, 8, 4)):
        super().__init__()
        self.backbone = ShuffleNetV2(widths, repeats)
        self.SPP = SPP(sum(widths[1:]), widths[2])
        self.detect_head = DetectHead(widths[2], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"FastestDet: input must be Tensor[B, 3, H, W], H and W multiples of 32; "
                             f"got {tuple(x.shape)}")
        c3, c4, c5 = self.backbone(x)
        # Bring the stride-8 and stride-32 maps to the stride-16 grid (count_include_pad as in the ONNX graph).
        c3 = F.avg_pool2d(c3, kernel_size=3, stride=2, padding=1)
        c5 = F.interpolate(c5, scale_factor=2.0, mode="nearest")
        return self.detect_head(self.SPP(torch.cat((c3, c4, c5), dim=1)))


def fuse_batchnorm(model: FastestDet) -> FastestDet:
    """Eval-mode copy of ``model`` with every BatchNorm folded into the conv before it (``model`` unchanged).

    Same outputs to float rounding, with a third fewer kernels; the copy no longer takes the published
    state dict (its BN keys are gone), so keep the original for checkpoints.
    """
    fused = copy.deepcopy(model).eval()
    for seq in [m for m in fused.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    return fused


def load_fastestdet(path: str | Path) -> FastestDet:
    """The published network from a state-dict file, strictly and safely (``weights_only``), in eval mode.

    Raises InputError (one line naming the file and the first bad key) when the file cannot be read, is
    not a state dict, or lacks, adds or mis-shapes a key.
    """
    path = str(path)
    if not Path(path).is_file():
        raise InputError(f"{path}: FastestDet checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, or a pickle that would run code: one line, no traceback
        raise InputError(f"{path}: cannot read FastestDet checkpoint ({_load_error(e)})") from None
    model = FastestDet()
    _check_state(state, model.state_dict(), path)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _load_error(e: Exception) -> str:
    """The useful part of torch.load's error, on one line (its weights_only refusals span a paragraph)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # torch bolds part of the message with terminal escapes
    if "Weights only load failed" in text:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:  # a pickle of objects other than tensors: loading it could run code
            return f"refused by the safe weights_only loader: it references {found.group(1)}; a state dict " \
                   "holds tensors only"
        return "not a PyTorch checkpoint: the safe weights_only loader cannot parse it"
    first = (text.strip().splitlines() or [""])[0][:200]
    return f"{e.__class__.__name__}: {first}"


def _check_state(state: object, expected: Mapping[str, Tensor], path: str) -> None:
    """InputError naming the first key that is missing, unexpected, not a tensor or of the wrong shape."""
    if not isinstance(state, Mapping):
        raise InputError(f"{path}: not a FastestDet state dict (a {type(state).__name__}, expected a dict of tensors)")
    for key, ref in expected.items():
        if key not in state:
            raise InputError(f"{path}: missing key {key} (expected shape {list(ref.shape)})")
        value = state[key]
        if not isinstance(value, Tensor) or value.shape != ref.shape:
            got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise InputError(f"{path}: key {key} has shape {got}, expected {list(ref.shape)}")
    for key in state:
        if key not in expected:
            raise InputError(f"{path}: unexpected key {key} (not a FastestDet state dict?)")


def decode_fastestdet(out: Tensor, score_thresh: float, nms_iou: float = 0.45, max_dets: int = 100,
                      classes: tuple[int, ...] = (0,)) -> list[tuple[Tensor, Tensor]]:
    """Boxes and scores from the network output, per image.

    Each cell proposes one box of its best class (as the published evaluation does), scored
    obj^0.6 * cls^0.4; cells of a class in ``classes`` scoring above ``score_thresh`` are kept, then
    greedy NMS per class (IoU > ``nms_iou`` suppresses), then the ``max_dets`` best per image.

    Args:
        out: Tensor[B, 5 + num_classes, h, w], :class:`FastestDet`'s output.
    Returns:
        per image ``(boxes Tensor[N, 4], scores Tensor[N])``, float32 on ``out``'s device; boxes are
        (x1, y1, x2, y2) normalised to the input (clipped to [0, 1]), sorted by decreasing score.
    """
    if out.dim() != 4 or out.shape[1] < 6:
        raise ValueError(f"decode_fastestdet: out must be Tensor[B, 5 + classes, h, w], got {tuple(out.shape)}")
    b, c, h, w = out.shape
    pred = out.detach().float().permute(0, 2, 3, 1).reshape(b, h * w, c)  # [B, cells, C], cell = y * w + x
    cls_score, label = pred[..., 5:].max(dim=-1)
    score = pred[..., 0].clamp(min=0).pow(OBJ_POWER) * cls_score.clamp(min=0).pow(CLS_POWER)
    wanted = torch.isin(label, torch.as_tensor(classes, dtype=label.dtype, device=label.device))
    img, cell = torch.nonzero((score > score_thresh) & wanted, as_tuple=True)
    p = pred[img, cell]  # [K, C]
    cx = ((cell % w).to(p.dtype) + torch.tanh(p[:, 1])) / w
    cy = (torch.div(cell, w, rounding_mode="floor").to(p.dtype) + torch.tanh(p[:, 2])) / h
    half_w, half_h = torch.sigmoid(p[:, 3]) / 2, torch.sigmoid(p[:, 4]) / 2
    boxes = torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=1).clamp_(0, 1)
    scores = score[img, cell]
    # One NMS call for the whole batch: a group per (image, class) pair, so images never suppress each other.
    keep = batched_nms(boxes, scores, img * (c - 5) + label[img, cell], nms_iou)  # decreasing score
    keep = keep[torch.sort(img[keep], stable=True).indices]  # grouped by image, still by score inside
    counts = torch.bincount(img[keep], minlength=b).tolist()
    return [(boxes[k[:max_dets]], scores[k[:max_dets]]) for k in keep.split(counts)]


class FastestDetPersons:
    """Person detector: RGB frames of any size -> person boxes in each frame's own pixels.

    Frames are resized to ``input_size`` x ``input_size`` (bilinear: upstream trains and tests so; only its
    onnxruntime example uses INTER_AREA), turned to BGR / 255, run in batches of ``batch_size`` through a
    BatchNorm-folded, channels-last copy of ``model`` and decoded with :func:`decode_fastestdet` for COCO
    class 0. ``model`` itself is left as it is.
    """

    # Default score threshold, measured on demo.mp4 (280 frames: two arm-wrestlers filling the frame's
    # height, 4-6 people behind). At 0.5 both wrestlers have a box in 193 frames, with 2.1 frame-high boxes
    # and 2.9 other boxes (mostly the real people behind) per frame; at 0.4, 221 frames but 2.5 frame-high
    # boxes and 5.2 others (duplicates and part-of-a-person boxes creep in); at 0.6, 144 frames; at
    # upstream's demo value 0.65, 82. Scores obj^0.6 * cls^0.4 run high, hence 0.5, not a detector's usual 0.3.
    DEFAULT_SCORE_THRESH = 0.5

    def __init__(self, model: FastestDet, score_thresh: float = DEFAULT_SCORE_THRESH, nms_iou: float = 0.45,
                 max_persons: int = 50, input_size: int = 352, batch_size: int = 8):
        if input_size <= 0 or input_size % 32:
            raise ValueError(f"FastestDetPersons: input_size must be a positive multiple of 32, got {input_size}")
        if batch_size < 1:
            raise ValueError(f"FastestDetPersons: batch_size must be >= 1, got {batch_size}")
        self.score_thresh = score_thresh
        self.nms_iou = nms_iou
        self.max_persons = max_persons
        self.input_size = input_size
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        # Measured on 2 CPU threads (benchmarks/bench_persons.py), batch 8: eager 139 frames/s, BN folded 153,
        # BN folded + channels-last 352 (oneDNN runs the many depthwise convs far better in NHWC; with mkldnn
        # off, 28). torch.jit.trace + freeze adds ~12 % for ~1.2 s before the first frame, torch.compile
        # ~10 % for ~15-25 s: startup matters more to a CLI, so neither is used.
        self.net = fuse_batchnorm(model).to(memory_format=torch.channels_last)

    def preprocess(self, frames: Sequence[np.ndarray]) -> Tensor:
        """Tensor[B, 3, S, S] BGR in [0, 1] (channels-last memory) from uint8 RGB frames ``[H, W, 3]``."""
        size = (self.input_size, self.input_size)
        resized = []
        for i, f in enumerate(frames):
            if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
                got = f"{f.dtype} {f.shape}" if isinstance(f, np.ndarray) else type(f).__name__
                raise ValueError(f"FastestDetPersons: frame {i} must be uint8 [H, W, 3] RGB, got {got}")
            # cvtColor after the resize: 10x cheaper than a numpy [..., ::-1] copy of the batch.
            resized.append(cv2.cvtColor(cv2.resize(f, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_RGB2BGR))
        # The NCHW view of the [B, S, S, 3] array is already channels-last, the layout the network runs in.
        batch = torch.from_numpy(np.stack(resized)).to(self.device)
        return batch.permute(0, 3, 1, 2).float().div_(255)

    def __call__(self, frames: Sequence[np.ndarray]) -> list[tuple[Tensor, Tensor]]:
        """Per frame ``(boxes Tensor[N, 4] float32, scores Tensor[N])``: person boxes (x1, y1, x2, y2) in the
        frame's pixels, at most ``max_persons``, sorted by decreasing score in [0, 1]."""
        results: list[tuple[Tensor, Tensor]] = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                chunk = frames[start:start + self.batch_size]
                out = self.net(self.preprocess(chunk))
                dets = decode_fastestdet(out, self.score_thresh, self.nms_iou, self.max_persons, (PERSON,))
                for frame, (boxes, scores) in zip(chunk, dets):
                    h, w = frame.shape[:2]
                    scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=boxes.device)
                    results.append(((boxes * scale).cpu(), scores.cpu()))
        return results
