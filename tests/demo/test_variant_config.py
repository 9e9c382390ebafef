"""The demo recipe adapts its training crop to the frame shape of the synthetic set it runs on."""

from __future__ import annotations

import json

import pytest

from acrn.demo.run import variant_config


def _data(tmp_path, width: int, height: int):
    root = tmp_path / f"synth-{width}x{height}"
    root.mkdir()
    (root / "meta.json").write_text(json.dumps({"width": width, "height": height}))
    return root


@pytest.mark.parametrize("size, crop", [((128, 128), 112), ((224, 112), 0)])
def test_non_square_sets_train_on_whole_frames(tmp_path, size, crop) -> None:
    cfg = variant_config(_data(tmp_path, *size), tmp_path / "out", ["model.head=acrn"], seed=0)
    assert cfg.data.train_crop == crop
    assert cfg.data.test_short_side == 112 and cfg.model.head == "acrn"


def test_an_explicit_crop_still_wins(tmp_path) -> None:
    cfg = variant_config(_data(tmp_path, 224, 112), tmp_path / "out", ["data.train_crop=96"], seed=0)
    assert cfg.data.train_crop == 96
