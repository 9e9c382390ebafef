"""Inputs of the control experiments of issue #17: what a model sees when only the actor's box is left.

``crop_only`` is the input of the *crop-only* Base-Model: if a model trained on it still separates
catch/throw or give/receive, the benchmark leaks the relational label into the actor's own pixels.
"""

from __future__ import annotations

import numpy as np


def box_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """``bool[H, W]``: True on every pixel that any box ``float[N, 4]`` (x1, y1, x2, y2 pixels) touches.

    Partly covered pixels count as inside: the anti-aliased rim of a figure belongs to the actor.
    """
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in np.atleast_2d(np.asarray(boxes, float)):
        c1, r1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        c2, r2 = min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2)))
        mask[r1:r2, c1:c2] = True
    return mask


def crop_only(clip: np.ndarray, boxes: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """The clip with every pixel outside the key-frame actor box(es) blanked.

    clip: ``uint8[T, H, W, 3]``; boxes: ``float[4]`` or ``float[N, 4]`` key-frame boxes (x1, y1, x2, y2
    pixels) whose pixels are kept in every frame (as a RoI pooling of the key-frame box sees them).
    fill: ``uint8[3]``; default the clip's mean colour. One colour for the whole clip, not a per-frame
    mean: a per-frame value would change as the entity moves and carry its motion into the input.
    Returns a new ``uint8[T, H, W, 3]`` array.
    """
    clip = np.asarray(clip)
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
        raise ValueError(f"clip must be uint8[T, H, W, 3], got {clip.dtype}{list(clip.shape)}")
    if fill is None:
        fill = np.round(clip.reshape(-1, 3).mean(0))
    keep = box_mask(boxes, clip.shape[1], clip.shape[2])
    out = np.empty_like(clip)
    out[:] = np.asarray(fill, np.uint8)
    out[:, keep] = clip[:, keep]
    return out
