"""Export a trained detector for deployment: ONNX (``torch.onnx.export``) or TorchScript.

The exported graph is :class:`ExportedDetector`: a clip and actor boxes in; per-actor class scores, refined
boxes and relation heatmaps out. Actor boxes come from the user's person detector or from ``acrn
proposals`` (the RPN and NMS have data-dependent shapes and stay in Python). Inputs:

* ``clip``: ``Tensor[1, 3, T, H, W]`` float, normalised like the training data (``data.mean/std``).
* ``boxes``: ``Tensor[R, 4]`` xyxy pixels of the clip's key frame (R may vary between calls).

Outputs: ``scores`` ``Tensor[R, C]`` (sigmoid or softmax without background), ``boxes``
``Tensor[R, 4]`` (refined and clipped when the model regresses boxes, else the input boxes), and
``heatmaps`` ``Tensor[R, C, h, w]`` (ACRN; zeros of shape ``[R, C, 1, 1]`` for other heads).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn

from acrn.errors import InputError
from acrn.structures import Batch


class ExportedDetector(nn.Module):
    """``(clip Tensor[1, 3, T, H, W], boxes Tensor[R, 4]) -> (scores [R, C], boxes [R, 4], heatmaps [R, C, h, w])``."""

    def __init__(self, detector: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.detector = detector.eval()
        self.num_classes = num_classes

    def forward(self, clip: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        from acrn.models.losses import BOX_CODER_WEIGHTS
        from acrn.ops import decode_boxes

        m = self.detector
        h, w = clip.shape[-2], clip.shape[-1]
        batch = Batch(clips=clip, image_sizes=torch.tensor([[h, w]]), boxes=[boxes], labels=[boxes[:, :0]],
                      metas=[{}], keyframes=clip[:, :, clip.shape[2] // 2])
        endpoints, fmap = m.features(batch)
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], 1)  # Tensor[R, 5], clip index 0
        out = m.classify(endpoints, fmap, rois, batch)
        logits = out["logits"]
        scores = torch.sigmoid(logits) if m.multilabel else torch.softmax(logits, 1)[:, 1:]
        refined = boxes
        if out.get("box_deltas") is not None:
            refined = decode_boxes(out["box_deltas"], boxes, BOX_CODER_WEIGHTS)
            refined = torch.stack([refined[:, 0].clamp(0, w), refined[:, 1].clamp(0, h),
                                   refined[:, 2].clamp(0, w), refined[:, 3].clamp(0, h)], 1)
        if "relation_map" in out:
            heat = m.heatmaps_from_map(out["relation_map"])
        else:
            heat = scores.new_zeros(scores.shape[0], scores.shape[1], 1, 1)
        return scores, refined, heat


def example_inputs(num_frames: int, size: tuple[int, int], num_boxes: int = 3) -> tuple[Tensor, Tensor]:
    """A random clip and ``num_boxes`` valid boxes, for tracing and for checking an export."""
    g = torch.Generator().manual_seed(0)
    h, w = size
    clip = torch.randn(1, 3, num_frames, h, w, generator=g)
    xy = torch.rand(num_boxes, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5])
    wh = (0.2 + 0.3 * torch.rand(num_boxes, 2, generator=g)) * torch.tensor([w, h])
    return clip, torch.cat([xy, xy + wh], 1)


def export_onnx(module: ExportedDetector, path: str | Path, inputs: tuple[Tensor, Tensor], opset: int = 18) -> Path:
    """Write ONNX (``torch.export`` based exporter, needs onnxscript) with a dynamic number of boxes ``R``;
    the clip size is fixed to the example's. Written to a temporary name, then renamed. The optimisation
    pass is needed: without it onnxruntime 1.32 rejects the Conv3d bias layout the exporter emits."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.onnx.export(module, inputs, str(tmp), input_names=["clip", "boxes"],
                          output_names=["scores", "refined_boxes", "heatmaps"], opset_version=opset,
                          dynamic_shapes={"clip": None, "boxes": {0: torch.export.Dim("R", min=1, max=4096)}},
                          dynamo=True, optimize=True, verbose=False)
        tmp.replace(path)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    return path


@contextmanager
def _int_sizes_for_tracing() -> Iterator[None]:
    """Under ``torch.jit.trace`` tensor sizes are tensors, and ``round(size * scale)`` in the scene-map resize
    (acrn.models.relation) has no ``__round__`` for them; round through ``float`` instead, which bakes the map
    size of the traced input into the graph (the export is for a fixed clip size anyway)."""
    from acrn.models import relation

    relation.round = lambda v, *nd: builtins.round(float(v), *nd)
    try:
        yield
    finally:
        del relation.round


def export_torchscript(module: ExportedDetector, path: str | Path, inputs: tuple[Tensor, Tensor]) -> Path:
    """Write a traced TorchScript module (``torch.jit.load`` it anywhere libtorch runs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with torch.no_grad(), _int_sizes_for_tracing():
        traced = torch.jit.trace(module, inputs, check_trace=False)
    traced.save(str(tmp))
    tmp.replace(path)
    return path


def run_onnx(path: str | Path, clip: Tensor, boxes: Tensor) -> list:
    """Run an exported file in onnxruntime (the optional ``export`` extra) on CPU."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError("onnxruntime is not installed: pip install 'acrn[export]'") from None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"clip": clip.numpy(), "boxes": boxes.numpy()})
