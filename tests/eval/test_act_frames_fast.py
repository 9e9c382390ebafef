"""The whole-file frame-detections reader (act_frames._fast_frame_dets) against Python's float()/int() per field
and against the general block reader (same values bit for bit, same errors)."""

import random

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.eval import act_frames
from acrn.eval.act_io import FRAME_HEADER
from acrn.eval.numparse import parse_plain, parse_short


def _number(rnd: random.Random) -> str:
    kind = rnd.random()
    if kind < 0.1:  # Python's parsers decide: exponents, '+', long mantissas, odd spellings
        return rnd.choice(["1e3", "-2.5E-2", "+7", "123456789.5", "0.1234567890123456789", "1_0", " 5", "5.",
                           ".5", "-.25", "-0", "-0.0", "00012", "99999999", "-99999999", "9999999.9"])
    sign = "-" if rnd.random() < 0.3 else ""
    whole = str(rnd.randint(0, 10 ** rnd.randint(0, 7)))
    if kind < 0.4:
        return sign + whole
    return f"{sign}{whole}.{rnd.randint(0, 10 ** rnd.randint(1, 8)):0{rnd.randint(1, 8)}d}"[:9 + len(sign)]


def _integer(rnd: random.Random) -> str:
    return rnd.choice([str(rnd.randint(0, 10 ** rnd.randint(1, 6))), "-3", "+4", "007", "12345678901"])


def _rows(rnd: random.Random, n: int) -> list[list[str]]:
    names = ["v", "clip/with/a/long/name_0123456789", "é/ü", "x" * 64] + [f"c{i}/clip{i}" for i in range(30)]
    rows, name = [], names[0]
    for _ in range(n):
        if rnd.random() < 0.05:
            name = rnd.choice(names)
        rows.append([name, _integer(rnd), _integer(rnd)] + [_number(rnd) for _ in range(5)])
    return rows


def _write(path, rows) -> None:
    path.write_text(FRAME_HEADER + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")


def _general(path):
    fast = act_frames._fast_frame_dets
    act_frames._fast_frame_dets = lambda *a: None
    try:
        return act_frames.read_frame_dets(path)
    finally:
        act_frames._fast_frame_dets = fast


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_reader_matches_float_per_field(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(act_frames, "_BLOCK", 4096)  # many blocks, rows cut at varied offsets
    rnd = random.Random(seed)
    rows = _rows(rnd, 20000)
    path = tmp_path / "fd.csv"
    _write(path, rows)
    assert act_frames._fast_frame_dets(path, act_frames._FrameReader(path, "act", {}, False)) is not None
    fd = act_frames.read_frame_dets(path)
    vals = np.column_stack([fd.frame, fd.label, fd.score, fd.boxes]).astype(np.float64)
    want = np.array([[float(int(r[1])), float(int(r[2]))] + [float(x) for x in r[3:]] for r in rows])
    assert vals.tobytes() == want.tobytes()  # bit for bit, -0.0 included
    assert [fd.names[v] for v in fd.video] == [r[0] for r in rows]
    ref = _general(path)
    assert fd.names == ref.names
    for k in ("video", "frame", "label", "score", "boxes"):
        a, b = getattr(fd, k), getattr(ref, k)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), k


def test_parse_plain_agrees_with_float_and_parse_short():
    rnd = random.Random(2)
    alphabet = "0123456789.-+e \x80:"
    toks = ["", "-", ".", "-.", "--1", "1-", "1..2", "1.2.3", "\x801", "-12345678", "123456789", "1.2345678"]
    toks += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 10))) for _ in range(20000)]
    toks += [_number(rnd) for _ in range(20000)]
    data = ("x" * 8 + "," + ",".join(toks) + ",").encode("utf-8")
    buf = np.frombuffer(data, np.uint8)
    seps = np.flatnonzero(buf == 44)
    s, e = seps[:-1] + 1, seps[1:]
    val, ok, dot = parse_plain(buf, s, e)
    _, ok_short, _ = parse_short(buf, s, e)
    assert ok.any() and not (ok_short & ~ok).any()  # every token parse_short decodes, parse_plain does too
    for i in np.flatnonzero(ok):
        raw = data[s[i]:e[i]]
        assert val[i].tobytes() == np.float64(float(raw)).tobytes(), raw
        assert dot[i] == (b"." in raw)


@pytest.mark.parametrize(("row", "match"), [
    ("v,1,0,0.9,1,2,abc,4", r"fd.csv:3: column 7 \(x2\) must be a number, got 'abc'"),
    ("v,1,0.0,0.9,1,2,3,4", r"fd.csv:3: column 3 \(label\) must be an integer"),
    ("v,1,0,0.9,1,2,3", r"fd.csv:3: expected 8 columns"),
    ("v,1,0,inf,1,2,3,4", r"fd.csv:3: column 4 \(score\) must be finite"),
    ("v,1,0,0.9,1,2,3,4\r", None),  # CR line ends: the general reader's per-row path
    ('"v,w",1,0,0.9,1,2,3,4', None),  # quoted name
])
def test_malformed_rows_give_the_general_readers_errors(tmp_path, row, match):
    path = tmp_path / "fd.csv"
    path.write_text(f"{FRAME_HEADER}\nv,1,0,0.5,1,2,3,4\n{row}\nv,2,0,0.5,1,2,3,4\n", newline="")
    assert act_frames._fast_frame_dets(path, act_frames._FrameReader(path, "act", {}, False)) is None
    if match is None:
        fd, ref = act_frames.read_frame_dets(path), _general(path)
        assert fd.names == ref.names and fd.boxes.tobytes() == ref.boxes.tobytes()
        return
    with pytest.raises(InputError, match=match):
        act_frames.read_frame_dets(path)
