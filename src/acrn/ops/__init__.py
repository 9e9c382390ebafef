"""Box and ROI operators in pure PyTorch (CPU and CUDA); torchvision kernels are used where available.

Boxes are (x1, y1, x2, y2) in absolute pixels everywhere (see acrn.structures).
"""

from acrn.ops.box_nms import batched_nms, nms
from acrn.ops.boxes import (
    BBOX_XFORM_CLIP,
    BoxCoder,
    box_area,
    box_iou,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    remove_small_boxes,
)
from acrn.ops.roi_align import roi_align

__all__ = [
    "BBOX_XFORM_CLIP",
    "BoxCoder",
    "batched_nms",
    "box_area",
    "box_iou",
    "clip_boxes",
    "decode_boxes",
    "encode_boxes",
    "nms",
    "remove_small_boxes",
    "roi_align",
]
