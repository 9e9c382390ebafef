"""Datasets: AVA, JHMDB-21, UCF101-24, custom AVA-format folders and the synthetic benchmark.

``build_dataset(cfg, split, train)`` returns a Dataset of :class:`acrn.structures.Sample`;
``collate(samples)`` makes a padded :class:`acrn.structures.Batch`. See ``docs/data.md``.

Names are imported on first use, so that light submodules (``acrn.data.flow``, ``acrn.data.video``)
load without torch in flow-extraction worker processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "build_dataset": "acrn.data.build", "ClipDataset": "acrn.data.clips", "ClipRecord": "acrn.data.clips",
    "DataLoadError": "acrn.data.clips", "FrameSources": "acrn.data.clips", "clip_indices": "acrn.data.clips",
    "collate": "acrn.data.clips",
}

if TYPE_CHECKING:
    from acrn.data.build import build_dataset
    from acrn.data.clips import ClipDataset, ClipRecord, DataLoadError, FrameSources, clip_indices, collate


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'acrn.data' has no attribute {name!r}")


__all__ = ["ClipDataset", "ClipRecord", "DataLoadError", "FrameSources", "build_dataset", "clip_indices", "collate"]
