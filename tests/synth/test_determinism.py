"""Same seed, same bytes (in-process or pooled); finished datasets are reused; failures leave nothing."""

from __future__ import annotations

import hashlib
import json

import pytest
from synth_probe import TINY_KNOBS

from acrn.errors import InputError
from acrn.synth import generate


def digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_with_or_without_pool(tiny_root, tiny_root_pool):
    a, b = digest(tiny_root), digest(tiny_root_pool)
    assert a.keys() == b.keys()
    assert any(k.endswith(".mp4") for k in a) and any(k.endswith(".jpg") for k in a)
    assert [k for k in a if a[k] != b[k]] == []  # CSVs, pickles, meta, JPEGs and x264 mp4s alike


def test_other_seed_other_data(tiny_root, tmp_path):
    other = generate(tmp_path / "s4", "tiny", seed=4, workers=0, **TINY_KNOBS)
    assert (other / "annotations" / "train.csv").read_bytes() != (tiny_root / "annotations" / "train.csv").read_bytes()


def test_finished_dataset_is_reused(tmp_path):
    root = generate(tmp_path / "d", "tiny", videos=2, workers=0)
    stamp = (root / "meta.json").stat().st_mtime_ns
    marker = root / "videos" / "marker"
    marker.write_text("kept")  # a regeneration would replace the folder and lose this file
    assert generate(tmp_path / "d", "tiny", videos=2, workers=0) == root
    assert marker.exists() and (root / "meta.json").stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="other settings"):
        generate(tmp_path / "d", "tiny", videos=3, workers=0)
    generate(tmp_path / "d", "tiny", videos=3, workers=0, overwrite=True)
    assert not marker.exists() and len(json.loads((root / "meta.json").read_text())["splits"]["train"]) >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temporary folders left


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    import acrn.synth.generator as g

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(g, "write_annotations", boom)
    with pytest.raises(KeyboardInterrupt):
        g.generate(tmp_path / "d", "tiny", videos=2, workers=0)
    assert list(tmp_path.iterdir()) == []


def test_refuses_foreign_folder_and_bad_knobs(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a finished synthetic dataset"):
        generate(tmp_path / "mine", "tiny", workers=0)
    with pytest.raises(InputError, match="unknown synthetic-data knobs"):
        generate(tmp_path / "x", "tiny", colour=3)
    with pytest.raises(InputError, match="width"):
        generate(tmp_path / "x", "tiny", width=63)
    with pytest.raises(InputError, match="unknown synthetic preset"):
        generate(tmp_path / "x", "huge")
    with pytest.raises(InputError, match="twin"):
        generate(tmp_path / "x", "tiny", classes=("stand", "catch"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
