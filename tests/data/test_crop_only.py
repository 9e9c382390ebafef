"""The crop-only control: nothing outside the key frame's boxes reaches the network, the boxes' pixels do."""

from __future__ import annotations

import numpy as np
import pytest

from acrn.config import load_config
from acrn.data import build_dataset
from acrn.synth import generate
from acrn.synth.controls import box_mask


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("crop") / "tiny", "tiny", seed=5, videos=4, workers=0)


def _sets(root, crop: bool) -> list[str]:
    return [f"data.root={root}", "data.num_frames=4", "data.test_short_side=64", "data.num_workers=0",
            f"data.crop_only={str(crop).lower()}", "model.actors=file"]


@pytest.mark.parametrize("train", [False, True])
def test_outside_the_boxes_is_the_normalised_mean_and_inside_is_untouched(root, train: bool) -> None:
    import random

    plain = build_dataset(load_config(None, _sets(root, False)), "train", train=train)
    crop = build_dataset(load_config(None, _sets(root, True)), "train", train=train)
    for i in range(3):
        random.seed(i)  # the same augmentation for both
        a = plain[i]
        random.seed(i)
        b = crop[i]
        boxes = np.concatenate([a.boxes.numpy(), a.proposals.numpy()])
        _, t, h, w = a.clip.shape
        keep = box_mask(boxes, h, w)
        assert keep.any() and not keep.all()
        # blanked to the normalisation mean: 0 up to the uint8 rounding of mean * 255
        assert b.clip[:, :, ~keep].abs().max() < 0.5 / 255 / 0.225 + 1e-6
        assert np.array_equal(b.clip[:, :, keep].numpy(), a.clip[:, :, keep].numpy())
        assert np.array_equal(a.boxes.numpy(), b.boxes.numpy())
