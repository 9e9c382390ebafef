"""Datasets: AVA, JHMDB-21, UCF101-24, custom AVA-format folders and the synthetic benchmark.

``build_dataset(cfg, split, train)`` returns a Dataset of :class:`acrn.structures.Sample`;
``collate(samples)`` makes a padded :class:`acrn.structures.Batch`. See ``docs/data.md``.
"""

from acrn.data.build import build_dataset
from acrn.data.clips import ClipDataset, ClipRecord, DataLoadError, FrameSources, clip_indices, collate

__all__ = ["ClipDataset", "ClipRecord", "DataLoadError", "FrameSources", "build_dataset", "clip_indices", "collate"]
