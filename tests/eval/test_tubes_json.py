"""The vectorised tubes-JSON reader equals json.loads bit for bit, and hands anything else to json.loads."""

import json

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval import tubes_json
from acrn.eval.act_io import _read_tubes_loaded, read_tubes, tubes_to_json
from acrn.eval.tubes_json import _numbers, parse_tubes_json


def _doc(rng, nvid=4, ntubes=3):
    tubes = {}
    for v in range(nvid):
        vt = []
        for _ in range(ntubes if v != 2 else 0):  # a video without tubes
            n = int(rng.integers(1, 6))
            f = np.arange(1, n + 1) + int(rng.integers(0, 5))
            b = np.column_stack([f, rng.normal(100, 80, (n, 4))])
            vt.append({"label": int(rng.integers(0, 3)), "score": float(rng.random()), "boxes": b})
        tubes[f"cls/v{v}"] = vt
    return tubes_to_json(tubes)


def _same(a, b):
    for f in ("video", "label", "score", "start", "length", "offset", "boxes"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and x.shape == y.shape, f
        assert np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y)), f


@pytest.mark.parametrize("block", [1 << 19, 64])  # small blocks: cuts between rows everywhere
def test_fast_path_equals_json_loads(tmp_path, monkeypatch, block):
    monkeypatch.setattr(tubes_json, "BLOCK_BYTES", block)
    rng = np.random.default_rng(0)
    text = _doc(rng, nvid=6, ntubes=5)
    assert parse_tubes_json(text.encode()) is not None
    p = tmp_path / "t.json"
    p.write_text(text)
    videos = [f"cls/v{v}" for v in range(6)]
    _same(read_tubes(p, videos, 3), _read_tubes_loaded(p, json.loads(text), videos, 3, None, "x"))


def test_numbers_equal_python_float_and_refuse_non_json():
    toks = ["1", "0", "-0", "-3.25", "103.079", "12.0", "99999999", "9999.999", "-0.0", "0.001", "1e5",
            "1.5E-3", "0.42424529999886884", "12345678.9", "-1234567"]
    rng = np.random.default_rng(1)
    toks += [repr(round(float(x), int(d))) for x, d in zip(rng.uniform(-999, 999, 500), rng.integers(0, 5, 500),
                                                          strict=True)]

    def run(ts):
        blk = np.frombuffer(("        " + " ".join(ts) + "  ").encode(), np.uint8)
        s = 8 + np.cumsum([0] + [len(t) + 1 for t in ts[:-1]])
        return _numbers(blk, s, s + np.array([len(t) for t in ts]))

    val, _ = run(toks)
    want = np.array([float(json.loads(t)) for t in toks])
    assert np.array_equal(val, want) and np.array_equal(np.signbit(val), np.signbit(want))
    for bad in ("01", "+1", ".5", "5.", "1.2.3", "-", "1-2", "1e"):
        assert run(["7", bad]) is None, bad


@pytest.mark.parametrize("text", [
    '{"v": [{"score": 0.5, "label": 0, "boxes": [[1, 0, 0, 9, 9]]}]}',  # another key order
    '{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]], "x": 1}]}',  # another key
    '{"v":[{"label":0,"score":0.5,"boxes":[[1,0,0,9,9]]}]}',  # compact separators
    '{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9]]}]}',  # 4 values in a row
    '{"v": [{"label": 0, "score": 0.5, "boxes": []}]}',
    '{"v": [{"label": 0, "score": NaN, "boxes": [[1, 0, 0, 9, 9]]}]}',
    '{"v": [{"label": 0.0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}]}',  # a float label (json path: int())
    '{"v\\u00e9": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}]}',  # an escape
    '{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}], "v": []}',  # a repeated key
    '{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9] [2, 0, 0, 9, 9]]}]}',  # a missing comma
    '[]',
])
def test_other_layouts_go_to_json_loads(text):
    assert parse_tubes_json(text.encode()) is None


def test_fast_path_errors_name_the_tube(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}, '
                 '{"label": 4, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}]}')
    with pytest.raises(InputError, match=r"t.json: v\[1\]: label 4 outside 0..2"):
        read_tubes(p, ["v"], 3)
    p.write_text('{"v": [{"label": 0, "score": 1e999, "boxes": [[1, 0, 0, 9, 9]]}]}')
    with pytest.raises(InputError, match=r"v\[0\]: score must be finite"):
        read_tubes(p, ["v"], 3)
