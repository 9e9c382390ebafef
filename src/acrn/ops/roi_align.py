"""ROI align (Mask R-CNN, He et al. 2017) with torchvision's exact semantics, in pure PyTorch.

For ROI k and output bin (ph, pw) torchvision averages bilinear samples of the feature map at a regular
grid of gh x gw points inside the bin. Both the sample positions and torchvision's boundary rules act on
y and x separately (a point outside [-1, H] x [-1, W] gives 0; a coordinate below 0 is read at 0, one
above H-1 at H-1), and the bilinear weight of a point at y on row r is the tent max(0, 1 - |y - r|). So
the whole pooled map is a product of two small matrices with the feature map:

    out[k, c] = Ay[k] @ feature[b_k, c] @ Ax[k]^T,   Ay[k]: Tensor[oh, H],  Ax[k]: Tensor[ow, W]

where Ay[k][ph, r] is the mean over the gh sample rows of bin ph of their tent weight on row r (and
likewise Ax). This is exact, batched over the ROIs of each image with two matmuls, and its backward (a
transposed matmul) is what autograd gives for free. Host syncs: none with one feature map and a fixed
sampling ratio (the traceable, exportable case); one to group ROIs by image when N > 1; one for the
adaptive ratio. The ACRN actor features (paper Sec. 3.1/4.1) are ROI-aligned on every
frame of the Mixed_4f map: a 5D input is pooled per frame with the same boxes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acrn.ops import _backend

BoxesArg = Tensor | list[Tensor] | tuple[Tensor, ...]


def _pair(output_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(output_size, int):
        return output_size, output_size
    oh, ow = output_size
    return int(oh), int(ow)


def boxes_to_rois(boxes: BoxesArg, like: Tensor) -> Tensor:
    """Tensor[K, 5] (batch_index, x1, y1, x2, y2) on ``like``'s device, in float32 or wider.

    Args:
        boxes: Tensor[K, 5] already in that form, or a list with one Tensor[k_i, 4] per image.
        like: the feature map; its dtype if at least float32 (half-precision maps keep float32 boxes,
            so that sample positions are not rounded to fp16's coarse steps).
    """
    dtype = torch.promote_types(like.dtype, torch.float32)
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if b.dim() != 2 or b.shape[1] != 4:
                raise ValueError(f"roi_align: boxes[{i}] must be Tensor[k, 4], got {tuple(b.shape)}")
        if not boxes:
            return torch.zeros((0, 5), dtype=dtype, device=like.device)
        cat = torch.cat([b.to(device=like.device, dtype=dtype) for b in boxes])
        index = torch.cat([torch.full((len(b), 1), i, dtype=dtype, device=like.device) for i, b in enumerate(boxes)])
        return torch.cat((index, cat), dim=1)
    if boxes.dim() != 2 or boxes.shape[1] != 5:
        raise ValueError(
            f"roi_align: boxes must be Tensor[K, 5] (batch_index, x1, y1, x2, y2), got {tuple(boxes.shape)}"
        )
    return boxes.to(device=like.device, dtype=dtype)


def _tent(pos: Tensor, length: int) -> Tensor:
    """Bilinear weights, Tensor[..., length], of sample coordinates ``pos``: Tensor[...] on a 1D axis."""
    inside = (pos >= -1.0) & (pos <= length)  # torchvision: points beyond one pixel outside give 0
    pos = pos.clamp(min=0, max=length - 1)
    grid = torch.arange(length, device=pos.device, dtype=pos.dtype)
    return (1 - (pos[..., None] - grid).abs()).clamp(min=0) * inside[..., None]


def _axis_weights(start: Tensor, size: Tensor, bins: int, length: int, sampling_ratio: int) -> Tensor:
    """Tensor[K, bins, length]: mean bilinear weight of each bin's sample points along one axis.

    Args:
        start, size: Tensor[K] ROI start and extent on this axis, in feature-map pixels.
        sampling_ratio: samples per bin; <= 0 means ceil(size / bins) per ROI (torchvision's adaptive rule).
    """
    bin_size = size / bins
    ph = torch.arange(bins, device=start.device, dtype=start.dtype)
    if sampling_ratio > 0:
        grids = None
        groups = [sampling_ratio]
    else:
        grids = torch.ceil(size / bins).long()  # per ROI; ROIs sharing a grid are done together
        groups = torch.unique(grids).tolist()  # one host sync; the fixed-ratio path needs none
    out = start.new_zeros((start.shape[0], bins, length))
    for g in groups:
        if g <= 0:  # empty ROI with aligned=True: torchvision takes no sample and returns 0
            continue
        sel = None if grids is None else torch.where(grids == g)[0]
        s = start if sel is None else start[sel]
        bs = bin_size if sel is None else bin_size[sel]
        it = torch.arange(g, device=start.device, dtype=start.dtype) + 0.5
        # Same operation order as torchvision: start + ph * bin + (iy + .5) * bin / grid.
        pos = s[:, None, None] + ph[None, :, None] * bs[:, None, None] + it * bs[:, None, None] / g  # [k, bins, g]
        w = _tent(pos, length).sum(dim=2) / g
        if sel is None:
            out = w
        else:
            out = out.index_copy(0, sel, w)
    return out


def _roi_align_torch(
    input: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int, aligned: bool
) -> Tensor:
    """Pure PyTorch ROI align: Tensor[N, C, H, W], Tensor[K, 5] -> Tensor[K, C, oh, ow]."""
    n, c, h, w = input.shape
    oh, ow = output_size
    rois = rois.detach()  # like torchvision: no gradient flows into the boxes
    offset = 0.5 if aligned else 0.0  # aligned: pixel centres sit at integer + 0.5
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    rw = rois[:, 3] * spatial_scale - offset - x1
    rh = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:  # legacy behaviour: ROIs are at least 1x1 feature pixels
        rw = rw.clamp(min=1.0)
        rh = rh.clamp(min=1.0)
    ay = _axis_weights(y1, rh, oh, h, sampling_ratio).to(input.dtype)  # [K, oh, H]
    ax = _axis_weights(x1, rw, ow, w, sampling_ratio).to(input.dtype)  # [K, ow, W]
    if n == 1 or rois.shape[0] == 0:
        return _pool(input[0], ay, ax)
    # Group ROIs by image so that each image's map is read by one matmul (one host sync for the counts).
    image = rois[:, 0].long()
    counts = torch.bincount(image, minlength=n).tolist()
    if len(counts) > n:
        raise ValueError(f"roi_align: batch index {len(counts) - 1} out of range for {n} feature maps")
    order = torch.argsort(image, stable=True)
    parts = [
        _pool(input[i], ay_i, ax_i)
        for i, (ay_i, ax_i) in enumerate(zip(ay[order].split(counts), ax[order].split(counts)))
        if counts[i]
    ]
    return torch.cat(parts)[torch.argsort(order)]


def _pool(feat: Tensor, ay: Tensor, ax: Tensor) -> Tensor:
    """Tensor[C, H, W] map, Tensor[k, oh, H] and Tensor[k, ow, W] weights -> Tensor[k, C, oh, ow]."""
    c, h, w = feat.shape
    k, oh, _ = ay.shape
    ow = ax.shape[1]
    rows = ay.reshape(k * oh, h) @ feat.transpose(0, 1).reshape(h, c * w)  # [(k oh), (C W)]
    out = rows.reshape(k, oh * c, w) @ ax.transpose(1, 2)  # [k, (oh C), ow]
    return out.reshape(k, oh, c, ow).permute(0, 2, 1, 3).contiguous()


def roi_align(
    input: Tensor,
    boxes: BoxesArg,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """ROI align with torchvision's semantics, on 4D maps or per frame on 5D maps.

    Args:
        input: Tensor[N, C, H, W] or Tensor[N, C, T, H, W] feature maps.
        boxes: Tensor[K, 5] rows (batch_index, x1, y1, x2, y2), or a list of Tensor[k_i, 4], one per
            image/clip, in input-image pixels (xyxy).
        output_size: (oh, ow) or an int for both.
        spatial_scale: feature-map pixels per input pixel (1 / stride).
        sampling_ratio: sample points per bin along each axis; <= 0: adaptive ceil(roi_size / output_size)
            per ROI (costs one host sync and cannot be exported with torch.export; a fixed ratio can).
        aligned: shift boxes by -0.5 pixel so that pixel centres are at half-integers (Detectron2's
            ROIAlignV2); False keeps the original Mask R-CNN behaviour (and ROIs at least 1x1).
    Returns:
        Tensor[K, C, oh, ow], or Tensor[K, C, T, oh, ow] for a 5D input. No gradient flows to ``boxes``.
    """
    if input.dim() not in (4, 5):
        raise ValueError(f"roi_align: input must be Tensor[N, C, H, W] or [N, C, T, H, W], got {tuple(input.shape)}")
    if sampling_ratio <= 0 and torch.compiler.is_exporting():
        # The adaptive grid groups ROIs by a data-dependent sample count, which torch.export cannot trace.
        raise ValueError("roi_align: adaptive sampling_ratio (<= 0) cannot be exported; use a fixed ratio, e.g. 2")
    rois = boxes_to_rois(boxes, input)
    size = _pair(output_size)
    maps = input if input.dim() == 4 else input.flatten(1, 2)  # [N, C*T, H, W]: frames pooled as channels
    if _backend.USE_TORCHVISION:
        out = _backend.tv_ops.roi_align(maps, rois.to(maps.dtype), size, spatial_scale, sampling_ratio, aligned)
    else:
        out = _roi_align_torch(maps, rois, size, float(spatial_scale), int(sampling_ratio), bool(aligned))
    if input.dim() == 5:
        out = out.reshape(rois.shape[0], input.shape[1], input.shape[2], *size)
    return out


__all__ = ["roi_align", "boxes_to_rois"]
