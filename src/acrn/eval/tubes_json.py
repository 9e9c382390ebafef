"""Vectorised reading of the tubes JSON ``{video: [{"label", "score", "boxes": [[frame, x1, y1, x2, y2]]}]}``.

``json.loads`` turns 2M box rows into 11M Python floats (seconds, and about a GB). This reader scans the bytes
with numpy instead, in blocks, for the layout ``json.dumps`` writes (``", "`` and ``": "`` separators, keys
in the order label, score, boxes): a byte-class table finds strings, brackets and number tokens; the
brackets' nesting, the keys before the tube numbers and the separators around every number pin the layout
down. Numbers of up to 8 bytes are decoded eight bytes at a time (exact decimal mantissa / power of ten, the
correctly rounded double that Python's ``float`` returns), longer ones as in :mod:`acrn.eval.ava_csv`, so
the values equal ``json.loads``'s bit for bit. Anything else (escapes, literals, other keys or key order,
other spacing) returns None and the caller uses ``json.loads``, which also gives the error messages.
"""

from __future__ import annotations

import re

import numpy as np

from acrn.eval.ava_csv import _Chunk, _parse_numbers
from acrn.eval.numparse import parse_short as _parse_short
from acrn.eval.tubes_npz import ParsedTubes

BLOCK_BYTES = 1 << 19  # ~60k numbers per block: the uint64 temporaries stay in L2 (2.3 s vs 3.2 s at 4 MB)
_WS, _OPEN_L, _CLOSE_L, _OPEN_O, _CLOSE_O, _NUM, _QUOTE, _COMMA, _COLON, _OTHER = range(10)
_CLASS = np.full(256, _OTHER, np.uint8)
_CLASS[[32, 9, 10, 13]] = _WS
_CLASS[[91, 93, 123, 125, 34, 44, 58]] = [_OPEN_L, _CLOSE_L, _OPEN_O, _CLOSE_O, _QUOTE, _COMMA, _COLON]
_CLASS[list(b"0123456789+-.eE")] = _NUM
_LEVELS = (_OPEN_O, _OPEN_L, _OPEN_O, _OPEN_L, _OPEN_L)  # depth 1..5: top object, video list, tube, boxes, row
_JSON_NUMBER = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
_PAD = 8


def _numbers(blk: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Values and has-dot flags of the number tokens ``blk[s:e]``, or None if one is not a JSON number."""
    val, ok, dot = _parse_short(blk, s, e)
    lo = np.flatnonzero((e - s) > 8)
    if lo.size:
        val[lo], ok[lo], dot[lo] = _parse_numbers(_Chunk(blk.tobytes()), s[lo], e[lo])
    pos = s + (blk[s] == 45)  # JSON: a digit after the optional '-', no leading zeros, no trailing dot
    d0, d1 = blk[pos], np.where(pos + 1 < e, blk[pos + 1], 0)
    if np.any(ok & ((pos >= e) | (d0 < 48) | (d0 > 57) | (blk[e - 1] == 46) | ((d0 == 48) & (d1 >= 48) & (d1 <= 57)))):
        return None
    for i in np.flatnonzero(~ok):  # exponents, long mantissas: Python's float decides
        text = blk[s[i]:e[i]].tobytes()
        if not _JSON_NUMBER.match(text):
            return None
        val[i], dot[i] = float(text), True
    val[~dot] += 0.0  # JSON "-0" is the int 0: no negative zero
    return val, dot


def _blank_strings(c: np.ndarray, q: np.ndarray, parity: int) -> int:
    """Set the classes of the bytes between quotes ``q`` to whitespace, in place (strings are short and few:
    this touches only their bytes). ``parity``: the block starts inside a string. Returns the parity at its end."""
    opens = np.concatenate([[_PAD - 1], q]) if parity else q  # a string open from the previous block
    starts, ends = opens[0::2] + 1, opens[1::2]
    if starts.size > ends.size:  # the last string goes on in the next block
        ends = np.append(ends, c.size - 2)
    n = ends - starts
    idx = np.repeat(starts - np.cumsum(np.concatenate([[0], n[:-1]])), n) + np.arange(int(n.sum()))
    c[idx] = _WS
    return int(opens.size % 2)


class _Scan:
    """Per block: quotes, brackets (position, class), separator count, box values and the bytes around
    them, and the tube-level numbers (position, value, has dot, key)."""

    def __init__(self):
        self.quotes, self.brackets, self.kinds = [], [], []
        self.values, self.before, self.after = [], [], []
        self.tpos, self.tval, self.tdot, self.tkey = [], [], [], []
        self.seps = 0

    def block(self, arr: np.ndarray, a: int, b: int, parity: int) -> int | None:
        """Scan ``arr[a:b]`` (inside a string at its start iff ``parity``); the parity at its end, or None."""
        blk = np.concatenate([np.full(_PAD, 32, np.uint8), arr[a:b], np.full(2, 32, np.uint8)])
        c = _CLASS[blk]
        q = np.flatnonzero(c == _QUOTE)
        parity = _blank_strings(c, q, parity)
        if np.count_nonzero(c == _OTHER):
            return None
        off = a - _PAD
        self.quotes.append(q + off)
        br = np.flatnonzero((c >= _OPEN_L) & (c <= _CLOSE_O))
        self.brackets.append(br + off), self.kinds.append(c[br])
        self.seps += int(np.count_nonzero(c == _COMMA) + np.count_nonzero(c == _COLON))
        edge = np.diff((c == _NUM).view(np.int8))
        s, e = np.flatnonzero(edge == 1) + 1, np.flatnonzero(edge == -1) + 1
        parsed = _numbers(blk, s, e)
        if parsed is None or np.any((blk[s - 1] != 32) & (blk[s - 1] != 91)):
            return None
        val, dot = parsed
        before = np.where(blk[s - 1] == 32, blk[s - 2], blk[s - 1])  # json.dumps: one space after , and :
        tube = before == 58
        ts = s[tube]
        key = blk[(ts - 8)[:, None] + np.arange(5)].copy().view("S5").ravel()  # "label": 7 -> label
        if np.any(blk[ts - 3] != 34) or np.any(blk[ts - 9] != 34):
            return None
        self.tpos.append(ts + off), self.tval.append(val[tube]), self.tdot.append(dot[tube]), self.tkey.append(key)
        self.values.append(val[~tube]), self.before.append(before[~tube]), self.after.append(blk[e[~tube]])
        return parity

    def arrays(self) -> dict:
        cat = {k: np.concatenate(getattr(self, k)) for k in ("quotes", "brackets", "kinds", "values", "before",
                                                               "after", "tpos", "tval", "tdot", "tkey")}
        return {**cat, "seps": self.seps}


def parse_tubes_json(data: bytes) -> ParsedTubes | None:
    """The tubes of a JSON document in the layout above, or None (then use ``json.loads``)."""
    if b"\\" in data or b"{" not in data[:4096]:  # escapes, or not an object near the start
        return None
    arr = np.frombuffer(data, np.uint8)
    scan, parity, a = _Scan(), 0, 0
    while a < arr.size:
        b = data.find(b"]", a + BLOCK_BYTES) + 1 or arr.size  # cut after a row's ']': no number, no key split
        parity = scan.block(arr, a, b, parity)
        if parity is None:
            return None
        a = b
    return _structure(data, scan.arrays())


def _structure(data: bytes, t: dict) -> ParsedTubes | None:
    """Check the nesting and the layout of the scanned document; assemble the tubes."""
    br, kinds, q = t["brackets"], t["kinds"], t["quotes"]
    if q.size % 2 or br.size == 0 or kinds[0] != _OPEN_O:
        return None
    opens = (kinds == _OPEN_L) | (kinds == _OPEN_O)
    depth = np.cumsum(np.where(opens, 1, -1))
    level = np.where(opens, depth, depth + 1)  # an open and its close share a level
    if depth.min() < 0 or depth[-1] != 0 or np.count_nonzero(depth == 0) != 1 or level.max() > 5:
        return None
    by_level = np.argsort(level, kind="stable")  # well nested: each level alternates open, matching close
    k, lv = kinds[by_level], level[by_level]
    if not (np.all(opens[by_level][0::2]) and np.array_equal(k[1::2], k[0::2] + 1)):
        return None
    if any(np.any(k[0::2][lv[0::2] == d + 1] != _LEVELS[d]) for d in range(5)):
        return None
    pos = {d: (br[opens & (level == d)], br[~opens & (level == d)]) for d in (2, 3, 4, 5)}
    (lists, lists_end), (tubes, tubes_end), (boxes, _), (rows, _) = (pos[d] for d in (2, 3, 4, 5))
    nt = tubes.size
    if boxes.size != nt or np.any(np.searchsorted(tubes, boxes) - 1 != np.arange(nt)):
        return None  # one boxes list per tube
    qo, qc = q[0::2], q[1::2]
    kidx = np.searchsorted(qo, tubes)  # the tube's three keys are its first three strings, and its only ones
    if nt and kidx[-1] + 2 >= qo.size:
        return None
    nxt = kidx + 3
    has = nxt < qo.size
    if np.any(qo[nxt[has]] < tubes_end[has]) or np.any(qo[kidx + 2] > boxes):
        return None
    names_mask = np.ones(qo.size, bool)
    for j, name in enumerate((b"label", b"score", b"boxes")):
        names_mask[kidx + j] = False
        sel = kidx + j
        if np.any(qc[sel] - qo[sel] != 6) or np.any(np.frombuffer(data, np.uint8)[(qo[sel] + 1)[:, None] +
                                                                                    np.arange(5)].copy().view("S5")
                                                    .ravel() != name):
            return None
    names_at = np.flatnonzero(names_mask)
    if names_at.size != lists.size or np.any(qc[names_at] > lists) or np.any(qo[names_at][1:] < lists_end[:-1]):
        return None
    return _assemble(data, t, qo[names_at], qc[names_at], lists, tubes, boxes, rows)


def _assemble(data, t, name_open, name_close, lists, tubes, boxes, rows) -> ParsedTubes | None:
    nt, nr = tubes.size, rows.size
    tpos, tkey, tval = t["tpos"], t["tkey"], t["tval"]
    # tube numbers: label then score, each after its own key, inside its tube before the boxes
    if tpos.size != 2 * nt or np.any(tkey[0::2] != b"label") or np.any(tkey[1::2] != b"score"):
        return None
    if nt and (np.any(tpos[0::2] < tubes) or np.any(tpos[1::2] > boxes) or np.any(t["tdot"][0::2])):
        return None
    vals, before, after = t["values"], t["before"], t["after"]
    if vals.size != 5 * nr:
        return None
    before, after = before.reshape(-1, 5), after.reshape(-1, 5)  # rows of [a, b, c, d, e]
    if not (np.all(before[:, 0] == 91) and np.all(before[:, 1:] == 44) and np.all(after[:, :4] == 44)
            and np.all(after[:, 4] == 93)):
        return None
    rows_per_tube = np.diff(np.searchsorted(rows, np.append(boxes, np.inf)))
    tubes_per_video = np.diff(np.searchsorted(tubes, np.append(lists, np.inf)))
    if np.any(rows_per_tube == 0) or rows_per_tube.sum() != nr:
        return None
    expected = name_open.size + 3 * nt  # colons, then commas
    expected += max(name_open.size - 1, 0) + int(np.sum(np.maximum(tubes_per_video - 1, 0)))
    expected += 2 * nt + int(np.sum(rows_per_tube - 1)) + 4 * nr
    if t["seps"] != expected:
        return None
    try:
        names = [data[a + 1:b].decode("utf-8") for a, b in zip(name_open, name_close, strict=True)]
    except UnicodeDecodeError:
        return None
    if len(set(names)) != len(names):
        return None  # a repeated key: json.loads keeps the last one
    return ParsedTubes(names, np.repeat(np.arange(lists.size), tubes_per_video), tval[0::2].astype(np.int64),
                       tval[1::2], rows_per_tube, vals.reshape(-1, 5))
