"""The compact ``.npz`` tubes file: same numbers as the JSON, checked like it, written by ``acrn link``."""

from __future__ import annotations

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval.act_io import read_tubes, write_tubes
from acrn.eval.tubes_npz import tubes_to_npz


def _tubes(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for v in ("a/1", "b/2", "c/3"):
        out[v] = []
        for _ in range(3):
            n = int(rng.integers(1, 6))
            f0 = int(rng.integers(1, 5))
            boxes = np.column_stack([np.arange(f0, f0 + n), rng.random((n, 4)) * 300])
            out[v].append({"label": int(rng.integers(0, 3)), "score": float(rng.random()), "boxes": boxes})
    out["b/2"][0]["boxes"] = out["b/2"][0]["boxes"][[0, 2]] if len(out["b/2"][0]["boxes"]) > 2 else \
        out["b/2"][0]["boxes"]  # a skipped frame somewhere
    return out


def _same(a, b) -> None:
    for name in ("video", "label", "score", "start", "length", "offset"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.boxes, b.boxes, equal_nan=True)


def test_npz_reads_as_the_json(tmp_path):
    tubes = _tubes()
    write_tubes(tmp_path / "t.json", tubes)
    write_tubes(tmp_path / "t.npz", tubes)
    assert (tmp_path / "t.npz").read_bytes()[:4] == b"PK\x03\x04"
    videos = ["b/2", "a/1"]  # c/3 outside the split: ignored with a warning in both
    w1, w2 = [], []
    _same(read_tubes(tmp_path / "t.json", videos, 3, w1), read_tubes(tmp_path / "t.npz", videos, 3, w2))
    assert [w.replace("t.json", "t.npz") for w in w1] == w2


def test_npz_compressed_and_empty(tmp_path):
    import io
    import zipfile

    tubes = _tubes(1)
    raw = tubes_to_npz(tubes)
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        arrays = {k[:-4]: np.load(io.BytesIO(z.read(k))) for k in z.namelist()}
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    write_tubes(tmp_path / "t.npz", tubes)
    _same(read_tubes(tmp_path / "c.npz", list(tubes), 3), read_tubes(tmp_path / "t.npz", list(tubes), 3))
    write_tubes(tmp_path / "e.npz", {})
    assert read_tubes(tmp_path / "e.npz", ["a/1"], 3, []).size == 0


def test_npz_refused(tmp_path):
    tubes = _tubes(2)
    write_tubes(tmp_path / "t.npz", tubes)
    with pytest.raises(InputError, match="label"):
        read_tubes(tmp_path / "t.npz", list(tubes), 1)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(InputError, match="not a tubes .npz"):
        read_tubes(tmp_path / "bad.npz", list(tubes), 3)
    np.savez(tmp_path / "short.npz", names=np.array(["a/1"]), video=np.zeros(1, np.int64),
             label=np.zeros(1, np.int64), score=np.ones(1), counts=np.array([3]), rows=np.zeros((2, 5)))
    with pytest.raises(InputError, match="counts add up"):
        read_tubes(tmp_path / "short.npz", ["a/1"], 3)
