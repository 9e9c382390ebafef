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

    val, _, _ = run(toks)
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


def _expected(doc):
    """(names, label, score, counts, rows) from json.loads' result, as parse_tubes_json must give them."""
    names = list(doc)
    tubes = [t for v in names for t in doc[v]]
    rows = [r for t in tubes for r in t["boxes"]]
    return (names, [len(doc[v]) for v in names], [t["label"] for t in tubes], [t["score"] for t in tubes],
            [len(t["boxes"]) for t in tubes], rows)


def _agrees(text: bytes) -> bool:
    """parse_tubes_json(text) is None, or it equals json.loads (which must then accept the text), bit for bit."""
    got = parse_tubes_json(text)
    if got is None:
        return True
    names, per_video, label, score, counts, rows = _expected(json.loads(text))
    if any(type(x) is not int for x in label) or any(len(r) != 5 for r in rows):
        return False
    want_rows = np.array(rows, float).reshape(-1, 5)
    return (got.names == names and np.array_equal(np.bincount(got.video, minlength=len(names)), per_video)
            and got.label.tolist() == label and np.array_equal(got.score, np.array(score, float))
            and np.array_equal(np.signbit(got.score), np.signbit(np.array(score, float)))
            and got.counts.tolist() == counts and np.array_equal(got.rows, want_rows)
            and np.array_equal(np.signbit(got.rows), np.signbit(want_rows)))


_ALPHABET = b'[]{}",: 0123456789.-+eE\nx'


@pytest.mark.parametrize("block", [1 << 19, 40, 7])  # small blocks: cuts after every few rows
def test_mutated_documents_are_refused_or_read_as_json_loads_reads_them(monkeypatch, block):
    """Random one- and two-byte edits of a valid document (insert, delete, replace with structure, digits,
    letters): the fast path never accepts what json.loads refuses, and never reads another value."""
    monkeypatch.setattr(tubes_json, "BLOCK_BYTES", block)
    rng = np.random.default_rng(7)
    base = _doc(rng, nvid=3, ntubes=2).encode()
    assert parse_tubes_json(base) is not None and _agrees(base)
    accepted = 0
    for _ in range(600):
        t = bytearray(base)
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(0, len(t)))
            c = _ALPHABET[int(rng.integers(0, len(_ALPHABET)))]
            op = rng.integers(0, 3)
            if op == 0:
                t.insert(i, c)
            elif op == 1:
                del t[i]
            else:
                t[i] = c
        text = bytes(t)
        try:
            json.loads(text)
            valid = True
        except ValueError:
            valid = False
        got = parse_tubes_json(text)
        assert valid or got is None, text
        assert _agrees(text), text
        accepted += got is not None
    assert accepted > 40  # edits of digits keep many documents valid: those take the fast path


@pytest.mark.parametrize("text", [
    b'\n {"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}]}\n',  # whitespace around the object
    b'{"v]": [{"label": 0, "score": 1e-05, "boxes": [[1, -0, -0.0, 9, 9], [2, 0, 0, 9, 9]]}], "w, x": []}',
    b'{"a:b": [{"label": 3, "score": 0.1000000000000000055511151231257827, "boxes": [[12345678901, 1.5E3, 0, '
    b'-12.25, 99999999]]}], "\xc3\xa9": [{"label": 0, "score": -0, "boxes": [[1, 0, 0, 9, 9]]}]}',
    b'{}',
])
def test_edge_values_and_names(monkeypatch, text):
    for block in (1 << 19, 5):
        monkeypatch.setattr(tubes_json, "BLOCK_BYTES", block)
        assert parse_tubes_json(text) is not None and _agrees(text)


@pytest.mark.parametrize("text", [
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9][2, 0, 0, 9, 9]], }]}',  # a comma moved
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]], [2, 0, 0, 9, 9]}]}',  # a row outside
    b'{"v": [{"label": 0, "score": 0.5, "boxes", [[1, 0, 0, 9, 9]]}]}',  # a comma for a colon
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, [9, 9, 1, 2, 3], 9]]}]}',  # a row in a row
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}]}x',
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}], "w\tx": []}',  # a control character
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9]]}{"label": 0, "score": 0.5, "boxes": '
    b'[[1, 0, 0, 9, 9]]}]}',  # tubes without a comma
    b'{"v": [{"label": 0, "score": 0.5, "boxes": [[1, 0, 0, 9, 9\x00]]}]}',
])
def test_near_misses_go_to_json_loads(text):
    assert parse_tubes_json(text) is None


def test_long_tokens_follow_json_grammar():
    """Tokens over 8 bytes (numpy's cast path): accepted exactly when they are JSON numbers, values as float()."""
    import re

    grammar = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
    rng = np.random.default_rng(3)
    good = [repr(float(x)) for x in rng.random(200)] + ["-0.123456789012", "123456789012", "1.5e-07", "-0.0000000001"]
    bad = ["0123456789.5", "1234567890.", ".1234567890", "-.1234567890", "12345.678.9", "1234567890-1",
           "00.123456789", "-0123456789", "1234567890e", "12345678901+"]
    for tok in good + bad:
        blk = np.frombuffer(("        7 " + tok + "  ").encode(), np.uint8)
        s = np.array([8, 10])
        e = s + np.array([1, len(tok)])
        got = _numbers(blk, s, e)
        assert (got is not None) == bool(grammar.match(tok.encode())), tok
        if got is not None:
            assert got[0][1] == float(tok) and np.signbit(got[0][1]) == np.signbit(float(tok)), tok
