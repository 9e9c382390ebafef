"""Person detectors: where the actor boxes of ``acrn detect`` and ``acrn proposals`` come from.

A person detector is a callable ``frames -> [(boxes, scores)]``: ``frames`` a sequence of ``uint8
[H, W, 3]`` RGB images, one ``(Tensor[N, 4] xyxy original pixels, Tensor[N] scores in [0, 1])`` pair
per frame. Two are built in:

- ``fastestdet``: FastestDet (COCO, BSD-3; ShuffleNetV2 + a single-scale head), acrn's own PyTorch
  implementation of the published network, weights downloaded on first use (:mod:`acrn.hub`);
- ``hog``: OpenCV's HOG people detector, needing no weight file (slower, upright people only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from acrn.errors import InputError

PersonDetector = Callable[[Sequence[np.ndarray]], list[tuple[Tensor, Tensor]]]
DETECTORS = ("fastestdet", "hog")


def build_person_detector(name: str = "fastestdet", score_thresh: float | None = None, max_persons: int = 50,
                          weights: str | Path | None = None) -> PersonDetector:
    """The person detector ``name`` (one of :data:`DETECTORS`).

    ``score_thresh`` ``None`` keeps the detector's own default; ``weights`` is a FastestDet state-dict
    file to use instead of the registered download.
    """
    if name == "fastestdet":
        from acrn import hub
        from acrn.persons.fastestdet import FastestDetPersons, load_fastestdet

        model = load_fastestdet(weights if weights else hub.weight_path("fastestdet"))
        kw = {} if score_thresh is None else {"score_thresh": score_thresh}
        return FastestDetPersons(model, max_persons=max_persons, **kw)
    if name == "hog":
        from acrn.persons.hog import HOGPersons

        if weights:
            raise InputError("--person-weights: the HOG detector has no weight file")
        kw = {} if score_thresh is None else {"score_thresh": score_thresh}
        return HOGPersons(max_persons=max_persons, **kw)
    raise InputError(f"unknown person detector {name!r}; choose one of {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "PersonDetector", "build_person_detector"]
