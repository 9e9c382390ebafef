"""Drawing on frames: boxes with labels, and relation heatmaps overlaid (paper Figures 5-7).

Frames are ``uint8`` arrays ``[H, W, 3]`` in **RGB** order; boxes are xyxy pixels of that frame.
"""

from __future__ import annotations

import cv2
import numpy as np

GREEN = (40, 200, 60)
RED = (220, 40, 40)
BLUE = (40, 90, 230)
YELLOW = (240, 200, 20)


def upsample_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a ``[h, w]`` map to ``size = (H, W)``, as the paper's CAM visualisation does."""
    return cv2.resize(heatmap.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def heatmap_layer(heatmap: np.ndarray, size: tuple[int, int], alpha: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The colour layer of :func:`overlay_heatmap` for frames of ``size = (H, W)``: ``(colour * a, 1 - a)``,
    ``float32 [H, W, 3]`` and ``[H, W, 1]``, so that a video's frames can share one layer per key frame."""
    m = upsample_heatmap(heatmap, size)
    lo, hi = float(m.min()), float(m.max())
    m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    colour = cv2.applyColorMap((m * 255).astype(np.uint8), cv2.COLORMAP_HOT)[..., ::-1]  # BGR -> RGB
    a = (alpha * m)[..., None].astype(np.float32)
    return colour.astype(np.float32) * a, 1.0 - a


def blend_layer(frame: np.ndarray, layer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``frame * (1 - a) + colour * a`` as ``uint8`` (``layer`` from :func:`heatmap_layer`)."""
    coloured, keep = layer
    return (frame.astype(np.float32) * keep + coloured).clip(0, 255).astype(np.uint8)


def overlay_heatmap(frame: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a heatmap (any range, ``[h, w]``) onto ``frame`` as a red-yellow colour map.

    The map is upsampled to the frame and min-max normalised; low values stay transparent so the
    scene remains readable.
    """
    return blend_layer(frame, heatmap_layer(heatmap, frame.shape[:2], alpha))


def draw_box(frame: np.ndarray, box: np.ndarray | list[float], colour: tuple[int, int, int] = GREEN,
             text: str = "", thickness: int = 1) -> np.ndarray:
    """Draw one box (in place, returns ``frame``) with an optional label above it."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    cv2.rectangle(frame, (x1, y1), (x2, y2), colour, thickness, lineType=cv2.LINE_AA)
    if text:
        scale = max(0.3, min(frame.shape[:2]) / 600)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = max(th + 2, y1)
        cv2.rectangle(frame, (x1, ty - th - 2), (x1 + tw + 2, ty + base - 1), colour, -1)
        cv2.putText(frame, text, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    lineType=cv2.LINE_AA)
    return frame


def heatmap_peak(heatmap: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    """``(x, y)`` in frame pixels of the maximum of a ``[h, w]`` heatmap on a frame of ``size = (H, W)``.

    The peak is taken at the map's own resolution and mapped to the centre of its cell, so the result
    does not depend on interpolation (used by the pointing game).
    """
    h, w = heatmap.shape
    idx = int(np.argmax(heatmap))
    j, k = divmod(idx, w)
    return (k + 0.5) * size[1] / w, (j + 0.5) * size[0] / h


def contact_sheet(tiles: list[np.ndarray], columns: int, pad: int = 4) -> np.ndarray:
    """Tile equally sized ``[H, W, 3]`` images into one image, row by row, on a white background."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y:y + h, x:x + w] = t
    return sheet
